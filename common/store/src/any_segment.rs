//! One segment, whichever way it is stored: a redb file (the active segment, one sealed but
//! not yet written as format 2, or one from before format 2) or a format-2 `.seg`. The
//! store reader asks every segment the same questions through this.

use std::ops::ControlFlow;

use ctrail_model::{BootInfo, Container, Event, Gap, ProcKey};

use crate::{
    StoreError,
    seg::reader::SegReader,
    segment::{FileFormat, SegmentFile},
    segment_reader::SegmentReader,
};

// Readers live one per segment while a query runs, a handful at a time: boxing the larger
// variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum AnySegment {
    Redb(SegmentReader),
    Seg(SegReader),
}

impl AnySegment {
    pub fn open(file: &SegmentFile) -> Result<Self, StoreError> {
        Ok(match file.format {
            FileFormat::Redb => AnySegment::Redb(SegmentReader::open(file)?),
            FileFormat::Seg => AnySegment::Seg(SegReader::open(&file.path)?),
        })
    }

    /// The store a format-2 segment says it belongs to.
    pub fn store_id(&self) -> Option<&str> {
        match self {
            AnySegment::Redb(_) => None,
            AnySegment::Seg(r) => Some(&r.directory().meta.store_id),
        }
    }

    /// Blocks that did not verify since the last call (their events were left out).
    pub fn take_problems(&self) -> Vec<String> {
        match self {
            AnySegment::Redb(_) => Vec::new(),
            AnySegment::Seg(r) => r.take_problems(),
        }
    }

    pub fn boots(&self) -> Result<Vec<(u32, BootInfo)>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.boots(),
            AnySegment::Seg(r) => Ok(r.boots()),
        }
    }

    pub fn containers(&self) -> Result<Vec<(u32, Container)>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.containers(),
            AnySegment::Seg(r) => r.containers(),
        }
    }

    pub fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.gaps(),
            AnySegment::Seg(r) => Ok(r.gaps()),
        }
    }

    pub fn created(&self) -> Result<u64, StoreError> {
        match self {
            AnySegment::Redb(r) => r.created(),
            AnySegment::Seg(r) => Ok(r.created()),
        }
    }

    pub fn checkpoint(&self) -> Result<Vec<Event>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.checkpoint(),
            AnySegment::Seg(r) => r.checkpoint(),
        }
    }

    pub fn container_index(&self, id: &str) -> Result<Option<u32>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.container_index(id),
            AnySegment::Seg(r) => Ok(r.container_index(id)),
        }
    }

    pub fn container_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.container_ids_with_prefix(prefix),
            AnySegment::Seg(r) => Ok(r.container_ids_with_prefix(prefix)),
        }
    }

    pub fn event_count(&self) -> Result<u64, StoreError> {
        match self {
            AnySegment::Redb(r) => r.event_count(),
            AnySegment::Seg(r) => Ok(r.event_count()),
        }
    }

    /// Events with `since <= time < until` that `keep` accepts, in time order; `container`
    /// narrows them to one container (by its index in this segment).
    pub fn events(
        &self,
        container: Option<u32>,
        since: u64,
        until: u64,
        keep: &dyn Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, StoreError> {
        match self {
            AnySegment::Redb(r) => {
                let mut out = Vec::new();
                let push = |e: Event| {
                    if keep(&e) {
                        out.push(e);
                    }
                    ControlFlow::Continue(())
                };
                match container {
                    Some(c) => r.for_each_container_event(c, since, until, push)?,
                    None => r.for_each_event(since, until, push)?,
                }
                Ok(out)
            }
            AnySegment::Seg(r) => Ok(kept(
                match container {
                    Some(c) => r.group_events(Some(c), since, until),
                    None => r.events(since, until),
                },
                keep,
            )),
        }
    }

    /// The groups a segment reads one at a time, one per container (the host's first,
    /// then by container ID; see [`SegReader::groups`]); `None` where its events cannot be
    /// read a container at a time (a redb segment: the caller groups them).
    pub fn groups(&self) -> Option<Vec<Option<u32>>> {
        match self {
            AnySegment::Redb(_) => None,
            AnySegment::Seg(r) => Some(r.groups()),
        }
    }

    /// The events of one group of [`Self::groups`], as [`Self::events`] answers them.
    pub fn group_events(
        &self,
        group: Option<u32>,
        since: u64,
        until: u64,
        keep: &dyn Fn(&Event) -> bool,
    ) -> Result<Vec<Event>, StoreError> {
        match self {
            // Never read by group (`groups` says so), but answered as a group all the same:
            // `None` is the host's events, not all of them.
            AnySegment::Redb(_) => {
                let host = |e: &Event| e.container.is_none() && keep(e);
                self.events(group, since, until, if group.is_none() { &host } else { keep })
            }
            AnySegment::Seg(r) => Ok(kept(r.group_events(group, since, until), keep)),
        }
    }

    pub fn events_of(&self, p: ProcKey) -> Result<Vec<Event>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.events_of(p),
            AnySegment::Seg(r) => r.events_of(p),
        }
    }

    pub fn procs_with_tgid(&self, tgid: u32) -> Result<Vec<ProcKey>, StoreError> {
        match self {
            AnySegment::Redb(r) => r.procs_with_tgid(tgid),
            AnySegment::Seg(r) => r.procs_with_tgid(tgid),
        }
    }
}

/// A `.seg` answer (events with their sequence numbers) as events that `keep` accepts.
fn kept(v: Vec<(u64, Event)>, keep: &dyn Fn(&Event) -> bool) -> Vec<Event> {
    v.into_iter().map(|(_, e)| e).filter(|e| keep(e)).collect()
}
