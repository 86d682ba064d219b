//! What the ingest thread needs from the kernel side: to cache a verdict per cgroup pair
//! (so `--scope` filters there) and to read the loss counters. A trait, so that the ingest
//! path runs in tests without loading BPF.

use aya::maps::{HashMap, MapData, PerCpuArray};
use ctrail_wire::{self as wire, CgKey};

pub trait Kernel {
    fn cache_verdict(&mut self, key: CgKey, container: bool) -> Result<(), String>;
    /// The per-CPU counters, summed.
    fn counters(&self) -> [u64; wire::COUNTERS];
}

/// The loaded programs' maps.
pub struct AyaKernel {
    pub verdicts: HashMap<MapData, CgKey, u32>,
    pub counters: PerCpuArray<MapData, u64>,
}

impl Kernel for AyaKernel {
    fn cache_verdict(&mut self, key: CgKey, container: bool) -> Result<(), String> {
        let v = if container { wire::verdict::CONTAINER } else { wire::verdict::HOST };
        self.verdicts.insert(key, v, 0).map_err(|e| e.to_string())
    }

    fn counters(&self) -> [u64; wire::COUNTERS] {
        crate::loader::read_counters(&self.counters)
    }
}
