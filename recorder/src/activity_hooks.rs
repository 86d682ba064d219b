//! The activity's hook ladder: for each activity kind, the cheapest hook this kernel lets
//! the recorder put on its syscalls.
//!
//! A syscall tracepoint (`sys_enter_X`) is cheap where it fires, but attaching any of them
//! sets the syscall-tracing work flag on every task, so every syscall of every process takes
//! the kernel's slow path (+11-15 ns on an unrelated read here). fentry/fexit and kprobes
//! patch only the syscall's own function (`__x64_sys_X`) and cost nothing elsewhere; many
//! kernels refuse or lack them (this project's CI guest refuses fentry and has no kprobes),
//! hence the ladder. Every rung feeds the same kernel code (`stash` at the entry,
//! `emit_activity` at the exit), so a kind's stored fields do not depend on its rung.
//!
//! What a rung misses is said, never left a silent hole: the function rungs never see a
//! syscall that seccomp refused (it never reaches the function), so they hook the end of
//! `__secure_computing` too, which runs only for tasks under a seccomp filter.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use aya::{Btf, Ebpf, maps::Array, programs::Program};
use ctrail_model::{EventKind, kind::Class};
use ctrail_recorder_ebpf::{maps, programs as p};
use ctrail_wire::{self as wire, SyscallDef, hook_set};

use crate::loader::{attach_raw, attach_tracepoint, tracefs_events};

/// One way of hooking a syscall, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    Fentry,
    Kprobe,
    Tracepoint,
    RawSyscalls,
}

impl Rung {
    pub const LADDER: [Rung; 4] = [Rung::Fentry, Rung::Kprobe, Rung::Tracepoint, Rung::RawSyscalls];

    /// Its name in the start line and in `check`.
    pub fn name(self) -> &'static str {
        match self {
            Rung::Fentry => "fentry/fexit",
            Rung::Kprobe => "kprobe/kretprobe",
            Rung::Tracepoint => "tracepoint/syscalls",
            Rung::RawSyscalls => "raw_tp/sys_enter+sys_exit",
        }
    }

    /// What it costs the syscalls it does not record (measured: README, docs/benchmark-notes.md).
    pub fn cost(self) -> &'static str {
        match self {
            Rung::Fentry | Rung::Kprobe => "nothing on other syscalls",
            Rung::Tracepoint => "every syscall of every task takes the syscall-tracing slow path (+11-15 ns)",
            Rung::RawSyscalls => "every syscall of every task runs a program (+55-63 ns)",
        }
    }

    fn on_function(self) -> bool {
        matches!(self, Rung::Fentry | Rung::Kprobe)
    }
}

/// How one activity kind is hooked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindHook {
    On(Rung),
    /// The kernel has none of its syscalls (init_module without module support): nothing
    /// to record.
    NotInKernel,
    /// Every rung tried refused it: why, per rung.
    Refused(String),
}

/// Which rung each activity kind got, and why the others were passed over.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    /// Each kind asked for: its rung, or why it is not recorded.
    pub kinds: Vec<(EventKind, KindHook)>,
    /// Each rung that is out on this kernel (or was not allowed), and why.
    pub out: Vec<(Rung, String)>,
    /// How syscalls that seccomp refuses are seen, for the kinds on function rungs.
    pub seccomp: Option<Result<&'static str, String>>,
}

impl Chosen {
    /// `fentry/fexit(mount,umount,...)+tracepoint/syscalls(connect)`, `none` when nothing.
    pub fn summary(&self) -> String {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (k, r) in &self.kinds {
            let rung = match r {
                KindHook::On(r) => r.name(),
                KindHook::NotInKernel => "not-in-kernel",
                KindHook::Refused(_) => "none",
            }
            .to_string();
            match groups.iter_mut().find(|(g, _)| *g == rung) {
                Some((_, ks)) => ks.push(k.to_string()),
                None => groups.push((rung, vec![k.to_string()])),
            }
        }
        if groups.is_empty() {
            return "off".into();
        }
        groups.iter().map(|(r, ks)| format!("{r}({})", ks.join(","))).collect::<Vec<_>>().join("+")
    }
}

