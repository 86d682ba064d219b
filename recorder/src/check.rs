//! `ctrail-recorder check`: what this kernel supports, tried for real.

use std::process::ExitCode;

use anyhow::Result;
use ctrail_wire as wire;

use crate::{host, loader, preflight};

pub fn check() -> Result<ExitCode> {
    let release = preflight::kernel_release();
    println!("kernel           {release}");
    println!(
        "BTF              {}",
        if preflight::btf_present() { "present (/sys/kernel/btf/vmlinux)" } else { "MISSING" }
    );
    println!(
        "privileges       {}",
        if preflight::privileged() { "ok" } else { "MISSING (need root or CAP_BPF+CAP_PERFMON)" }
    );
    let h = host::discover(ctrail_model::VERSION)?;
    let layout = match (&h.v2_mount, &h.v1) {
        (Some(m), None) => format!("pure cgroup v2 at {}", m.display()),
        (Some(m), Some(v1)) => {
            format!("hybrid: v2 at {}, v1 hierarchy recorded: {}", m.display(), v1.line.hierarchy_name())
        }
        (None, Some(v1)) => format!("cgroup v1 only, hierarchy recorded: {}", v1.line.hierarchy_name()),
        (None, None) => "no cgroup mounts found".into(),
    };
    println!("cgroups          {layout}");
    if let Err(missing) = preflight::check() {
        eprintln!("ctrail-recorder: {missing}");
        return Ok(ExitCode::from(2));
    }
    preflight::raise_memlock();
    let probes = loader::load(&loader::Options {
        attach: loader::Attach::Auto,
        self_tgid: std::process::id(),
        cg1_hierarchy: h.v1.as_ref().map(|v| v.hierarchy_id).unwrap_or(0),
        argv_max: wire::ARGV_DEFAULT,
        scope: wire::scope::ALL,
        ring_bytes: 1 << 20,
        activity: crate::cli::activity_bits(&[crate::cli::ActivityArg::All]),
        resolve_exe: true,
    });
    match probes {
        Ok(p) => {
            for (what, how) in &p.hooks.entries {
                println!("hook {what:<12}{how}");
            }
            println!("ok: ctrail-recorder can record on this machine");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("ctrail-recorder: cannot load the kernel programs: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}
