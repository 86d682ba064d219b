//! Opening the store and resolving what the user named in it.

use std::{collections::HashMap, path::Path, time::Duration};

use anyhow::{Result, bail};
use ctrail_model::{BootInfo, Container, ProcKey};
use ctrail_store::{StoreReader, control};

use crate::report::Report;

pub struct Source {
    pub reader: StoreReader,
    /// What was skipped or distrusted while answering: makes the exit status 2.
    pub report: Report,
    /// Every container, merged across segments, by full ID; read on first use (it means
    /// decoding every segment's container table, which most queries never need).
    containers: std::sync::OnceLock<HashMap<String, Container>>,
    pub boots: HashMap<u32, BootInfo>,
}

impl Source {
    /// Opens the store; a running recorder is first asked to commit what it has (drained
    /// from the kernel), so that the answer includes everything up to now.
    pub fn open(dir: &Path) -> Result<Self> {
        let report = Report::default();
        if let Err(e) = control::request(dir, control::FLUSH, Duration::from_secs(10)) {
            report.problem(format!("{e}; answering from what the recorder committed before"));
        }
        let mut src = Self::from_reader(StoreReader::open(dir)?);
        src.report = report;
        src.sync_problems();
        Ok(src)
    }

    /// A store already open (a follower's latest segments), not flushed first.
    pub fn from_reader(reader: StoreReader) -> Self {
        let boots = reader.boots().into_iter().collect();
        Source { reader, report: Report::default(), containers: std::sync::OnceLock::new(), boots }
    }

    /// A process's start as wall-clock ns (its key holds boot-clock ns).
    pub fn started(&self, p: ProcKey) -> u64 {
        let offset = self.boots.get(&p.boot).map(|b| b.wall_offset_ns).unwrap_or(0);
        (i128::from(p.start) + i128::from(offset)).max(0) as u64
    }

    /// Moves what the store reader skipped so far into the report.
    pub fn sync_problems(&self) {
        for p in self.reader.problems() {
            self.report.problem(p);
        }
    }

    /// The exit status of a query that found something (`found`) or not, after reporting
    /// everything the store skipped while answering.
    pub fn finish(&self, found: bool) -> std::process::ExitCode {
        self.sync_problems();
        self.report.exit_code(found)
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