fn syscalls_of(kind: EventKind) -> impl Iterator<Item = &'static SyscallDef> {
    wire::SYSCALLS.iter().filter(move |s| wire::op_def(s.op).is_some_and(|d| d.kind == kind))
}

/// Why a rung cannot work on this kernel at all, known before trying it.
fn known_out(rung: Rung, btf: &Btf) -> Option<String> {
    match rung {
        Rung::Fentry | Rung::Kprobe if btf_function(btf, &p::syscall_function("mount")).is_none() => {
            Some("this kernel's BTF names no syscall functions".into())
        }
        Rung::Kprobe if !has_kprobes() => {
            Some("this kernel has no kprobes (CONFIG_KPROBES off: no /sys/bus/event_source/devices/kprobe)".into())
        }
        // Where it matters: the rungs above are out. In a container, tracefs is a mount.
        Rung::Tracepoint if tracefs_events().is_none() => Some(
            "no tracefs at /sys/kernel/tracing, and it cannot be mounted (in a container: \
             -v /sys/kernel/tracing:/sys/kernel/tracing)"
                .into(),
        ),
        _ => None,
    }
}

/// The kprobe event source that aya attaches kprobes through (absent without CONFIG_KPROBES).
fn has_kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
}

fn btf_function(btf: &Btf, name: &str) -> Option<u32> {
    btf.id_by_type_name_kind(name, aya_obj::btf::BtfKind::Func).ok()
}

/// Whether this kernel has `syscall` at all, as this rung would hook it.
fn kernel_has(rung: Rung, btf: &Btf, syscall: &str) -> bool {
    match rung {
        Rung::Fentry | Rung::Kprobe => btf_function(btf, &p::syscall_function(syscall)).is_some(),
        Rung::Tracepoint => {
            tracefs_events().is_some_and(|t| t.join("syscalls").join(format!("sys_enter_{syscall}")).is_dir())
        }
        // One number per syscall: the switch in the kernel program has them all.
        Rung::RawSyscalls => true,
    }
}

/// Loads program `name` and attaches it to kernel function `function`, as the fentry, fexit
/// or kprobe (kretprobe: the section says) program it is.
fn attach_on_function(bpf: &mut Ebpf, btf: &Btf, name: &str, function: &str) -> Result<()> {
    let attached = match program(bpf, name)? {
        Program::FEntry(prog) => prog.load(function, btf).and_then(|()| prog.attach().map(drop)),
        Program::FExit(prog) => prog.load(function, btf).and_then(|()| prog.attach().map(drop)),
        Program::KProbe(prog) => prog.load().and_then(|()| prog.attach(function, 0).map(drop)),
        _ => bail!("{name} is not a function hook"),
    };
    attached.map_err(|e| anyhow!("{name} on {function}: {e}"))
}

