//! Loads the kernel object with aya and attaches each hook, falling back from tp_btf to
//! raw_tp where tp_btf cannot load, and says which it used.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use aya::{
    Btf, Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, RawTracePoint, TracePoint},
};
use ctrail_model::EventKind;
use ctrail_recorder_ebpf::{
    globals, maps, object,
    programs::{self as p, Tracepoint},
};
use ctrail_wire::{self as wire, CgKey};

use crate::activity_hooks::{self, Chosen, Rung};

/// Which hooks to use: normally tp_btf with raw_tp as the fallback, and per-syscall
/// tracepoints for activity with raw sys_enter/sys_exit as theirs; forcing raw_tp takes the
/// fallback of both (tests, odd kernels) on kernels where the preferred hooks work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attach {
    #[default]
    Auto,
    RawTp,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub attach: Attach,
    pub self_tgid: u32,
    pub cg1_hierarchy: u32,
    pub argv_max: u32,
    pub scope: u32,
    pub ring_bytes: u32,
    /// Bit (1 << op) per syscall recorded as activity (`--activity`).
    pub activity: u32,
    /// Resolve the exe's path and the cwd in the kernel (`--resolve-exe`).
    pub resolve_exe: bool,
    /// The activity rung `--activity-hooks` forces, if any.
    pub activity_hooks: Option<Rung>,
}

/// Which attachment each hook got (`tp_btf/sched_process_exec`, ...).
#[derive(Debug, Clone, Default)]
pub struct HooksUsed {
    pub entries: Vec<(&'static str, String)>,
    /// The activity's rungs, per kind, with the reasons the cheaper ones are out.
    pub activity: Chosen,
}

impl HooksUsed {
    pub fn summary(&self) -> String {
        self.entries.iter().map(|(what, how)| format!("{what}={how}")).collect::<Vec<_>>().join(" ")
    }
}

pub struct Probes {
    /// Holds the attached programs: dropping it detaches them.
    pub bpf: Ebpf,
    pub ring: RingBuf<MapData>,
    pub verdicts: HashMap<MapData, CgKey, u32>,
    pub counters: PerCpuArray<MapData, u64>,
    pub hooks: HooksUsed,
}

fn attach_btf(bpf: &mut Ebpf, btf: &Btf, prog: &str, tp: &str) -> Result<()> {
    let program: &mut BtfTracePoint =
        bpf.program_mut(prog).ok_or_else(|| anyhow!("program {prog} missing from the object"))?.try_into()?;
    program.load(tp, btf).with_context(|| format!("loading {prog}"))?;
    program.attach().with_context(|| format!("attaching {prog}"))?;
    Ok(())
}

pub(crate) fn attach_raw(bpf: &mut Ebpf, prog: &str, tp: &str) -> Result<()> {
    let program: &mut RawTracePoint =
        bpf.program_mut(prog).ok_or_else(|| anyhow!("program {prog} missing from the object"))?.try_into()?;
    program.load().with_context(|| format!("loading {prog}"))?;
    program.attach(tp).with_context(|| format!("attaching {prog}"))?;
    Ok(())
}

/// tp_btf first (direct BTF access, cheapest), raw_tp where tp_btf fails.
fn attach_either(bpf: &mut Ebpf, btf: &Btf, mode: Attach, t: Tracepoint) -> Result<String> {
    let tp = t.tp;
    if mode == Attach::RawTp {
        return attach_raw(bpf, t.raw, tp).map(|()| format!("raw_tp/{tp}"));
    }
    match attach_btf(bpf, btf, t.btf, tp) {
        Ok(()) => Ok(format!("tp_btf/{tp}")),
        Err(e_btf) => {
            tracing::info!("tp_btf/{tp} unavailable ({e_btf:#}); trying raw_tp");
            attach_raw(bpf, t.raw, tp)
                .map(|()| format!("raw_tp/{tp}"))
                .map_err(|e_raw| anyhow!("cannot attach {tp}: tp_btf: {e_btf:#}; raw_tp: {e_raw:#}"))
        }
    }
}

/// The exec with its path walks, else (a kernel without bpf_loop, before 5.17; or asked)
/// without them: exec is the core and is never given up for a better exe field.
fn attach_exec(bpf: &mut Ebpf, btf: &Btf, mode: Attach, resolve: bool) -> Result<String> {
    let tp = p::EXEC.tp;
    let walked = if resolve { Some(attach_either(bpf, btf, mode, p::EXEC)) } else { None };
    match walked {
        Some(Ok(how)) => Ok(how),
        Some(Err(e)) => {
            tracing::warn!(
                "exe paths and the cwd will not be resolved in the kernel ({e:#}); exe is what was passed to exec"
            );
            attach_raw(bpf, p::EXEC_NO_WALK, tp)
                .map(|()| format!("raw_tp/{tp}(no-path-walk)"))
                .map_err(|e_plain| anyhow!("cannot attach {tp}: {e:#}; without the path walk: {e_plain:#}"))
        }
        None => attach_raw(bpf, p::EXEC_NO_WALK, tp).map(|()| format!("raw_tp/{tp}(no-path-walk)")),
    }
}

/// Classic tracepoints need tracefs; mount it where the kernel documents it if absent.
/// Returns its `events` directory.
pub(crate) fn tracefs_events() -> Option<PathBuf> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        let events = Path::new(dir).join("events");
        if events.is_dir() {
            return Some(events);
        }
    }
    let status = std::process::Command::new("mount").args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"]).status();
    let events = PathBuf::from("/sys/kernel/tracing/events");
    (status.is_ok_and(|s| s.success()) && events.is_dir()).then_some(events)
}

