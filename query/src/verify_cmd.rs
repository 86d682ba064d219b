//! `ctrail verify`: whether the store's history is intact. Every segment the chain vouches
//! for is read in full and compared with the hash it was sealed with; the chain's own lines
//! are checked; anything the chain does not know, or says was lost, is a break.
//!
//! Exit status (a contract): 0 intact, 1 not (the first break is named first), 2 could not
//! check.

use std::{io::Write, process::ExitCode};

use anyhow::{Context, Result};
use ctrail_store::verify::{Verdict, Vouched};
use serde::Serialize;

use crate::{
    cli::VerifyArgs,
    output::{self, OneFormat, escape, json},
};

#[derive(Serialize)]
struct VerifyJson<'a> {
    intact: bool,
    store_id: Option<&'a str>,
    chain_head: Option<&'a str>,
    chain_lines: usize,
    segments: usize,
    vouched: usize,
    deleted_by_retention: usize,
    breaks: &'a [String],
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let dir = &args.data_dir;
    let v = ctrail_store::verify::verify(dir).with_context(|| format!("verifying {}", dir.display()))?;
    let summary = summarise(&v);
    let mut out = std::io::stdout().lock();
    match output::resolve_one(args.format) {
        OneFormat::Json => json::write_line(&mut out, &summary)?,
        OneFormat::Table => {
            let head = summary.chain_head.map(|h| &h[..h.len().min(16)]).unwrap_or("-");
            writeln!(
                out,
                "store {}: chain of {} lines (head {head}), {} segments, {} vouched for, {} deleted by retention",
                escape::text(summary.store_id.unwrap_or("-")),
                summary.chain_lines,
                summary.segments,
                summary.vouched,
                summary.deleted_by_retention,
            )?;
            match v.breaks.split_first() {
                None => writeln!(out, "intact")?,
                Some((first, rest)) => {
                    writeln!(out, "NOT INTACT: {}", escape::text(first))?;
                    for b in rest {
                        writeln!(out, "also: {}", escape::text(b))?;
                    }
                }
            }
        }
    }
    Ok(if v.intact() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn summarise(v: &Verdict) -> VerifyJson<'_> {
    let chain = v.chain.as_ref();
    VerifyJson {
        intact: v.intact(),
        store_id: chain.and_then(|c| c.store_id.as_deref()),
        chain_head: chain.map(|c| c.head.as_str()),
        chain_lines: chain.map_or(0, |c| c.lines.len()),
        segments: v.segments.len(),
        vouched: v.segments.iter().filter(|s| s.vouched == Vouched::Yes).count(),
        deleted_by_retention: chain.map_or(0, |c| c.deleted.len()),
        breaks: &v.breaks,
    }
}
