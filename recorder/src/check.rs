//! `ctrail-recorder check`: what this kernel supports, tried for real.

use std::process::ExitCode;

use anyhow::Result;
use ctrail_wire as wire;

use crate::{host, loader, preflight};

/// Label and value lines, printed in two aligned columns (hook names are long:
/// `comm_before_exec` ran into its value with a fixed width).
#[derive(Default)]
struct Lines(Vec<(String, String)>);

impl Lines {
    fn add(&mut self, label: impl Into<String>, value: impl Into<String>) {
        self.0.push((label.into(), value.into()));
    }

    fn print(&self) {
        let width = self.0.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0) + 2;
        for (l, v) in &self.0 {
            println!("{l:<width$}{v}");
        }
    }
}

pub fn check() -> Result<ExitCode> {
    let mut out = Lines::default();
    out.add("kernel", preflight::kernel_release());
    out.add("BTF", if preflight::btf_present() { "present (/sys/kernel/btf/vmlinux)" } else { "MISSING" });
    out.add("privileges", if preflight::privileged() { "ok" } else { "MISSING (need root or CAP_BPF+CAP_PERFMON)" });
    let h = host::discover(ctrail_model::VERSION)?;
    let layout = match (&h.v2_mount, &h.v1) {
        (Some(m), None) => format!("pure cgroup v2 at {}", m.display()),
        (Some(m), Some(v1)) => {
            format!("hybrid: v2 at {}, v1 hierarchy recorded: {}", m.display(), v1.line.hierarchy_name())
        }
        (None, Some(v1)) => format!("cgroup v1 only, hierarchy recorded: {}", v1.line.hierarchy_name()),
        (None, None) => "no cgroup mounts found".into(),
    };
    out.add("cgroups", layout);
    if let Err(missing) = preflight::check() {
        out.print();
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
        activity_hooks: None,
    });
    match probes {
        Ok(p) => {
            for (what, how) in &p.hooks.entries {
                out.add(format!("hook {what}"), how.as_str());
            }
            // The activity's ladder, cheapest first: what each rung costs, whether it is used
            // and, where not, why (users on kernels that refuse the cheap ones ask).
            let a = &p.hooks.activity;
            for rung in crate::activity_hooks::Rung::LADDER {
                let used: Vec<String> = a
                    .kinds
                    .iter()
                    .filter(|(_, h)| *h == crate::activity_hooks::KindHook::On(rung))
                    .map(|(k, _)| k.to_string())
                    .collect();
                let verdict = match a.out.iter().find(|(r, _)| *r == rung) {
                    _ if !used.is_empty() => format!("used for {} ({})", used.join(","), rung.cost()),
                    Some((_, why)) => format!("out: {why}"),
                    None => format!("not tried: a cheaper rung works ({})", rung.cost()),
                };
                out.add(format!("activity rung {}", rung.name()), verdict);
            }
            out.print();
            println!("ok: ctrail-recorder can record on this machine");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            out.print();
            eprintln!("ctrail-recorder: cannot load the kernel programs: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}
