//! Checking a data directory against its chain (`ctrail verify`, `ctrail segments`): every
//! segment the chain vouches for is there, byte for byte (its whole file's SHA-256), every
//! block of it verifies, it belongs to this store, and nothing is there that the chain does
//! not know. What the chain itself records as lost (a segment removed or set aside as
//! damaged, a chain restarted) is a break too: the history is not intact, even though the
//! store says so honestly. Retention and compaction are not breaks: the chain has them.

use std::path::Path;

use crate::{
    StoreError,
    chain::{self, ChainView, Named, Op},
    guarded,
    seg::{hex, reader::SegReader},
    segment::{self, FileFormat, SegmentFile, State},
    segment_reader::SegmentReader,
};

/// Where a segment stands with the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vouched {
    /// The chain has it, and it matched.
    Yes,
    /// The chain has it under this name, and it did not match.
    Mismatch,
    /// A format-2 segment the chain does not have.
    Unknown,
    /// Not for the chain (yet): the active segment, a sealed redb segment the recorder has
    /// still to write as format 2, a segment of a store without a chain.
    Pending,
}

impl Vouched {
    pub fn as_str(self) -> &'static str {
        match self {
            Vouched::Yes => "vouched",
            Vouched::Mismatch => "mismatch",
            Vouched::Unknown => "not in chain",
            Vouched::Pending => "pending",
        }
    }
}

/// One segment file, checked.
#[derive(Debug, Clone)]
pub struct SegmentCheck {
    pub file: SegmentFile,
    /// The store format the file was written in (0 when it does not open); whether it is a
    /// redb file or a `.seg` is `file.format`.
    pub format: u32,
    pub bytes: u64,
    /// As the file says (None when it could not be read).
    pub events: Option<u64>,
    pub sha256: Option<String>,
    pub vouched: Vouched,
    /// What did not verify; empty when it all did.
    pub problems: Vec<String>,
}

impl SegmentCheck {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && matches!(self.vouched, Vouched::Yes | Vouched::Pending)
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub chain: Option<ChainView>,
    pub segments: Vec<SegmentCheck>,
    /// Every break, the first first: the chain's own (nothing after it is trusted), then by
    /// segment, oldest first.
    pub breaks: Vec<String>,
}

