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
    /// Every container, merged across segments, by full ID.
    pub containers: HashMap<String, Container>,
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
        let containers = reader.containers().into_iter().map(|c| (c.id.clone(), c)).collect();
        let boots = reader.boots().into_iter().collect();
        Ok(Source { reader, containers, boots })
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

    /// A container by full ID, unique ID prefix, or name; ambiguity lists the candidates.
    pub fn resolve_container(&self, wanted: &str) -> Result<&Container> {
        if let Some(c) = self.containers.get(wanted) {
            return Ok(c);
        }
        let mut hits: Vec<&Container> = self
            .containers
            .values()
            .filter(|c| c.id.starts_with(wanted) || c.name.as_deref() == Some(wanted))
            .collect();
        hits.sort_by(|a, b| a.id.cmp(&b.id));
        match hits.len() {
            0 => bail!("no container matches {wanted:?} in this store (`ctrail containers` lists them)"),
            1 => Ok(hits[0]),
            _ => {
                let list: Vec<&str> = hits.iter().map(|c| c.id.as_str()).collect();
                bail!("{wanted:?} is ambiguous; it matches: {}", list.join(", "))
            }
        }
    }
}
