//! Any bytes as a /proc/PID/cgroup file: parsing must return Ok or Err, never panic,
//! and whatever parses must classify without panicking, with and without evidence.
#![no_main]

use ctrail_classify::{CgroupSet, Evidence, NsEvidence, classify, match_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = match_path(line);
    }
    let Ok(set) = CgroupSet::parse(&text) else { return };
    let own = NsEvidence { pid: Some(true), mnt: Some(true), uts: Some(data.len() % 2 == 0), ..Default::default() };
    for ns in [NsEvidence::default(), own] {
        let v = classify(&Evidence {
            cgroups: Some(&set),
            host_cgroups: Some(&set),
            ns,
            comm_before_exec: text.lines().next(),
            parent_comm: text.lines().nth(1),
        });
        assert!(!v.reason.is_empty());
        assert!(v.container || v.container_id.is_none());
        let v = classify(&Evidence { cgroups: Some(&set), ns, ..Default::default() });
        assert!(!v.reason.is_empty());
    }
});