pub(crate) fn attach_tracepoint(bpf: &mut Ebpf, prog: &str, category: &str, name: &str) -> Result<()> {
    let program: &mut TracePoint =
        bpf.program_mut(prog).ok_or_else(|| anyhow!("program {prog} missing from the object"))?.try_into()?;
    program.load().with_context(|| format!("loading {prog}"))?;
    program.attach(category, name).with_context(|| format!("attaching {category}/{name}"))?;
    Ok(())
}

/// The comm before exec is evidence, not essential: try the precise hook (6.10+), then
/// the exec syscalls' functions (fentry, kprobe: free for other syscalls), then their
/// tracepoints (which tax every syscall), and otherwise record without it.
fn attach_comm_before(bpf: &mut Ebpf, btf: &Btf, mode: Attach) -> String {
    if let Ok(how) = attach_either(bpf, btf, mode, p::PREPARE_EXEC) {
        return how;
    }
    for hook in ["fentry", "kprobe"] {
        match activity_hooks::attach_comm(bpf, btf, hook) {
            Ok(how) => return how,
            Err(e) => tracing::info!("comm before exec: {hook} unavailable ({e:#})"),
        }
    }
    if tracefs_events().is_some() {
        let a = attach_tracepoint(bpf, p::ENTER_EXECVE, "syscalls", "sys_enter_execve");
        let b = attach_tracepoint(bpf, p::ENTER_EXECVEAT, "syscalls", "sys_enter_execveat");
        match (a, b) {
            (Ok(()), Ok(())) => return "tracepoint/syscalls/sys_enter_execve{,at}".into(),
            (a, b) => tracing::warn!("syscall tracepoints unavailable: {:?} {:?}", a.err(), b.err()),
        }
    }
    tracing::warn!("no hook for the comm before exec: runtimes will be named from cgroup paths only");
    "none".into()
}

