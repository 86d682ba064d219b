//! Command-line interface of `ctrail`.

use std::path::PathBuf;

use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand, ValueEnum, builder::PossibleValue};
use ctrail_model::EventKind;

pub use crate::output::{Format, OneFormat};
use ctrail_store::DEFAULT_DATA_DIR;

#[derive(Debug, Parser)]
#[command(
    name = "ctrail",
    version,
    about = "Query ctrail's process history: which container, what ran, as whom, and what it did",
    after_help = "Exit status: 0 when something matched, 1 when nothing did, 2 on an error."
)]
pub struct Cli {
    /// Print the man page or a shell completion script, then exit.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub generate: Option<Generate>,
    /// The recorder's data directory (before or after the command).
    #[arg(long, global = true, env = "CTRAIL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Tables and text show times in UTC (`2026-12-02 14:04:05Z`) instead of local time.
    /// JSON and CSV are always UTC, RFC 3339, to the nanosecond.
    #[arg(long, global = true)]
    pub utc: bool,
    /// Tables show every cell whole, one row per line, however wide the terminal (by
    /// default a table fits the terminal: long cells wrap onto two lines, then are cut
    /// with `…`).
    #[arg(long, global = true)]
    pub wide: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Command {
    /// Gives the command the global options (clap keeps them on [`Cli`]).
    pub fn with_globals(mut self, data_dir: &std::path::Path) -> Self {
        let dir = data_dir.to_path_buf();
        match &mut self {
            Command::Classify(_) => {}
            Command::Events(a) => a.store.data_dir = dir,
            Command::Containers(a) => a.store.data_dir = dir,
            Command::Ps(a) => a.store.data_dir = dir,
            Command::Tree(a) => a.store.data_dir = dir,
            Command::Show(a) => a.data_dir = dir,
            Command::Export(a) => a.data_dir = dir,
            Command::Segments(a) => a.store.data_dir = dir,
            Command::Verify(a) => a.data_dir = dir,
        }
        self
    }
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
    /// Decide whether a process (or a cgroup file) is in a container, and which.
    Classify(ClassifyArgs),
    /// Recorded events in time order.
    Events(EventsArgs),
    /// Every container seen.
    Containers(ContainersArgs),
    /// The processes alive at a moment (default now), optionally in one container.
    Ps(PsArgs),
    /// The process tree at a moment, containers joined to their host ancestors.
    Tree(PsArgs),
    /// One process: its exec snapshot, its ancestry, its events.
    Show(ShowArgs),
    /// Write a case folder: processes.csv, events.csv, containers.csv, gaps.csv, manifest.json.
    Export(ExportArgs),
    /// Every segment file: format, span, events, bytes, and whether it verifies.
    Segments(SegmentsArgs),
    /// Whether the store's history is intact: every segment against the store's chain.
    /// Exit status 0 intact, 1 not (the first break named first), 2 could not check.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct SegmentsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Set from the global `--data-dir` (before or after the command).
    #[arg(skip)]
    pub data_dir: PathBuf,
    /// Output format: readable lines (default on a terminal) or one JSON object.
    #[arg(long, value_enum)]
    pub format: Option<OneFormat>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this container (a unique prefix of its ID or its name is enough).
    #[arg(long, value_name = "ID")]
    pub container: Option<String>,
    #[command(flatten)]
    pub of: ContainerFilters,
    /// The moment (same forms as --since); default now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Set from the global `--data-dir` (before or after the command).
    #[arg(skip)]
    pub data_dir: PathBuf,
    /// Output format; text on a terminal, one JSON object otherwise.
    #[arg(long, value_enum)]
    pub format: Option<OneFormat>,
    /// The process ID; when several processes had it, the newest unless --at picks one.
    pub pid: u32,
    /// Pick the process that had this PID at this moment.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Set from the global `--data-dir` (before or after the command).
    #[arg(skip)]
    pub data_dir: PathBuf,
    /// The case folder to write (created; must not hold an export already); with
    /// `--format parquet`, the root of the fleet tree (files already there are replaced by
    /// the same names: exporting again is idempotent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// `csv`: a case folder (events, processes, containers, gaps, problems and a SHA-256
    /// manifest); `parquet`: `OUT/events/dt=YYYY-MM-DD/host=HOST/<boot-id>-<seq>.parquet`,
    /// one file per segment, day and boot, for engines (docs/fleet.md).
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// CSV cells as recorded (see `ctrail events --raw-cells`).
    #[arg(long)]
    pub raw_cells: bool,
    #[command(flatten)]
    pub filters: Filters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Parquet,
}

/// One value of `--type`: a kind of the table (`ctrail_model::kind`), or `gap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeArg {
    Kind(EventKind),
    Gap,
}

