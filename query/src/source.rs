//! Opening the store and resolving what the user named in it.

use std::{collections::HashMap, path::Path, time::Duration};

use anyhow::{Result, bail};
use ctrail_common::{
    record::{BootInfo, Container, ProcKey},
    store::{
        StoreReader,
        control::{self, Sealed},
    },
};

pub struct Source {
    pub reader: StoreReader,
    /// Every container, merged across segments, by full ID; read on first use (it means
    /// decoding every segment's container table, which most queries never need).
    containers: std::sync::OnceLock<HashMap<String, Container>>,
    pub boots: HashMap<u32, BootInfo>,
}

impl Source {
    /// Opens the store; a running recorder is first asked to seal its active segment, so
    /// that the answer includes everything up to now.
    pub fn open(dir: &Path) -> Result<Self> {
        match control::request_seal(dir, Duration::from_secs(10)) {
            Ok(Sealed::Live | Sealed::Offline) => {}
            Err(e) => eprintln!("ctrail: warning: {e}; answering from sealed segments only"),
        }
        let reader = StoreReader::open(dir)?;
        for p in reader.problems() {
            eprintln!("ctrail: warning: {p}");
        }
        let boots = reader.boots().into_iter().collect();
        Ok(Source { reader, containers: std::sync::OnceLock::new(), boots })
    }

    /// A process's start as wall-clock ns (its key holds boot-clock ns).
    pub fn started(&self, p: ProcKey) -> u64 {
        let offset = self.boots.get(&p.boot).map(|b| b.wall_offset_ns).unwrap_or(0);
        (i128::from(p.start) + i128::from(offset)).max(0) as u64
    }

    /// Reports segments that failed while answering (after the query ran).
    pub fn report_problems(&self, already: usize) {
        for p in self.reader.problems().into_iter().skip(already) {
            eprintln!("ctrail: warning: {p}");
        }
    }

    pub fn containers(&self) -> &HashMap<String, Container> {
        self.containers.get_or_init(|| self.reader.containers().into_iter().map(|c| (c.id.clone(), c)).collect())
    }

    /// The full ID of a container named by full ID, unique ID prefix, or name; ambiguity
    /// lists the candidates. IDs resolve from the segments' ID indexes alone.
    pub fn resolve_container(&self, wanted: &str) -> Result<String> {
        let by_id = self.reader.container_ids_with_prefix(wanted);
        if by_id.iter().any(|id| id == wanted) {
            return Ok(wanted.to_string());
        }
        let mut hits: Vec<String> = by_id;
        if hits.is_empty() {
            hits = self
                .containers()
                .values()
                .filter(|c| c.name.as_deref() == Some(wanted))
                .map(|c| c.id.clone())
                .collect();
        }
        hits.sort();
        match hits.len() {
            0 => bail!("no container matches {wanted:?} in this store (`ctrail containers` lists them)"),
            1 => Ok(hits.remove(0)),
            n => {
                let list: Vec<&str> = hits.iter().take(10).map(String::as_str).collect();
                let more = if n > 10 { format!(" and {} more", n - 10) } else { String::new() };
                bail!("{wanted:?} is ambiguous; it matches {n} containers: {}{more}", list.join(", "))
            }
        }
    }
}