pub fn load(opts: &Options) -> Result<Probes> {
    let btf = Btf::from_sys_fs().context("reading the kernel's BTF from /sys/kernel/btf/vmlinux")?;
    let cpus = aya::util::nr_cpus().map_err(|(path, e)| anyhow!("reading {path}: {e}"))? as u32;
    let argv_max = opts.argv_max.min(wire::ARGV_MAX);
    let mut bpf = EbpfLoader::new()
        .btf(Some(&btf))
        .override_global(globals::SELF_TGID, &opts.self_tgid, true)
        .override_global(globals::CG1_HIER, &opts.cg1_hierarchy, true)
        .override_global(globals::ARGV_MAX, &argv_max, true)
        .override_global(globals::SCOPE, &opts.scope, true)
        .override_global(globals::ACTIVITY, &opts.activity, true)
        .map_max_entries(maps::EVENTS, opts.ring_bytes)
        .map_max_entries(maps::SCRATCH, cpus)
        .load(object())
        .context("loading ctrail's BPF object into the kernel")?;

    let mut hooks = HooksUsed::default();
    // The comm hook goes first so that no exec is seen without its chance of a comm.
    let mode = opts.attach;
    hooks.entries.push(("comm_before_exec", attach_comm_before(&mut bpf, &btf, mode)));
    let exec = attach_exec(&mut bpf, &btf, mode, opts.resolve_exe)?;
    hooks.entries.push(("exec", exec));
    let fork = attach_either(&mut bpf, &btf, mode, p::FORK)?;
    hooks.entries.push(("fork", fork));
    let exit = attach_either(&mut bpf, &btf, mode, p::EXIT)?;
    hooks.entries.push(("exit", exit));
    // Cgroup moves are one more event, not the core: record without them if they cannot attach.
    let moves = attach_either(&mut bpf, &btf, mode, p::CGROUP_ATTACH).unwrap_or_else(|e| {
        tracing::warn!("cgroup moves will not be recorded: {e:#}");
        "none".into()
    });
    hooks.entries.push(("cgroup_move", moves));
    let mkdir = attach_either(&mut bpf, &btf, mode, p::CGROUP_MKDIR);
    let rmdir = attach_either(&mut bpf, &btf, mode, p::CGROUP_RMDIR);
    let lifecycle = match (mkdir, rmdir) {
        (Ok(a), Ok(b)) => format!("{a}+{b}"),
        (a, b) => {
            tracing::warn!("container starts and ends will not be recorded: {:?} {:?}", a.err(), b.err());
            "none".into()
        }
    };
    hooks.entries.push(("container_life", lifecycle));
    // Module names come from inside the load (module_load), while the syscall is pending:
    // attach it before the syscall hooks. Kernels without module support have neither.
    if opts.activity & wire::op_bits([EventKind::ModuleLoad]) != 0 {
        let modules = attach_either(&mut bpf, &btf, mode, p::MODULE_LOAD).unwrap_or_else(|e| {
            tracing::info!("module names will not be recorded (kernel without modules?): {e:#}");
            "none".into()
        });
        hooks.entries.push(("module_load", modules));
    }
    // `--attach raw-tp` forces every fallback, the activity's too, unless a rung is named.
    let forced = opts.activity_hooks.or((mode == Attach::RawTp).then_some(Rung::RawSyscalls));
    let activity = activity_hooks::attach(&mut bpf, &btf, opts.activity, forced)?;
    hooks.entries.push(("activity", activity.summary()));
    if let Some(s) = &activity.seccomp {
        hooks.entries.push(("seccomp_refusals", s.as_ref().map_or("none", |how| how).to_string()));
    }
    hooks.activity = activity;

    // The parsed kernel BTF is large and no longer needed: free it before the ring buffer
    // is mapped, so the two never count together in the recorder's peak memory.
    drop(btf);
    let take =
        |bpf: &mut Ebpf, name: &str| bpf.take_map(name).ok_or_else(|| anyhow!("map {name} missing from the object"));
    let ring = RingBuf::try_from(take(&mut bpf, maps::EVENTS)?)?;
    let verdicts = HashMap::try_from(take(&mut bpf, maps::VERDICTS)?)?;
    let counters = PerCpuArray::try_from(take(&mut bpf, maps::COUNTERS)?)?;
    Ok(Probes { bpf, ring, verdicts, counters, hooks })
}

/// Sums the per-CPU counters.
pub fn read_counters(counters: &PerCpuArray<MapData, u64>) -> [u64; wire::COUNTERS] {
    let mut out = [0u64; wire::COUNTERS];
    for (i, slot) in out.iter_mut().enumerate() {
        if let Ok(values) = counters.get(&(i as u32), 0) {
            *slot = values.iter().sum();
        }
    }
    out
}