/// The programs this rung puts on one syscall, and the hook each goes on.
fn attach_one(bpf: &mut Ebpf, btf: &Btf, rung: Rung, syscall: &str) -> Result<Vec<String>> {
    let function = p::syscall_function(syscall);
    let mut done = Vec::new();
    let result = (|| -> Result<()> {
        match rung {
            Rung::Fentry | Rung::Kprobe => {
                let hooks = if rung == Rung::Fentry { ["fentry", "fexit"] } else { ["kprobe", "kretprobe"] };
                for hook in hooks {
                    let name = p::on_function(hook, syscall);
                    attach_on_function(bpf, btf, &name, &function)?;
                    done.push(name);
                }
            }
            Rung::Tracepoint => {
                attach_tracepoint(bpf, &p::enter(syscall), "syscalls", &format!("sys_enter_{syscall}"))?;
                done.push(p::enter(syscall));
                attach_tracepoint(bpf, &p::exit(syscall), "syscalls", &format!("sys_exit_{syscall}"))?;
                done.push(p::exit(syscall));
            }
            Rung::RawSyscalls => unreachable!("the raw pair serves every syscall at once"),
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(done),
        Err(e) => {
            unload(bpf, &done);
            Err(e)
        }
    }
}

fn program<'a>(bpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Program> {
    bpf.program_mut(name).ok_or_else(|| anyhow!("program {name} missing from the object"))
}

/// Detaches and unloads programs attached for a kind that then failed on this rung, so that
/// no syscall is recorded by two rungs.
fn unload(bpf: &mut Ebpf, names: &[String]) {
    for name in names {
        let r = match bpf.program_mut(name) {
            Some(Program::FEntry(p)) => p.unload(),
            Some(Program::FExit(p)) => p.unload(),
            Some(Program::KProbe(p)) => p.unload(),
            Some(Program::TracePoint(p)) => p.unload(),
            _ => Ok(()),
        };
        if let Err(e) = r {
            tracing::warn!("cannot unload {name}: {e}");
        }
    }
}

/// The kinds in `wanted` (op bits), each on the cheapest rung that works (only `forced` when
/// given). Fails only when a forced rung cannot record a kind this kernel has.
pub fn attach(bpf: &mut Ebpf, btf: &Btf, wanted: u32, forced: Option<Rung>) -> Result<Chosen> {
    let mut chosen = Chosen::default();
    let ladder: Vec<Rung> = match forced {
        Some(r) => vec![r],
        None => Rung::LADDER.to_vec(),
    };
    for r in Rung::LADDER.iter().filter(|r| !ladder.contains(r)) {
        chosen.out.push((*r, "not asked for (--activity-hooks)".into()));
    }
    // A rung is out for every kind once it failed before anything attached on it: the
    // kernel refuses it (EPERM for fentry here), it is not a kind's own problem. Each is
    // probed when first reached, so tracefs is mounted only where tracepoints are needed.
    let mut working: Vec<Rung> = Vec::new();
    let mut probed: Vec<Rung> = Vec::new();
    let mut raw_ops = 0u32;
    let mut raw_attached: Option<Result<(), String>> = None;
    for kind in EventKind::of(Class::Activity) {
        if wire::op_bits([kind]) & wanted == 0 {
            continue;
        }
        let mut result = None;
        let mut reasons = Vec::new();
        for &rung in &ladder {
            if !probed.contains(&rung) {
                probed.push(rung);
                if let Some(why) = known_out(rung, btf) {
                    chosen.out.push((rung, why));
                }
            }
            if let Some((_, why)) = chosen.out.iter().find(|(r, _)| *r == rung) {
                reasons.push(format!("{}: {why}", rung.name()));
                continue;
            }
            if rung == Rung::RawSyscalls {
                let r = raw_attached.get_or_insert_with(|| {
                    attach_raw(bpf, p::SYS_ENTER_RAW, "sys_enter")
                        .and_then(|()| attach_raw(bpf, p::SYS_EXIT_RAW, "sys_exit"))
                        .map_err(|e| format!("{e:#}"))
                });
                match r {
                    Ok(()) => {
                        raw_ops |= wire::op_bits([kind]);
                        result = Some(KindHook::On(rung));
                        break;
                    }
                    Err(e) => {
                        reasons.push(format!("{}: {e}", rung.name()));
                        chosen.out.push((rung, e.clone()));
                        continue;
                    }
                }
            }
            let present: Vec<&SyscallDef> = syscalls_of(kind).filter(|s| kernel_has(rung, btf, s.name)).collect();
            if present.is_empty() {
                // Not a rung's failure: no rung below would find the syscall either (and the
                // raw pair would tax every syscall for nothing).
                result = Some(KindHook::NotInKernel);
                break;
            }
            let mut attached = Vec::new();
            let mut failure = None;
            for s in present {
                match attach_one(bpf, btf, rung, s.name) {
                    Ok(progs) => attached.extend(progs),
                    Err(e) => {
                        failure = Some(format!("{e:#}"));
                        break;
                    }
                }
            }
            match failure {
                None => {
                    if !working.contains(&rung) {
                        working.push(rung);
                    }
                    result = Some(KindHook::On(rung));
                    break;
                }
                Some(e) => {
                    let e = explain(rung, e);
                    unload(bpf, &attached);
                    reasons.push(format!("{}: {e}", rung.name()));
                    if !working.contains(&rung) {
                        chosen.out.push((rung, e));
                    }
                }
            }
        }
        chosen.kinds.push((kind, result.unwrap_or_else(|| KindHook::Refused(reasons.join("; ")))));
    }
    if let Some(r) = forced {
        let refused: Vec<String> = chosen
            .kinds
            .iter()
            .filter_map(|(k, h)| match h {
                KindHook::Refused(e) => Some(format!("{k}: {e}")),
                _ => None,
            })
            .collect();
        if !refused.is_empty() {
            bail!("--activity-hooks {}: cannot record {}", r.name(), refused.join("; "));
        }
    }
    let function_ops = chosen
        .kinds
        .iter()
        .filter(|(_, h)| matches!(h, KindHook::On(r) if r.on_function()))
        .fold(0u32, |b, (k, _)| b | wire::op_bits([*k]));
    let mut seccomp_ops = 0;
    if function_ops != 0 {
        let via = if working.contains(&Rung::Fentry) { Rung::Fentry } else { Rung::Kprobe };
        chosen.seccomp = Some(attach_seccomp(bpf, btf, via));
        match &chosen.seccomp {
            Some(Ok(_)) => seccomp_ops = function_ops,
            Some(Err(e)) => tracing::warn!(
                "syscalls that a seccomp filter refuses will not be recorded for the kinds on {} ({e}); \
                 --activity-hooks tracepoint records them, at a cost to every syscall",
                via.name()
            ),
            None => {}
        }
    }
    let mut sets: Array<_, u32> = Array::try_from(
        bpf.map_mut(maps::HOOK_OPS).ok_or_else(|| anyhow!("map {} missing from the object", maps::HOOK_OPS))?,
    )?;
    sets.set(hook_set::RAW, raw_ops, 0)?;
    sets.set(hook_set::SECCOMP, seccomp_ops, 0)?;
    for (k, h) in &chosen.kinds {
        match h {
            KindHook::Refused(e) => tracing::warn!("{k} is not recorded on this kernel: {e}"),
            KindHook::NotInKernel => tracing::info!("this kernel has no {} syscall: {k} not recorded", names(*k)),
            KindHook::On(_) => {}
        }
    }
    Ok(chosen)
}

/// The comm before exec from the exec syscalls' functions (`hook`: fentry or kprobe), on
/// kernels without sched_prepare_exec; both or neither.
pub fn attach_comm(bpf: &mut Ebpf, btf: &Btf, hook: &str) -> Result<String> {
    if hook == "kprobe" && !has_kprobes() {
        bail!("no kprobes in this kernel");
    }
    let mut done = Vec::new();
    for syscall in ["execve", "execveat"] {
        let name = p::comm_on_function(hook, syscall);
        if let Err(e) = attach_on_function(bpf, btf, &name, &p::syscall_function(syscall)) {
            unload(bpf, &done);
            return Err(e);
        }
        done.push(name);
    }
    Ok(format!("{hook}/{}{{execve,execveat}}", p::syscall_function("")))
}

/// The reason a rung failed, in the words a user can act on.
fn explain(rung: Rung, e: String) -> String {
    let e = e.trim_end().trim_end_matches("Verifier output:").trim_end().to_string();
    if rung == Rung::Fentry && e.contains("Operation not permitted") {
        // Refused before the verifier ran: not a fault of the program.
        return format!("this kernel refuses fentry/fexit programs ({e}: a policy of this kernel, not of ctrail)");
    }
    e
}

/// `init_module/finit_module` for a kind's syscalls.
fn names(kind: EventKind) -> String {
    syscalls_of(kind).map(|s| s.name).collect::<Vec<_>>().join("/")
}

fn attach_seccomp(bpf: &mut Ebpf, btf: &Btf, via: Rung) -> Result<&'static str, String> {
    let (name, how) = if via == Rung::Fentry {
        (p::FEXIT_SECCOMP, "fexit/__secure_computing")
    } else {
        (p::KRETPROBE_SECCOMP, "kretprobe/__secure_computing")
    };
    attach_on_function(bpf, btf, name, p::SECCOMP_FUNCTION).map(|()| how).map_err(|e| format!("{e:#}"))
}
