//! The store's chain: `DATA_DIR/chain`, one JSON line per change to the set of sealed
//! segments (a segment sealed, deleted by retention, or merged into another), each line
//! carrying the hash of the line before it. Every sealed segment's file is in it with its
//! SHA-256, so a byte changed in a segment, a segment removed or swapped in, or a line
//! rewritten shows up as a break (`ctrail verify`). Retention and compaction write lines of
//! their own, so the chain still verifies after them. The hash of the last line is the chain
//! head: an exported case carries it, so a copy held elsewhere shows whether this store was
//! rewritten since.
//!
//! Root can rewrite the whole directory consistently; what it cannot do unnoticed is change
//! history that a chain head kept elsewhere (an exported case, a shipped copy) vouches for.

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    StoreError,
    seg::{Sha256, hex, sha256},
    trust,
};

pub const CHAIN_FILE: &str = "chain";
pub const STORE_ID_FILE: &str = "store-id";

/// A segment as the chain knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub name: String,
    pub sha256: String,
    pub events: u64,
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The first line: which store this chain is of.
    Genesis { store_id: String },
    /// A segment was sealed (written as format 2).
    Sealed(Named),
    /// Retention deleted a segment; `why` is `age` or `size`.
    Deleted { segment: Named, why: String },
    /// Compaction wrote `into` from `from`, which were then removed.
    Merged { from: Vec<Named>, into: Named },
    /// A sealed segment the chain had was not in the directory when the recorder started:
    /// removed behind its back.
    Lost { segment: Named },
    /// A segment no longer opened (damaged) and was moved to `to` (under `corrupt/`).
    SetAside { segment: Named, to: String, reason: String },
    /// The chain before this line did not verify (lines rewritten or cut): it was set aside
    /// as `set_aside`, and a new one starts here.
    Restarted { set_aside: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub n: u64,
    /// Wall ns when the line was written.
    pub at: u64,
    pub prev: String,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    body: Body,
    hash: String,
}

fn line_hash(body: &Body) -> Result<Sha256, StoreError> {
    let json = serde_json::to_vec(body).map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(sha256(&json))
}

/// What the chain says, read and checked line by line.
#[derive(Debug, Clone, Default)]
pub struct ChainView {
    pub lines: Vec<Body>,
    /// The hash of the last good line.
    pub head: String,
    pub store_id: Option<String>,
    /// The first line that does not verify, and why (nothing after it is trusted).
    pub broken: Option<String>,
    /// Segments sealed and not deleted or merged away, by name.
    pub live: BTreeMap<String, Named>,
    /// What retention deleted, in order.
    pub deleted: Vec<(Named, String)>,
    /// What was set aside as damaged, and why, in order.
    pub set_aside: Vec<(Named, String)>,
    /// What was found removed, in order.
    pub lost: Vec<Named>,
}

impl ChainView {
    /// Keeps `live`, `deleted` and `set_aside` up to date with one more line.
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Sealed(s) => {
                self.live.insert(s.name.clone(), s.clone());
            }
            Op::Deleted { segment, why } => {
                self.live.remove(&segment.name);
                self.deleted.push((segment.clone(), why.clone()));
            }
            Op::Merged { from, into } => {
                for f in from {
                    self.live.remove(&f.name);
                }
                self.live.insert(into.name.clone(), into.clone());
            }
            Op::SetAside { segment, reason, .. } => {
                self.live.remove(&segment.name);
                self.set_aside.push((segment.clone(), reason.clone()));
            }
            Op::Lost { segment } => {
                self.live.remove(&segment.name);
                self.lost.push(segment.clone());
            }
            Op::Genesis { .. } | Op::Restarted { .. } => {}
        }
    }
}

/// Reads the chain of `dir`; `Ok(None)` when there is none.
pub fn read(dir: &Path) -> Result<Option<ChainView>, StoreError> {
    let path = dir.join(CHAIN_FILE);
    let f = match trust::open_regular(&path, false, false) {
        Ok(f) => f,
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut v = ChainView::default();
    let mut prev = hex(&[0u8; 32]);
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let at = i + 1;
        let text = match line {
            Ok(t) => t,
            Err(e) => {
                v.broken = Some(format!("line {at} cannot be read: {e}"));
                break;
            }
        };
        let l: Line = match serde_json::from_str(&text) {
            Ok(l) => l,
            Err(e) => {
                v.broken = Some(format!("line {at} is not a chain line: {e}"));
                break;
            }
        };
        let want = hex(&line_hash(&l.body)?);
        if l.hash != want {
            v.broken = Some(format!("line {at} does not match its own hash (it was changed)"));
            break;
        }
        if l.body.prev != prev || l.body.n != i as u64 {
            v.broken = Some(format!("line {at} does not follow line {i} (lines removed, added or reordered)"));
            break;
        }
        prev = l.hash.clone();
        match &l.body.op {
            Op::Genesis { store_id } if i == 0 => v.store_id = Some(store_id.clone()),
            Op::Genesis { .. } => {
                v.broken = Some(format!("line {at} starts a chain in the middle of one"));
                break;
            }
            _ if i == 0 => {
                v.broken = Some("line 1 does not say which store the chain is of".into());
                break;
            }
            op => v.apply(op),
        }
        v.lines.push(l.body);
    }
    v.head = prev;
    Ok(Some(v))
}

