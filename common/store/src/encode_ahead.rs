//! A batch's events encoded on a helper thread while the ingest thread inserts the chunks
//! already encoded: the encoding (a tenth of a commit's time on one core) leaves the path
//! that decides the ingest rate, so the active segment takes events at redb's own rate.

use std::sync::mpsc;

use ctrail_model::Event;

use super::{StoreError, schema};

/// Events per chunk handed over: small enough that the inserting thread starts at once,
/// large enough that the hand-over costs nothing next to the encoding.
pub const CHUNK_EVENTS: usize = 1024;
/// Batches smaller than this are encoded inline: a thread start would cost more.
const AHEAD_FROM: usize = 2 * CHUNK_EVENTS;
/// Chunks encoded ahead of the inserter at most (bounds the memory of a slow commit).
const AHEAD_CHUNKS: usize = 4;

/// Consecutive events encoded into one buffer, event `i` at `ends[i-1]..ends[i]`.
pub struct Chunk {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Chunk {
    pub fn encode(events: &[Event]) -> Result<Chunk, StoreError> {
        // A fresh `Vec` per event (and its regrowth) costs three times the encoding itself.
        let mut buf = Vec::with_capacity(events.len() * 128);
        let mut ends = Vec::with_capacity(events.len());
        for e in events {
            schema::encode_into(&mut buf, e)?;
            ends.push(buf.len());
        }
        Ok(Chunk { buf, ends })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Each event's bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(s, &e)| &self.buf[s..e])
    }
}

/// Runs `insert` on the chunks of `events` as they are encoded: on a helper thread for
/// large batches, inline for small ones. `insert` must consume the chunks in order; what
/// it returns is returned. A failed encoding arrives as an `Err` item and ends the stream.
pub fn with_chunks<R>(
    events: &[Event],
    insert: impl FnOnce(&mut dyn Iterator<Item = Result<Chunk, StoreError>>) -> R,
) -> R {
    if events.len() < AHEAD_FROM {
        let mut inline = events.chunks(CHUNK_EVENTS).map(Chunk::encode);
        return insert(&mut inline);
    }
    std::thread::scope(|s| {
        let (send, recv) = mpsc::sync_channel(AHEAD_CHUNKS);
        s.spawn(move || {
            for chunk in events.chunks(CHUNK_EVENTS) {
                let encoded = Chunk::encode(chunk);
                let failed = encoded.is_err();
                // The inserter stopped (its commit failed): nothing more is wanted.
                if send.send(encoded).is_err() || failed {
                    return;
                }
            }
        });
        // Dropping the receiver when `insert` returns early unblocks the encoder.
        let mut stream = recv.into_iter();
        insert(&mut stream)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Container indexes for the synthetic events (they expect one per generated container).
    const CONTAINERS: [u32; ctrail_synthetic::CONTAINERS as usize] = {
        let mut c = [0; ctrail_synthetic::CONTAINERS as usize];
        let mut i = 0;
        while i < c.len() {
            c[i] = i as u32;
            i += 1;
        }
        c
    };

    #[test]
    fn chunks_cover_every_event_in_order_both_ways() {
        // Inline (small) and on the helper thread (large): the same bytes, in order.
        for n in [0usize, 3, AHEAD_FROM + 5] {
            let events = ctrail_synthetic::synthetic(n as u64, 0, &CONTAINERS);
            let want: Vec<Vec<u8>> = events
                .iter()
                .map(|e| {
                    let mut b = Vec::new();
                    schema::encode_into(&mut b, e).unwrap();
                    b
                })
                .collect();
            let got: Vec<Vec<u8>> = with_chunks(&events, |chunks| {
                chunks.map(Result::unwrap).flat_map(|c| c.iter().map(<[u8]>::to_vec).collect::<Vec<_>>()).collect()
            });
            assert_eq!(got, want, "{n} events");
        }
    }

    #[test]
    fn an_inserter_that_stops_early_does_not_hang_the_encoder() {
        let events = ctrail_synthetic::synthetic((AHEAD_FROM * 4) as u64, 0, &CONTAINERS);
        let first = with_chunks(&events, |chunks| chunks.next().map(|c| c.unwrap().len()));
        assert_eq!(first, Some(CHUNK_EVENTS));
    }
}
