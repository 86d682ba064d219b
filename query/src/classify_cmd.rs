//! `ctrail classify`: gathers evidence for one process or cgroup file, then asks the
//! pure classifier in `ctrail_classify`.

use std::{fs, io::Read, path::Path, process::ExitCode};

use anyhow::{Context, Result};
use ctrail_classify::{self as classify, CgroupSet, Evidence, NsEvidence, Verdict};
use ctrail_procinfo as procinfo;
use serde::Serialize;

use crate::{
    cli::ClassifyArgs,
    output::{self, OneFormat},
};

fn comm_of(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim_end().to_string())
}

#[derive(Serialize)]
struct Json<'a> {
    container: bool,
    runtime: Option<&'a str>,
    container_id: Option<&'a str>,
    pod_uid: Option<&'a str>,
    outer_container_id: Option<&'a str>,
    name: Option<&'a str>,
    cgroup: Option<&'a str>,
    reason: &'a str,
}

fn print(v: &Verdict, format: Option<OneFormat>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    // One readable line unless JSON is asked for, on a terminal or not (the JSON contract
    // is `--format json`).
    match format {
        Some(OneFormat::Json) => {
            let j = Json {
                container: v.container,
                runtime: v.runtime.map(|r| r.as_str()),
                container_id: v.container_id.as_deref(),
                pod_uid: v.pod_uid.as_deref(),
                outer_container_id: v.outer_id.as_deref(),
                name: v.name.as_deref(),
                cgroup: v.cgroup.as_deref(),
                reason: &v.reason,
            };
            output::json::write_line(&mut out, &j)?;
        }
        Some(OneFormat::Table) | None => {
            // The cgroup file is whatever the user (or a process) wrote: escaped as one line.
            let mut text = String::new();
            if v.container {
                let rt = v.runtime.map(|r| r.as_str()).unwrap_or("unknown runtime");
                text.push_str(&format!("container {} ({rt})", v.container_id.as_deref().unwrap_or("?")));
                if let Some(p) = &v.pod_uid {
                    text.push_str(&format!(" pod {p}"));
                }
                if let Some(o) = &v.outer_id {
                    text.push_str(&format!(" inside {o}"));
                }
                text.push_str(": ");
            }
            text.push_str(&v.reason);
            output::line(&mut out, text)?;
        }
    }
    Ok(())
}

pub fn run(args: ClassifyArgs) -> Result<ExitCode> {
    let host_cgroups = procinfo::host_cgroups();
    let verdict = if let Some(pid) = args.source.pid {
        let dir = Path::new("/proc").join(pid.to_string());
        let text = fs::read_to_string(dir.join("cgroup")).with_context(|| format!("no such process: {pid}"))?;
        let cgroups = CgroupSet::parse(&text).with_context(|| format!("parsing /proc/{pid}/cgroup"))?;
        let parent_comm = procinfo::stat_of(pid).and_then(|(_, ppid, _)| comm_of(ppid));
        classify::classify(&Evidence {
            cgroups: Some(&cgroups),
            host_cgroups: host_cgroups.as_ref(),
            ns: NsEvidence::compare(&procinfo::ns_of(&dir), &procinfo::host_ns()),
            comm_before_exec: None,
            parent_comm: parent_comm.as_deref(),
        })
    } else {
        let file = args.source.cgroup_file.expect("clap requires --pid or --cgroup-file");
        let text = if file.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading standard input")?;
            s
        } else {
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
        };
        let name = if file.as_os_str() == "-" { "standard input".into() } else { file.display().to_string() };
        let cgroups = CgroupSet::parse(&text).with_context(|| format!("{name} is not in /proc/PID/cgroup format"))?;
        // A file says nothing about namespaces; it is read as it is, with no host baseline.
        classify::classify(&Evidence { cgroups: Some(&cgroups), ..Default::default() })
    };
    print(&verdict, args.format)?;
    Ok(ExitCode::SUCCESS)
}
