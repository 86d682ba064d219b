//! Classification cost over the fixture corpus, against a baseline measured in the same
//! run (parsing the same text), because these machines are noisy.
//!
//! `cargo bench -p ctrail-classify --bench classify` (or `cargo xtask bench`).

use std::{hint::black_box, time::Instant};

use ctrail_classify::{CgroupSet, Evidence, NsEvidence, classify};
use ctrail_fixtures::cgroup_cases;

fn per_item(rounds: usize, items: usize, mut f: impl FnMut()) -> f64 {
    // Take the best of five runs: the least disturbed by other work on the machine.
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..rounds {
                f();
            }
            t.elapsed().as_nanos() as f64 / (rounds * items) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let cases = cgroup_cases();
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let sets: Vec<CgroupSet> = texts.iter().map(|t| CgroupSet::parse(t).expect("fixture parses")).collect();
    let paths: usize = sets.iter().map(|s| s.lines.len()).sum();
    let ns = NsEvidence { pid: Some(true), mnt: Some(true), uts: Some(true), ..Default::default() };
    let rounds = 2000;

    let parse = per_item(rounds, texts.len(), || {
        for t in &texts {
            black_box(CgroupSet::parse(black_box(t)).ok());
        }
    });
    let decide = per_item(rounds, sets.len(), || {
        for s in &sets {
            black_box(classify(&Evidence { cgroups: Some(black_box(s)), ns, ..Default::default() }));
        }
    });
    let lines_per_case = paths as f64 / sets.len() as f64;
    println!("fixture corpus: {} cases, {paths} cgroup paths ({lines_per_case:.1} per case)", sets.len());
    println!("baseline  parse /proc/PID/cgroup text : {parse:8.1} ns per case");
    println!(
        "classify  (parsed, with ns evidence)  : {decide:8.1} ns per case, {:.1} ns per path",
        decide / lines_per_case
    );
    println!("ratio     classify / parse            : {:8.2}", decide / parse);
    println!("target: well under 1 us per path: {}", if decide / lines_per_case < 1000.0 { "met" } else { "NOT met" });
}
