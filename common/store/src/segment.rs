//! Segment files in a data directory and their names.
//!
//! `<seq>.active.redb` is the one segment the recorder writes (redb, events keyed by time).
//! Sealing renames it to `<seq>-<first>-<last>.redb`, where first and last are the
//! wall-clock nanoseconds of its earliest and latest event, so a query picks the segments of
//! a time window from the directory listing alone; the recorder then writes it again as a
//! compact, checksummed `<seq>-<first>-<last>.seg` (format 2) and removes the `.redb`.
//! Compaction merges the `.seg` files of seqs A..=B into `<A>+<B>-<first>-<last>.seg`.
//! `seq` is zero-padded to 10 digits and only grows.
//!
//! A reader never counts an event twice: a `.seg` replaces the `.redb` of its seq, and a
//! merged `.seg` replaces every segment whose seq it covers ([`effective`]).

use std::{
    fs,
    path::{Path, PathBuf},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    /// Earliest and latest event time; (0, 0) for a segment without events.
    Sealed {
        first: u64,
        last: u64,
    },
}

/// How a segment is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileFormat {
    /// A redb file: the active segment, one sealed but not yet written as `.seg`, or one
    /// written by a ctrail before format 2.
    Redb,
    /// Format 2: blocks, compressed and checksummed ([`crate::seg`]).
    Seg,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub seq: u64,
    /// The last seq this file holds: `seq` but for a merged segment.
    pub last_seq: u64,
    pub format: FileFormat,
    pub state: State,
}

impl SegmentFile {
    pub fn name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// Whether this segment may hold events in `[since, until)`.
    pub fn overlaps(&self, since: u64, until: u64) -> bool {
        match self.state {
            State::Active => true,
            State::Sealed { first: 0, last: 0 } => false,
            State::Sealed { first, last } => first < until && last >= since,
        }
    }

    pub fn covers(&self, seq: u64) -> bool {
        self.seq <= seq && seq <= self.last_seq
    }
}

pub fn active_name(seq: u64) -> String {
    format!("{seq:010}.active.redb")
}

/// The next active segment while it is being prepared: not a `.redb` name, so neither
/// readers nor the recorder's start-up take it for a segment; renamed to [`active_name`]
/// once the segment before it is sealed, so there is never more than one active segment.
pub fn preparing_name(seq: u64) -> String {
    format!("{seq:010}.active.preparing")
}

pub fn sealed_name(seq: u64, first: u64, last: u64) -> String {
    format!("{seq:010}-{first}-{last}.redb")
}

/// The format-2 name of seqs `seq..=last_seq` (one seq, unless merged).
pub fn seg_name(seq: u64, last_seq: u64, first: u64, last: u64) -> String {
    if last_seq == seq {
        format!("{seq:010}-{first}-{last}.seg")
    } else {
        format!("{seq:010}+{last_seq:010}-{first}-{last}.seg")
    }
}

/// Where a `.seg` is written before it is complete and durable: not a segment name.
pub fn seg_temp_name(seq: u64, last_seq: u64) -> String {
    format!("{seq:010}+{last_seq:010}.seg.tmp")
}

pub fn parse(path: &Path) -> Option<SegmentFile> {
    let name = path.file_name()?.to_str()?;
    let (stem, format) = match (name.strip_suffix(".redb"), name.strip_suffix(".seg")) {
        (Some(s), _) => (s, FileFormat::Redb),
        (_, Some(s)) => (s, FileFormat::Seg),
        _ => return None,
    };
    if format == FileFormat::Redb
        && let Some(seq) = stem.strip_suffix(".active")
    {
        let seq = seq.parse().ok()?;
        return Some(SegmentFile { path: path.to_path_buf(), seq, last_seq: seq, format, state: State::Active });
    }
    let mut parts = stem.split('-');
    let seqs = parts.next()?;
    let (seq, last_seq) = match seqs.split_once('+') {
        Some((a, b)) if format == FileFormat::Seg => (a.parse().ok()?, b.parse().ok()?),
        Some(_) => return None,
        None => {
            let s = seqs.parse().ok()?;
            (s, s)
        }
    };
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    if parts.next().is_some() || last_seq < seq {
        return None;
    }
    Some(SegmentFile { path: path.to_path_buf(), seq, last_seq, format, state: State::Sealed { first, last } })
}