static TYPE_ARGS: LazyLock<Vec<TypeArg>> =
    LazyLock::new(|| EventKind::ALL.into_iter().map(TypeArg::Kind).chain([TypeArg::Gap]).collect());

impl ValueEnum for TypeArg {
    fn value_variants<'a>() -> &'a [Self] {
        &TYPE_ARGS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            TypeArg::Kind(k) => PossibleValue::new(k.as_str()).help(k.about()),
            TypeArg::Gap => PossibleValue::new("gap").help("a window in which events were lost, and why"),
        })
    }
}

impl TypeArg {
    pub fn as_str(self) -> &'static str {
        match self {
            TypeArg::Kind(k) => k.as_str(),
            TypeArg::Gap => "gap",
        }
    }
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ClassifySource {
    /// A live process: reads /proc/PID/cgroup and its namespace links.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Text in /proc/PID/cgroup format; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub cgroup_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub source: ClassifySource,
    /// Output format: one readable line (default) or one JSON object.
    #[arg(long, value_enum)]
    pub format: Option<OneFormat>,
}

#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Set from the global `--data-dir` (before or after the command).
    #[arg(skip)]
    pub data_dir: PathBuf,
    /// Output format; table on a terminal, JSON Lines otherwise.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// CSV cells as recorded: no leading `'` on cells that begin with `=`, `+`, `-` or `@`
    /// (spreadsheets run those as formulas, so they are neutralised by default). For
    /// programs reading the CSV; control characters are escaped either way.
    #[arg(long)]
    pub raw_cells: bool,
}

#[derive(Debug, Args, Clone)]
pub struct Filters {
    /// Only this container (a unique prefix of its ID or its name is enough).
    #[arg(long, value_name = "ID")]
    pub container: Option<String>,
    #[command(flatten)]
    pub of: ContainerFilters,
    /// Only host processes (no container).
    #[arg(long, conflicts_with = "container")]
    pub host: bool,
    /// Only this PID (every process that had it).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Only these event types; repeatable or comma-separated.
    #[arg(long = "type", value_name = "TYPE", value_enum, value_delimiter = ',')]
    pub types: Vec<TypeArg>,
    /// Only execs of this executable (its resolved path): a path, a directory ending in
    /// `/` (everything under it), or a glob (`*` matches any bytes, `/` too; `?` one).
    #[arg(long, value_name = "PATH")]
    pub exe: Option<String>,
    /// Only execs of a file from an overlayfs upper layer: written (or changed) inside
    /// the container after it started, so not its image's. The drift question.
    #[arg(long)]
    pub upper_layer: bool,
    /// From this time: RFC 3339, a local date-time, `15m`, `2h ago`, today, yesterday, now.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Up to this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub filters: Filters,
    /// Keep running and print each new event as it is committed (within about a second),
    /// with a `cursor` key in JSON, until SIGINT or SIGTERM; windows the recorder lost,
    /// its own downtime included, come as gap records. Starts now, or at --since.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Resume a stream after this cursor (from an event's `cursor`, or the line printed
    /// at exit): no event twice, none left out, across recorder restarts.
    #[arg(long, value_name = "CURSOR", requires = "follow")]
    pub after: Option<String>,
}

/// Containers in the runtime's terms, from the metadata its files held when the recorder
/// first saw the container. Every one given must hold.
#[derive(Debug, Args, Clone, Default)]
pub struct ContainerFilters {
    /// Only containers of this name (the runtime's, or the container's name in its pod).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Only containers of this image: as it was typed (with or without its tag), its ID
    /// (or a prefix of it) or its digest.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Only this Kubernetes pod: NAME, or NAMESPACE/NAME.
    #[arg(long, value_name = "[NAMESPACE/]NAME")]
    pub pod: Option<String>,
    /// Only pods of this Kubernetes namespace.
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Only containers with this label or annotation: KEY, or KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub of: ContainerFilters,
}
