//! `cargo xtask deps`: the dependency rules of ARCHITECTURE.md, checked against the
//! manifests (`cargo metadata`), so that a crate that reaches for what its layer must not
//! know fails the test suite instead of drifting.

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// `crate` may not depend, directly or through workspace crates, on any of `never`.
struct Rule {
    krate: &'static str,
    never: &'static [&'static str],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        krate: "ctrail",
        never: &["ctrail-wire", "ctrail-recorder-ebpf", "aya"],
        why: "the query tool reads a store anywhere, with no BPF library and no kernel layout",
    },
    Rule {
        krate: "ctrail-classify",
        never: &["ctrail-store", "ctrail-procinfo", "ctrail-wire", "redb", "bincode", "aya"],
        why: "the classifier is pure: no store, no I/O, no BPF",
    },
    Rule {
        krate: "ctrail-model",
        never: &["ctrail-store", "ctrail-classify", "ctrail-wire", "redb", "bincode", "aya"],
        why: "the domain model is plain data",
    },
    Rule { krate: "ctrail-wire", never: &["ctrail-store", "redb", "bincode"], why: "the kernel layout knows no store" },
    Rule {
        krate: "ctrail-columnar",
        never: &["ctrail-store", "ctrail-wire", "redb", "bincode", "aya"],
        why: "the engines' schema is made from the model alone: any store version, any reader",
    },
];

/// Only these crates may name these dependencies, of any kind (normal, dev, build).
const ONLY: &[(&str, &[&str])] = &[
    ("redb", &["ctrail-store"]),
    ("bincode", &["ctrail-store"]),
    ("aya", &["ctrail-recorder", "ctrail-wire"]),
    ("ctrail-wire", &["ctrail-recorder", "ctrail-recorder-ebpf"]),
    ("parquet", &["ctrail-columnar"]),
    ("arrow-array", &["ctrail-columnar"]),
    ("arrow-schema", &["ctrail-columnar"]),
];

pub fn check() -> Result<()> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    // Each workspace crate's direct dependencies: (name, kind).
    let mut deps: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let list = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                (d["name"].as_str().unwrap_or_default().to_string(), kind)
            })
            .collect();
        deps.insert(name, list);
    }
    let mut broken = Vec::new();
    for r in RULES {
        // Normal dependencies, through the workspace's own crates.
        let mut seen = BTreeSet::new();
        let mut todo = vec![r.krate.to_string()];
        while let Some(c) = todo.pop() {
            for (d, kind) in deps.get(&c).into_iter().flatten() {
                if kind == "normal" && seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        for n in r.never {
            if seen.contains(*n) {
                broken.push(format!("{} depends on {n}: {}", r.krate, r.why));
            }
        }
    }
    for (dep, allowed) in ONLY {
        for (krate, list) in &deps {
            if list.iter().any(|(d, _)| d == dep) && !allowed.contains(&krate.as_str()) {
                broken.push(format!("{krate} depends on {dep}, which only {allowed:?} may"));
            }
        }
    }
    if !broken.is_empty() {
        bail!("dependency rules broken (ARCHITECTURE.md, Invariants):\n{}", broken.join("\n"));
    }
    eprintln!("xtask: dependency rules hold ({} rules, {} crates)", RULES.len() + ONLY.len(), deps.len());
    Ok(())
}
