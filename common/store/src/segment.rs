//! Segment files in a data directory and their names.
//!
//! `<seq>.active.redb` is the one segment the recorder writes. Sealing renames it to
//! `<seq>-<first>-<last>.redb`, where first and last are the wall-clock nanoseconds of its
//! earliest and latest event, so a query picks the segments of a time window from the
//! directory listing alone. `seq` is zero-padded to 10 digits and only grows.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub seq: u64,
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

pub fn parse(path: &Path) -> Option<SegmentFile> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".redb")?;
    if let Some(seq) = stem.strip_suffix(".active") {
        return Some(SegmentFile { path: path.to_path_buf(), seq: seq.parse().ok()?, state: State::Active });
    }
    let mut parts = stem.split('-');
    let seq = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(SegmentFile { path: path.to_path_buf(), seq, state: State::Sealed { first, last } })
}

/// What a data directory holds, by name and by file type (never following a link).
#[derive(Debug, Default)]
pub struct Listing {
    /// Segment files, oldest first.
    pub segments: Vec<SegmentFile>,
    /// `.redb` files whose names are not segment names.
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
        if path.extension().is_none_or(|e| e != "redb") {
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
    l.segments.sort_by_key(|s| s.seq);
    l.strangers.sort();
    l.refused.sort();
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let a = parse(Path::new(&active_name(7))).unwrap();
        assert_eq!((a.seq, a.state), (7, State::Active));
        let s = parse(Path::new(&sealed_name(8, 10, 20))).unwrap();
        assert_eq!((s.seq, s.state), (8, State::Sealed { first: 10, last: 20 }));
        assert!(s.overlaps(15, 16) && s.overlaps(20, 30) && !s.overlaps(21, 30) && !s.overlaps(0, 10));
        assert!(parse(Path::new("ctrail.redb")).is_none());
        assert!(parse(Path::new("1-2-3-4.redb")).is_none());
    }
}