impl Verdict {
    pub fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// Checks `dir` completely: every byte of every segment is read.
pub fn verify(dir: &Path) -> Result<Verdict, StoreError> {
    // The chain grows while a recorder runs: a segment placed just before our listing gets
    // its line a moment later. Look again while the chain moves.
    let mut v = once(dir)?;
    for _ in 0..20 {
        if v.intact() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let then = v.chain.as_ref().map(|c| c.lines.len());
        if chain::read(dir)?.map(|c| c.lines.len()) == then {
            break;
        }
        v = once(dir)?;
    }
    Ok(v)
}

fn once(dir: &Path) -> Result<Verdict, StoreError> {
    if !dir.is_dir() {
        return Err(StoreError::Missing(dir.to_path_buf()));
    }
    let listing = segment::list(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
    let chain = chain::read(dir)?;
    let mut v = Verdict { chain: chain.clone(), ..Default::default() };
    let mut by_seq: Vec<(u64, String)> = Vec::new();
    for (p, kind) in &listing.refused {
        v.breaks.push(format!("{} is {kind}, named like a segment", p.display()));
    }
    for p in &listing.strangers {
        v.breaks.push(format!("{} is named like a segment but is not one", p.display()));
    }
    let Some(chain) = chain else {
        v.breaks.push(format!(
            "{} has no chain: written before format 2 (a recorder of this version adds one when it starts), or \
             the chain was removed",
            dir.display()
        ));
        v.segments = listing.segments.into_iter().map(|f| check(&f, None, None)).collect();
        return Ok(v);
    };
    if let Some(b) = &chain.broken {
        v.breaks.push(format!("the chain breaks: {b}; nothing after that line is vouched for"));
    }
    for (i, line) in chain.lines.iter().enumerate() {
        let at = i + 1;
        match &line.op {
            Op::Restarted { set_aside, reason } => v.breaks.push(format!(
                "chain line {at}: the chain before it did not verify ({reason}) and was set aside as {set_aside}"
            )),
            Op::Lost { segment } => by_seq.push((
                seq_of(segment),
                format!(
                    "segment {} ({} events) was removed behind the recorder (found at chain line {at})",
                    segment.name, segment.events
                ),
            )),
            Op::SetAside { segment, reason, .. } => by_seq.push((
                seq_of(segment),
                format!("segment {} was damaged ({reason}) and set aside (chain line {at})", segment.name),
            )),
            _ => {}
        }
    }
    let ever: std::collections::HashSet<String> = chain
        .lines
        .iter()
        .flat_map(|l| match &l.op {
            Op::Sealed(n) => vec![n.name.clone()],
            Op::Deleted { segment, .. } => vec![segment.name.clone()],
            Op::Merged { from, into } => from.iter().chain([into]).map(|n| n.name.clone()).collect(),
            _ => Vec::new(),
        })
        .collect();
    let (files, superseded) = segment::effective(listing.segments);
    for n in chain.live.values() {
        // The chain is read after the listing: one written since is there if the files it
        // was written from were (the redb segment, the merged ones).
        let there = files.iter().any(|f| f.name() == n.name)
            || segment::parse(Path::new(&n.name))
                .is_some_and(|p| (p.seq..=p.last_seq).all(|seq| files.iter().any(|f| f.covers(seq))));
        if !there {
            by_seq.push((
                seq_of(n),
                format!("segment {} ({} events) is in the chain but missing from the directory", n.name, n.events),
            ));
        }
    }
    for f in files {
        let named = chain.live.get(&f.name());
        let mut c = check(&f, named, chain.store_id.as_deref());
        // Gone since the listing and not vouched for: a redb segment written as format 2,
        // or merged inputs, by a recorder running beside us.
        if named.is_none() && std::fs::symlink_metadata(&f.path).is_err() {
            continue;
        }
        // Merged or deleted by a line after our listing (or by one a crash cut short: the
        // recorder removes it at its start; queries do not read merged inputs).
        if c.vouched == Vouched::Unknown && ever.contains(&f.name()) {
            c.vouched = Vouched::Pending;
            v.segments.push(c);
            continue;
        }
        for p in &c.problems {
            by_seq.push((f.seq, format!("segment {}: {p}", f.name())));
        }
        if c.vouched == Vouched::Unknown {
            by_seq.push((f.seq, format!("segment {} is not in the chain (not sealed by this store)", f.name())));
        }
        v.segments.push(c);
    }
    // A superseded file is a leftover of an interrupted rewrite: the recorder removes it.
    for f in superseded {
        v.segments.push(SegmentCheck { vouched: Vouched::Pending, ..check(&f, None, None) });
    }
    v.segments.sort_by_key(|c| (c.file.seq, c.file.last_seq));
    by_seq.sort_by_key(|(seq, _)| *seq);
    v.breaks.extend(by_seq.into_iter().map(|(_, m)| m));
    Ok(v)
}

fn seq_of(n: &Named) -> u64 {
    segment::parse(Path::new(&n.name)).map_or(u64::MAX, |f| f.seq)
}

/// Checks one file: a format-2 segment against what the chain says of it (`named`), every
/// block read; a redb segment opened and counted.
fn check(f: &SegmentFile, named: Option<&Named>, store_id: Option<&str>) -> SegmentCheck {
    let bytes = std::fs::symlink_metadata(&f.path).map(|m| m.len()).unwrap_or(0);
    let mut c = SegmentCheck {
        file: f.clone(),
        format: 0,
        bytes,
        events: None,
        sha256: None,
        vouched: Vouched::Pending,
        problems: Vec::new(),
    };
    match f.format {
        FileFormat::Redb => {
            match guarded(&f.path, || SegmentReader::open(f).and_then(|r| Ok((r.format(), r.event_count()?)))) {
                Ok((format, n)) => (c.format, c.events) = (format, Some(n)),
                // The active segment of a running recorder reads beside it; one that does
                // not open is said (it is not vouched for either way).
                Err(e) => c.problems.push(e.to_string()),
            }
            if f.state == State::Active || named.is_none() {
                return c;
            }
            // A redb file under a name the chain has: not what it sealed.
            c.vouched = Vouched::Mismatch;
            c.problems.push("the chain has a format-2 segment of this name".into());
            c
        }
        FileFormat::Seg => {
            match chain::file_sha256(&f.path) {
                Ok(h) => c.sha256 = Some(hex(&h)),
                Err(e) => c.problems.push(e.to_string()),
            }
            c.vouched = match named {
                None if store_id.is_none() => Vouched::Pending,
                None => Vouched::Unknown,
                Some(n) if Some(&n.sha256) == c.sha256.as_ref() => Vouched::Yes,
                Some(n) => {
                    if let Some(got) = &c.sha256 {
                        c.problems.push(format!(
                            "its bytes changed since it was sealed (SHA-256 {got}, the chain has {})",
                            n.sha256
                        ));
                    }
                    Vouched::Mismatch
                }
            };
            match SegReader::open(&f.path) {
                Ok(r) => {
                    (c.format, c.events) = (r.directory().format, Some(r.event_count()));
                    let theirs = &r.directory().meta.store_id;
                    if let Some(ours) = store_id
                        && theirs != ours
                    {
                        c.problems.push(format!("it belongs to store {theirs}, not this one ({ours})"));
                    }
                    c.problems.extend(r.verify_blocks());
                }
                Err(e) => c.problems.push(e.to_string()),
            }
            c
        }
    }
}
