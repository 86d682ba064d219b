//! Command-line interface of `ctrail-recorder`.

use std::path::PathBuf;

use std::sync::LazyLock;

use clap::{Parser, Subcommand, ValueEnum, builder::PossibleValue};
use ctrail_model::{EventKind, kind::Class};
use ctrail_store::DEFAULT_DATA_DIR;
use ctrail_wire as wire;

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
    /// Print the man page or a shell completion script, then exit.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub generate: Option<Generate>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Generate {
    Man,
    /// A man page for the command and one for each subcommand (NAME-SUB.1), written into
    /// the current directory (for packages).
    ManPages,
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record in the foreground until SIGINT or SIGTERM.
    Run(Box<RunArgs>),
    /// Report what this kernel supports and which hooks would be used.
    Check,
    /// Exit 0 when the recorder of a data directory answers on its control socket (a
    /// commit of what it has), 1 when none does: a liveness probe.
    Health {
        /// The recorder's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
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
            Scope::All => wire::scope::ALL,
            Scope::Containers => wire::scope::CONTAINERS,
            Scope::Host => wire::scope::HOST,
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
    #[arg(long, default_value_t = 10_000)]
    pub batch_events: usize,
    /// ... or when its oldest event is this many milliseconds old.
    #[arg(long, default_value_t = 100)]
    pub batch_ms: u64,
    /// Start a new segment when the active one is this old (e.g. 30s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub segment_age: u64,
    /// ... or this large (e.g. 64MiB, 1G).
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub segment_size: u64,
    /// Delete sealed segments older than this (e.g. 7d); each deletion is recorded.
    #[arg(long, value_parser = parse_duration)]
    pub retain: Option<u64>,
    /// Delete the oldest sealed segments while the data dir is larger than this (e.g. 10G).
    #[arg(long, value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Merge sealed segments smaller than this that cover the same clock hour into one, in
    /// the background (live queries and restarts leave small ones); 0 never merges.
    /// Default: a sixteenth of --segment-size.
    #[arg(long, value_parser = parse_size_or_zero)]
    pub compact_below: Option<u64>,
    /// What processes do, beyond exec/fork/exit: `all`, `none`, or activity kinds
    /// (repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub activity: Vec<ActivityArg>,
    /// Record into a data directory that someone other than root could control (owned by
    /// another user, writable by group or others, or below such a directory). By default the
    /// recorder refuses one: whoever controls it could redirect what root writes.
    #[arg(long)]
    pub allow_untrusted_data_dir: bool,
    /// Tracepoint flavour: `auto` (tp_btf, raw_tp where it fails) or `raw-tp` (force the
    /// fallback, and for activity the raw sys_enter/sys_exit unless --activity-hooks says).
    #[arg(long, value_enum, default_value = "auto")]
    pub attach: AttachArg,
    /// How activity is hooked: `auto` takes, per kind, the cheapest rung this kernel allows:
    /// `fentry` (fentry/fexit on the syscall's function), `kprobe` (kprobe/kretprobe on it),
    /// `tracepoint` (syscalls/sys_enter_X + sys_exit_X: every syscall of every task then
    /// takes the kernel's syscall-tracing slow path) or `raw` (raw_tp sys_enter/sys_exit,
    /// dearer still). Naming one forces it, and the recorder refuses to start without it.
    /// `ctrail-recorder check` says which rungs this kernel allows, and why not the others.
    #[arg(long, value_enum, default_value = "auto")]
    pub activity_hooks: ActivityHooksArg,
    /// The host name stored with every event (default: the kernel's hostname), for hosts
    /// whose names are not unique across a fleet, or a fleet's own naming.
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,
    /// Also write each sealed segment into a Parquet tree under DIR, as `ctrail export
    /// --format parquet --out DIR` would (events, containers and gaps; for Spark, DuckDB,
    /// ClickHouse, Trino: docs/fleet.md). Only root may control DIR, as for the data dir.
    /// Segments are then not merged unless --compact-below says so (a merge would change
    /// files already written), so each is in the tree when it seals.
    #[arg(long, value_name = "DIR")]
    pub parquet_dir: Option<std::path::PathBuf>,
    /// Settings as TOML, the flags' names as keys (`retain = "7d"`); flags given here win.
    /// Default: /etc/ctrail/recorder.toml when it exists. Only root may control it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464): events
    /// emitted, stored and lost per kind, gaps by reason, store size, age of the last
    /// commit. No authentication: bind it to loopback or a network you trust.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The exe's path and the cwd: `auto` resolves both in the kernel from the file it runs
    /// (needs bpf_loop, 5.17+; older kernels fall back to `off` with a warning); `off`
    /// keeps what was passed to exec as the exe, and no cwd (the file's stat is kept).
    #[arg(long, value_enum, default_value = "auto")]
    pub resolve_exe: ResolveExe,
    /// Where a runtime keeps its files, as KIND=DIR (repeatable): `docker` (dockerd's data
    /// root), `containerd` (its state dir), `storage` (containers/storage of podman and
    /// cri-o), `oci` (runc or crun state root), `lxc` (an lxc path). Added to the defaults
    /// and to the roots found on the running daemons' command lines; root-owned only.
    #[arg(long, value_name = "KIND=DIR", value_parser = parse_runtime_root)]
    pub runtime_root: Vec<(String, std::path::PathBuf)>,
}

