//! Writing format-2 segments: a sealed redb segment rewritten as one (what sealing does, off
//! the ingest thread), and several small ones merged into one (compaction). Both write under
//! a temporary name, sync, then rename into place: a reader sees the old files or the new
//! one, never a half-written file, and [`crate::segment::effective`] makes sure it never
//! reads both.

use std::{collections::HashMap, fs, ops::ControlFlow, path::Path};

use ctrail_model::{BootInfo, Container, Event, Gap, VERSION};

use crate::{
    StoreError,
    chain::Named,
    seg::{
        SegMeta, hex,
        reader::SegReader,
        writer::{Blocks, SegWriter, Written},
    },
    segment::{self, SegmentFile, State},
    segment_reader::SegmentReader,
};

/// The format-2 segment written from `redb` (a sealed redb segment), in `dir`, named for its
/// seq and span. The redb file is left for the caller to remove once the chain has the new one.
pub fn from_redb(dir: &Path, redb: &SegmentFile, store_id: &str) -> Result<(SegmentFile, Named), StoreError> {
    let r = SegmentReader::open(redb)?;
    let tmp = dir.join(segment::seg_temp_name(redb.seq, redb.seq));
    remove_leftover(&tmp)?;
    let mut w = SegWriter::create(&tmp)?;
    w.checkpoint(&r.checkpoint()?)?;
    let mut blocks = Blocks::new();
    let mut failed = None;
    // Seqs anew, 0.. in the order read (time, then order of arrival): the redb keys are
    // order keys near wall ns, too large to add up when segments are merged.
    let mut seq = 0u64;
    r.for_each_keyed(0, u64::MAX, |_, e| {
        let pushed = blocks.push(&mut w, seq, &e);
        seq += 1;
        match pushed {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    blocks.finish(&mut w)?;
    let meta = SegMeta {
        store_id: store_id.to_string(),
        seq: redb.seq,
        last_seq: redb.seq,
        created: r.created()?,
        first: 0,
        last: 0,
        events: 0,
        ctrail_version: VERSION.to_string(),
        written_from: vec![redb.name()],
    };
    let written = w.finish(meta, r.boots()?, r.containers()?, r.gaps()?)?;
    place(dir, redb.seq, redb.seq, written, "seal")
}

/// One format-2 segment from `inputs` (format-2 segments, adjacent, oldest first), with
/// their container tables merged and their events renumbered so each keeps its order.
pub fn merge(dir: &Path, inputs: &[SegmentFile], store_id: &str) -> Result<(SegmentFile, Named), StoreError> {
    let (first_seq, last_seq) = (inputs[0].seq, inputs[inputs.len() - 1].last_seq);
    let tmp = dir.join(segment::seg_temp_name(first_seq, last_seq));
    remove_leftover(&tmp)?;
    let readers: Vec<SegReader> = inputs.iter().map(|f| SegReader::open(&f.path)).collect::<Result<_, _>>()?;
    // Container indexes are local to a segment: the merged one numbers them anew, by ID.
    let mut containers: Vec<Container> = Vec::new();
    let mut by_id: HashMap<String, u32> = HashMap::new();
    let tables: Vec<Vec<(u32, Container)>> = readers.iter().map(SegReader::containers).collect::<Result<_, _>>()?;
    let maps: Vec<HashMap<u32, u32>> = tables
        .iter()
        .map(|t| {
            t.iter()
                .map(|&(i, ref c)| {
                    let n = *by_id.entry(c.id.clone()).or_insert_with(|| {
                        containers.push(Container { events: 0, processes: 0, ..c.clone() });
                        (containers.len() - 1) as u32
                    });
                    containers[n as usize].absorb(c);
                    (i, n)
                })
                .collect()
        })
        .collect();
    let remap = |e: &mut Event, map: &HashMap<u32, u32>| e.container = e.container.and_then(|c| map.get(&c).copied());
    let mut w = SegWriter::create(&tmp)?;
    let mut checkpoint = readers[0].checkpoint()?;
    checkpoint.iter_mut().for_each(|e| remap(e, &maps[0]));
    w.checkpoint(&checkpoint)?;
    let mut blocks = Blocks::new();
    let mut base = 0u64;
    let mut boots: Vec<(u32, BootInfo)> = Vec::new();
    let mut gaps: Vec<Gap> = Vec::new();
    for (r, map) in readers.iter().zip(&maps) {
        let events = r.events(0, u64::MAX);
        // A block that did not verify is never copied into a file that would.
        if let Some(p) = r.take_problems().into_iter().next() {
            return Err(StoreError::Damaged { path: r.path().to_path_buf(), detail: p });
        }
        let top = events.iter().map(|(s, _)| *s).max().unwrap_or(0);
        for (seq, mut e) in events {
            remap(&mut e, map);
            blocks.push(&mut w, base + seq, &e)?;
        }
        base += top + 1;
        for b in r.boots() {
            if !boots.iter().any(|(i, _)| *i == b.0) {
                boots.push(b);
            }
        }
        gaps.extend(r.gaps());
    }
    blocks.finish(&mut w)?;
    let meta = SegMeta {
        store_id: store_id.to_string(),
        seq: first_seq,
        last_seq,
        created: readers[0].created(),
        first: 0,
        last: 0,
        events: 0,
        ctrail_version: VERSION.to_string(),
        written_from: inputs.iter().map(SegmentFile::name).collect(),
    };
    let containers = containers.into_iter().enumerate().map(|(i, c)| (i as u32, c)).collect();
    let written = w.finish(meta, boots, containers, gaps)?;
    place(dir, first_seq, last_seq, written, "merge")
}

fn remove_leftover(tmp: &Path) -> Result<(), StoreError> {
    match fs::remove_file(tmp) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io { path: tmp.to_path_buf(), source }),
    }
}

/// Renames a finished temporary file to its segment name and makes the rename durable.
fn place(
    dir: &Path,
    seq: u64,
    last_seq: u64,
    written: Written,
    step: &str,
) -> Result<(SegmentFile, Named), StoreError> {
    crate::maintenance::crash_point(&format!("{step}:written"));
    let r = SegReader::open(&written.path)?;
    let m = &r.directory().meta;
    let (first, last, events) = (m.first, m.last, m.events);
    drop(r);
    let name = segment::seg_name(seq, last_seq, first, last);
    let to = dir.join(&name);
    fs::rename(&written.path, &to).map_err(|source| StoreError::Io { path: written.path.clone(), source })?;
    sync_dir(dir)?;
    let file =
        SegmentFile { path: to, seq, last_seq, format: segment::FileFormat::Seg, state: State::Sealed { first, last } };
    Ok((file, Named { name, sha256: hex(&written.sha256), events, first, last }))
}

/// Makes renames and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })
}