/// The recorder's handle on the chain: appends lines, durably.
pub struct Chain {
    path: PathBuf,
    file: fs::File,
    view: ChainView,
}

impl Chain {
    /// Opens the chain of `dir`, or starts one. A chain that does not verify is set aside
    /// (as evidence) and a new one is started that says so: recording must not stop because
    /// someone broke the chain. Returns the chain and, then, what was wrong.
    pub fn open(dir: &Path, store_id: &str, now: u64) -> Result<(Chain, Option<String>), StoreError> {
        let path = dir.join(CHAIN_FILE);
        let existing = read(dir)?;
        let trouble = match &existing {
            Some(v) if v.broken.is_some() => v.broken.clone(),
            Some(v) if v.store_id.as_deref() != Some(store_id) => {
                Some(format!("it is the chain of store {:?}, not of this one", v.store_id))
            }
            _ => None,
        };
        let file = |create| trust::open_regular(&path, true, create);
        match (existing, trouble) {
            (Some(view), None) => {
                let mut f = file(false)?;
                // Lines are appended (the file is not opened O_APPEND by open_regular).
                std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))
                    .map_err(|source| StoreError::Io { path: path.clone(), source })?;
                Ok((Chain { path, file: f, view }, None))
            }
            (prior, trouble) => {
                let mut set_aside = None;
                if prior.is_some() {
                    let aside = dir.join("corrupt");
                    trust::private_subdir(&aside)?;
                    let to = aside.join(format!("chain.{now}"));
                    fs::rename(&path, &to).map_err(|source| StoreError::Io { path: path.clone(), source })?;
                    set_aside = Some(to.display().to_string());
                }
                let f = file(true)?;
                let mut c = Chain { path, file: f, view: ChainView { head: hex(&[0u8; 32]), ..Default::default() } };
                c.append(Op::Genesis { store_id: store_id.to_string() }, now)?;
                c.view.store_id = Some(store_id.to_string());
                if let (Some(to), Some(reason)) = (set_aside, trouble.clone()) {
                    c.append(Op::Restarted { set_aside: to, reason }, now)?;
                }
                Ok((c, trouble))
            }
        }
    }

    pub fn view(&self) -> &ChainView {
        &self.view
    }

    /// Appends one line and syncs it to disk.
    pub fn append(&mut self, op: Op, now: u64) -> Result<(), StoreError> {
        let body = Body { n: self.view.lines.len() as u64, at: now, prev: self.view.head.clone(), op };
        let hash = hex(&line_hash(&body)?);
        let line = Line { body: body.clone(), hash: hash.clone() };
        let mut text = serde_json::to_vec(&line).map_err(|e| StoreError::Encode(e.to_string()))?;
        text.push(b'\n');
        let io = |source| StoreError::Io { path: self.path.clone(), source };
        self.file.write_all(&text).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.view.apply(&body.op);
        self.view.lines.push(body);
        self.view.head = hash;
        Ok(())
    }
}

/// The data directory's identity, made once (16 random bytes, hex): every format-2 segment
/// and the chain's first line carry it, so a segment of another store is told apart.
pub fn store_id(dir: &Path) -> Result<String, StoreError> {
    let path = dir.join(STORE_ID_FILE);
    let io = |source| StoreError::Io { path: path.clone(), source };
    match trust::open_regular(&path, false, false) {
        Ok(mut f) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut f, &mut s).map_err(io)?;
            Ok(s.trim().to_string())
        }
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let mut raw = [0u8; 16];
            std::io::Read::read_exact(&mut fs::File::open("/dev/urandom").map_err(io)?, &mut raw).map_err(io)?;
            let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            let mut f = trust::open_regular(&path, true, true)?;
            writeln!(f, "{id}").map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

/// The SHA-256 of a whole file, read without following links.
pub fn file_sha256(path: &Path) -> Result<Sha256, StoreError> {
    use sha2::Digest;
    let mut f = trust::open_regular(path, false, false)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
    Ok(h.finalize().into())
}