fn parse_runtime_root(s: &str) -> Result<(String, std::path::PathBuf), String> {
    let (kind, dir) = s.split_once('=').ok_or("expected KIND=DIR, e.g. docker=/srv/docker")?;
    let mut check = crate::metadata::Roots::default();
    check.add(kind, dir.into())?;
    if !std::path::Path::new(dir).is_absolute() {
        return Err(format!("{dir:?} is not an absolute path"));
    }
    Ok((kind.to_string(), dir.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolveExe {
    Auto,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivityHooksArg {
    Auto,
    Fentry,
    Kprobe,
    Tracepoint,
    Raw,
}

impl ActivityHooksArg {
    /// The rung it forces, if it forces one.
    pub fn forced(self) -> Option<crate::activity_hooks::Rung> {
        use crate::activity_hooks::Rung;
        match self {
            Self::Auto => None,
            Self::Fentry => Some(Rung::Fentry),
            Self::Kprobe => Some(Rung::Kprobe),
            Self::Tracepoint => Some(Rung::Tracepoint),
            Self::Raw => Some(Rung::RawSyscalls),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AttachArg {
    Auto,
    RawTp,
}

impl RunArgs {
    pub fn runtime_roots(&self) -> crate::metadata::Roots {
        let mut r = crate::metadata::Roots::default();
        for (kind, dir) in &self.runtime_root {
            // Checked when parsed.
            let _ = r.add(kind, dir.clone());
        }
        r
    }

    pub fn store_options(&self) -> ctrail_store::Options {
        ctrail_store::Options {
            segment_age_ns: self.segment_age,
            segment_bytes: self.segment_size,
            retain_ns: self.retain,
            max_bytes: self.max_size,
            check_trust: !self.allow_untrusted_data_dir,
            // Merging would rewrite segments already in the Parquet tree: with a tree, only
            // when asked for (and then a small segment waits until no merge can take it).
            compact_below: match (&self.parquet_dir, self.compact_below) {
                (Some(_), None) => Some(0),
                (_, c) => c,
            },
        }
    }
}

/// One value of `--activity`: every kind, none, or one activity kind of the table
/// (`ctrail_model::kind`), whose ops the kernel then records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityArg {
    All,
    None,
    Kind(EventKind),
}

static ACTIVITY_ARGS: LazyLock<Vec<ActivityArg>> = LazyLock::new(|| {
    [ActivityArg::All, ActivityArg::None]
        .into_iter()
        .chain(EventKind::of(Class::Activity).map(ActivityArg::Kind))
        .collect()
});

impl ValueEnum for ActivityArg {
    fn value_variants<'a>() -> &'a [Self] {
        &ACTIVITY_ARGS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            ActivityArg::All => PossibleValue::new("all").help("every activity kind"),
            ActivityArg::None => {
                PossibleValue::new("none").help("exec, fork, exit, cgroup moves and container life only")
            }
            ActivityArg::Kind(k) => PossibleValue::new(k.as_str()).help(k.about()),
        })
    }
}

/// The kernel's op bitmask (bit 1 << op) for a `--activity` list.
pub fn activity_bits(args: &[ActivityArg]) -> u32 {
    let mut kinds = Vec::new();
    for a in args {
        match a {
            ActivityArg::All => kinds.extend(EventKind::of(Class::Activity)),
            ActivityArg::None => {}
            ActivityArg::Kind(k) => kinds.push(*k),
        }
    }
    wire::op_bits(kinds)
}

/// `90s`, `10m`, `2h`, `7d`, `1w`, `500ms` to nanoseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 30s, 10m, 2h or 7d"))?;
    let per = match unit.trim() {
        "ms" => 1e6,
        "s" | "" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        "w" => 604800e9,
        other => return Err(format!("unknown duration unit {other:?} in {s:?} (use ms, s, m, h, d, w)")),
    };
    let ns = n * per;
    if ns.is_nan() || ns < 1e6 {
        return Err(format!("{s:?} is too short"));
    }
    Ok(ns as u64)
}

/// `512M`, `64MiB`, `10G`, `1GB`, `4096` to bytes (K/M/G/T are powers of 1024).
/// A size, or 0 (off).
pub fn parse_size_or_zero(s: &str) -> Result<u64, String> {
    if s.trim() == "0" { Ok(0) } else { parse_size(s) }
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size like 512M or 10G"))?;
    let unit = unit.trim().to_ascii_uppercase();
    let per = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("unknown size unit in {s:?} (use K, M, G, T)")),
    };
    let bytes = n * per as f64;
    if bytes < 1.0 {
        return Err(format!("{s:?} is too small"));
    }
    Ok(bytes as u64)
}

fn parse_ring_kib(s: &str) -> Result<u32, String> {
    let v: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if v < 4 || !v.is_power_of_two() || v > 1 << 20 {
        return Err("must be a power of two between 4 and 1048576 (KiB)".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("10m"), Ok(600_000_000_000));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400_000_000_000));
        assert!(parse_duration("soon").is_err() && parse_duration("3y").is_err());
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn activity_lists_map_to_the_tables_ops() {
        let parse = |s: &str| {
            let v: Vec<ActivityArg> = s.split(',').map(|k| ActivityArg::from_str(k, false).unwrap()).collect();
            activity_bits(&v)
        };
        assert_eq!(parse("none"), 0);
        assert_eq!(parse("all"), wire::OPS.iter().fold(0, |b, d| b | 1 << d.op));
        assert_eq!(parse("mount,connect"), 1 << wire::op::MOUNT | 1 << wire::op::CONNECT);
        assert_eq!(parse("module_load"), 1 << wire::op::INIT_MODULE | 1 << wire::op::FINIT_MODULE);
        assert!(ActivityArg::from_str("exec", false).is_err(), "exec is not an activity kind");
    }
}
