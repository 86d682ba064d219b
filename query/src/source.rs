//! Opening the store and resolving what the user named in it.

use std::path::Path;

use anyhow::{Result, bail};
use ctrail_common::{record::Container, store::StoreReader};

use crate::view::Containers;

pub struct Source {
    pub reader: StoreReader,
    pub containers: Containers,
}

impl Source {
    pub fn open(dir: &Path) -> Result<Self> {
        let reader = StoreReader::open(dir)?;
        let containers = reader.containers()?.into_iter().collect();
        Ok(Source { reader, containers })
    }

    /// A container by full ID, unique ID prefix, or name; ambiguity lists the candidates.
    pub fn resolve_container(&self, wanted: &str) -> Result<(u32, &Container)> {
        if let Some((i, c)) = self.containers.iter().find(|(_, c)| c.id == wanted) {
            return Ok((*i, c));
        }
        let mut hits: Vec<(u32, &Container)> = self
            .containers
            .iter()
            .filter(|(_, c)| c.id.starts_with(wanted) || c.name.as_deref() == Some(wanted))
            .map(|(i, c)| (*i, c))
            .collect();
        hits.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        match hits.len() {
            0 => bail!("no container matches {wanted:?} in this store (`ctrail containers` lists them)"),
            1 => Ok(hits[0]),
            _ => {
                let list: Vec<String> = hits.iter().map(|(_, c)| c.id.clone()).collect();
                bail!("{wanted:?} is ambiguous; it matches: {}", list.join(", "))
            }
        }
    }
}
