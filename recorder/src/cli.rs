//! Command-line interface of `ctrail-recorder`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use ctrail_common::{store::DEFAULT_DATA_DIR, wire};

#[derive(Debug, Parser)]
#[command(
    name = "ctrail-recorder",
    version,
    about = "Container-aware flight recorder: records every process from the kernel"
)]
pub struct Cli {
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record in the foreground until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Report what this kernel supports and which hooks would be used.
    Check,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Scope {
    /// Every process.
    All,
    /// Only processes in containers.
    Containers,
    /// Only processes on the host.
    Host,
}

impl Scope {
    pub fn wire(self) -> u32 {
        match self {
            Scope::All => wire::SCOPE_ALL,
            Scope::Containers => wire::SCOPE_CONTAINERS,
            Scope::Host => wire::SCOPE_HOST,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Where the store lives (created 0700).
    #[arg(long, env = "CTRAIL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Which processes to record; applied in the kernel.
    #[arg(long, value_enum, default_value = "all")]
    pub scope: Scope,
    /// Bytes of argv kept per exec (longer ones are flagged truncated); at most 32768.
    #[arg(long, default_value_t = wire::ARGV_DEFAULT, value_parser = clap::value_parser!(u32).range(64..=32768))]
    pub argv_max: u32,
    /// Ring buffer size in KiB (a power of two, at least 4 KiB).
    #[arg(long, default_value_t = 16384, value_parser = parse_ring_kib)]
    pub ring_kib: u32,
    /// Commit a batch at this many events ...
    #[arg(long, default_value_t = 1000)]
    pub batch_events: usize,
    /// ... or when its oldest event is this many milliseconds old.
    #[arg(long, default_value_t = 100)]
    pub batch_ms: u64,
    /// Tracepoint flavour: `auto` (tp_btf, raw_tp where it fails) or `raw-tp` (force the fallback).
    #[arg(long, value_enum, default_value = "auto")]
    pub attach: AttachArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AttachArg {
    Auto,
    RawTp,
}

fn parse_ring_kib(s: &str) -> Result<u32, String> {
    let v: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if v < 4 || !v.is_power_of_two() || v > 1 << 20 {
        return Err("must be a power of two between 4 and 1048576 (KiB)".into());
    }
    Ok(v)
}