/// What a data directory holds, by name and by file type (never following a link).
#[derive(Debug, Default)]
pub struct Listing {
    /// Segment files, oldest first (every one on disk: see [`effective`]).
    pub segments: Vec<SegmentFile>,
    /// `.redb` or `.seg` files whose names are not segment names.
    pub strangers: Vec<PathBuf>,
    /// Entries named like segments that are not regular files (a symlink, a FIFO...), with
    /// what they are: never opened.
    pub refused: Vec<(PathBuf, &'static str)>,
}

/// The segments in `dir`, oldest first, and what else is there that looks like one.
pub fn list(dir: &Path) -> std::io::Result<Listing> {
    let mut l = Listing::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "redb" && e != "seg") {
            continue;
        }
        // The entry's own type (d_type or lstat): a symlink is a symlink, not its target.
        let t = entry.file_type()?;
        if !t.is_file() {
            l.refused.push((path, super::trust::kind_name(t)));
            continue;
        }
        match parse(&path) {
            Some(s) => l.segments.push(s),
            None => l.strangers.push(path),
        }
    }
    l.segments.sort_by_key(|s| (s.seq, std::cmp::Reverse(s.last_seq), std::cmp::Reverse(s.format)));
    l.strangers.sort();
    l.refused.sort();
    Ok(l)
}

/// The segments a reader reads: each seq once. A `.seg` replaces the `.redb` of the same
/// seq (written from it), and the widest `.seg` replaces every other segment whose seq it
/// covers (a merge in progress, or one a crash interrupted). The others are returned as
/// superseded (the recorder removes them).
pub fn effective(segments: Vec<SegmentFile>) -> (Vec<SegmentFile>, Vec<SegmentFile>) {
    let mut keep: Vec<SegmentFile> = Vec::new();
    let mut superseded = Vec::new();
    // Widest `.seg` first within a seq (list's order): anything it covers after it goes.
    for s in segments {
        let covered = keep.iter().any(|k| k.format == FileFormat::Seg && k.covers(s.seq) && k.last_seq >= s.last_seq);
        if covered { superseded.push(s) } else { keep.push(s) }
    }
    (keep, superseded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let a = parse(Path::new(&active_name(7))).unwrap();
        assert_eq!((a.seq, a.state, a.format), (7, State::Active, FileFormat::Redb));
        let s = parse(Path::new(&sealed_name(8, 10, 20))).unwrap();
        assert_eq!((s.seq, s.last_seq, s.state), (8, 8, State::Sealed { first: 10, last: 20 }));
        assert!(s.overlaps(15, 16) && s.overlaps(20, 30) && !s.overlaps(21, 30) && !s.overlaps(0, 10));
        let g = parse(Path::new(&seg_name(8, 8, 10, 20))).unwrap();
        assert_eq!((g.seq, g.last_seq, g.format), (8, 8, FileFormat::Seg));
        let m = parse(Path::new(&seg_name(3, 9, 10, 20))).unwrap();
        assert_eq!((m.seq, m.last_seq), (3, 9));
        assert!(parse(Path::new("ctrail.redb")).is_none());
        assert!(parse(Path::new("1-2-3-4.redb")).is_none());
        assert!(parse(Path::new("0000000003+0000000009-1-2.redb")).is_none(), "only .seg files merge");
        assert!(parse(Path::new(&seg_temp_name(3, 9))).is_none());
    }

    #[test]
    fn every_seq_is_read_once() {
        let names = [
            sealed_name(1, 10, 11),
            seg_name(1, 1, 10, 11),
            seg_name(2, 2, 12, 13),
            seg_name(3, 3, 14, 15),
            seg_name(2, 3, 12, 15),
            sealed_name(4, 16, 17),
            active_name(5),
        ];
        let mut files: Vec<SegmentFile> = names.iter().map(|n| parse(Path::new(n)).unwrap()).collect();
        files.sort_by_key(|s| (s.seq, std::cmp::Reverse(s.last_seq), std::cmp::Reverse(s.format)));
        let (keep, gone) = effective(files);
        let kept: Vec<String> = keep.iter().map(SegmentFile::name).collect();
        assert_eq!(kept, [seg_name(1, 1, 10, 11), seg_name(2, 3, 12, 15), sealed_name(4, 16, 17), active_name(5)]);
        assert_eq!(gone.len(), 3);
    }
}
