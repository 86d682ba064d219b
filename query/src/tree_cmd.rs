//! `ctrail tree`: the process tree at a moment. With `--container`, the container's
//! processes are joined to their host ancestors (containerd-shim, conmon, runc, ...).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    process::ExitCode,
};

use anyhow::Result;
use ctrail_model::ProcKey;
use ctrail_store::Found;

use serde::Serialize;

use crate::{
    cli::PsArgs,
    output::{self, Format, Listing, csv_row::CsvRow, line, table},
    rows::process::{ProcCsv, ProcRow},
    source::Source,
    time::{self, rfc3339},
};

struct Tree<'a> {
    nodes: HashMap<ProcKey, &'a Found>,
    children: BTreeMap<ProcKey, Vec<ProcKey>>,
    roots: Vec<ProcKey>,
}

fn build<'a>(alive: &'a [Found], container: Option<&str>, of: Option<&HashSet<String>>) -> Tree<'a> {
    let all: HashMap<ProcKey, &Found> = alive.iter().map(|f| (f.event.proc, f)).collect();
    let id_of = |f: &Found| f.container.as_ref().map(|c| c.id.clone());
    let in_container = |f: &Found| {
        container.is_none_or(|id| id_of(f).as_deref() == Some(id))
            && of.is_none_or(|of| id_of(f).is_some_and(|id| of.contains(&id)))
    };
    // The selection: the container's processes and every ancestor of theirs.
    let mut chosen: HashSet<ProcKey> = HashSet::new();
    for f in alive.iter().filter(|f| in_container(f)) {
        let mut key = f.event.proc;
        while chosen.insert(key) {
            match all.get(&key).map(|f| f.event.parent_key()).filter(|p| all.contains_key(p)) {
                Some(parent) => key = parent,
                None => break,
            }
        }
    }
    let nodes: HashMap<ProcKey, &Found> = chosen.iter().map(|k| (*k, all[k])).collect();
    let mut children: BTreeMap<ProcKey, Vec<ProcKey>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (k, f) in &nodes {
        let parent = f.event.parent_key();
        if nodes.contains_key(&parent) && parent != *k {
            children.entry(parent).or_default().push(*k);
        } else {
            roots.push(*k);
        }
    }
    for v in children.values_mut() {
        v.sort_by_key(|k| (k.start, k.tgid));
    }
    roots.sort_by_key(|k| (k.start, k.tgid));
    Tree { nodes, children, roots }
}

fn walk(tree: &Tree, key: ProcKey, depth: usize, out: &mut Vec<(usize, ProcKey)>) {
    out.push((depth, key));
    for c in tree.children.get(&key).into_iter().flatten() {
        walk(tree, *c, depth + 1, out);
    }
}

/// A process at its place in the tree.
struct TreeRow<'a> {
    proc: ProcRow<'a>,
    depth: usize,
}

impl Listing for TreeRow<'_> {
    type Csv = ProcCsv<'static>;
    const TABLE: &'static [&'static str] = ProcRow::TABLE;

    fn json(&self) -> impl Serialize {
        self.proc.json(Some(self.depth))
    }

    fn csv(&self, row: &mut CsvRow) -> bool {
        row.extend(&self.proc.csv(Some(self.depth)));
        true
    }

    fn table(&self) -> Vec<Vec<u8>> {
        self.proc.table()
    }
}

pub fn run(args: PsArgs) -> Result<ExitCode> {
    let src = Source::open(&args.store.data_dir)?;
    let at = time::moment(args.at.as_deref())?;
    let container = args.container.as_deref().map(|c| src.resolve_container(c)).transpose()?;
    let alive = src.reader.alive_at(at, None);
    src.sync_problems();
    let of = args.of.ids(&src);
    let tree = build(&alive, container.as_deref(), of.as_ref());
    let mut order = Vec::new();
    for r in &tree.roots {
        walk(&tree, *r, 0, &mut order);
    }
    let rows: Vec<TreeRow> =
        order.iter().map(|(depth, key)| TreeRow { proc: ProcRow::new(tree.nodes[key], &src), depth: *depth }).collect();
    match output::resolve(args.store.format) {
        // Indented lines read better than a table.
        Format::Table if !rows.is_empty() => {
            let mut out = std::io::stdout().lock();
            line(&mut out, format!("process tree at {}", rfc3339(at)))?;
            for r in &rows {
                let ctr = match r.proc.container {
                    Some(c) => {
                        format!(
                            "  [{} {}]",
                            table::short_id(&c.id),
                            c.runtime.map(|r| r.as_str()).unwrap_or("container")
                        )
                    }
                    None => String::new(),
                };
                let indent = if r.depth == 0 { String::new() } else { format!("{}└─ ", "   ".repeat(r.depth - 1)) };
                let pid = r.proc.found.event.proc.tgid;
                line(&mut out, [format!("{indent}{pid} ").into_bytes(), r.proc.command(), ctr.into_bytes()].concat())?;
            }
        }
        format => output::write_listing(format, args.store.raw_cells, None, &rows)?,
    }
    Ok(src.finish(!rows.is_empty()))
}
