//! The classifier against every real-shaped case in fixtures/cgroup-cases.

use ctrail_classify::{CgroupSet, Evidence, NsEvidence, Runtime, classify};
use ctrail_fixtures::{CgroupCase, cgroup_cases};

fn ns_evidence(c: &CgroupCase) -> NsEvidence {
    let Some(own) = &c.own_ns else {
        return NsEvidence::default();
    };
    let is = |n: &str| Some(own.iter().any(|o| o == n));
    NsEvidence {
        pid: is("pid"),
        mnt: is("mnt"),
        net: is("net"),
        uts: is("uts"),
        ipc: is("ipc"),
        cgroup: is("cgroup"),
        user: is("user"),
    }
}

#[test]
fn every_fixture_gets_its_expected_verdict() {
    let cases = cgroup_cases();
    assert!(cases.len() >= 60, "the corpus must hold at least 60 cases, has {}", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let cgroups = CgroupSet::parse(&c.text).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let host =
            c.host_cgroup.as_deref().map(|h| CgroupSet::parse(h).unwrap_or_else(|e| panic!("{}: host: {e}", c.name)));
        let v = classify(&Evidence {
            cgroups: Some(&cgroups),
            host_cgroups: host.as_ref(),
            ns: ns_evidence(c),
            comm_before_exec: c.comm_before_exec.as_deref(),
            parent_comm: c.parent_comm.as_deref(),
        });
        let e = &c.expect;
        let got = (v.container, v.runtime.map(Runtime::as_str).map(str::to_string), v.container_id.clone());
        let want = (e.container, e.runtime.clone(), e.id.clone());
        let extra_ok = (!e.container || (v.pod_uid == e.pod_uid && v.outer_id == e.outer_id))
            && (e.name.is_none() || v.name == e.name);
        if got != want || !extra_ok || v.reason.is_empty() {
            failures.push(format!(
                "{} ({}): want {want:?} pod {:?} outer {:?}, got {got:?} pod {:?} outer {:?}; reason: {}",
                c.name, c.source, e.pod_uid, e.outer_id, v.pod_uid, v.outer_id, v.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn corpus_covers_every_runtime_and_layout() {
    let cases = cgroup_cases();
    for r in Runtime::ALL {
        assert!(cases.iter().any(|c| c.expect.runtime.as_deref() == Some(r.as_str())), "no fixture for {r}");
    }
    let layout = |c: &CgroupCase| {
        let v2 = c.text.lines().any(|l| l.starts_with("0::"));
        let v1 = c.text.lines().any(|l| !l.starts_with("0::"));
        (v1, v2)
    };
    assert!(cases.iter().any(|c| layout(c) == (false, true)), "no pure v2 case");
    assert!(cases.iter().any(|c| layout(c) == (true, true)), "no v1/hybrid case");
    assert!(cases.iter().filter(|c| !c.expect.container).count() >= 15, "too few host look-alikes");
}
