//! Received bytes in memory, shared by the hasher and the disk write.
//!
//! A worker copies what arrives into an aligned buffer of its own
//! ([`Received`]), placed so that file offsets and memory addresses agree
//! modulo [`ALIGN`]: the piece's block-aligned middle then goes to the disk
//! past the page cache straight from that buffer, and the HTTP client's
//! buffers are free again at once (they are reused rather than faulted in
//! anew). That copy is the only one in user space.
//!
//! Each piece is handed at once to the hasher and to the part's write queue,
//! so hashing never waits for the disk and a disk that stalls for a moment
//! does not stop the hash. Its bytes are counted in a [`Budget`] until both
//! are done with it (the last [`Piece`] clone dropped), when its buffer goes
//! back to the budget's spares; a worker waits for room in the budget before
//! it hands over more, so memory stays bounded whichever of the two falls
//! behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::direct::{ALIGN, AlignedBuffer};

/// Received bytes kept in memory for the hasher and the disk; beyond, the
/// workers wait. A disk that stalls for a moment fills it, not the receiving.
/// It is also how far parts past the hasher's prefix may run ahead in memory.
pub(super) const HELD_LIMIT: u64 = 64 << 20;
/// Room beyond the limit for the piece the hasher needs next (so bytes past a
/// gap in the prefix cannot take all of memory and starve it), and for bytes
/// past a gap going to the disk alone.
const EXTRA_ROOM: u64 = 16 << 20;

/// What is known when a piece of `len` bytes asks to be held.
pub(super) struct Ask {
    pub(super) len: u64,
    /// Bytes the budget holds now.
    pub(super) held: u64,
    /// Of those, bytes handed to the hasher and not yet hashed.
    pub(super) handed_over: u64,
    /// The piece starts where the hasher goes on next.
    pub(super) next_for_the_hasher: bool,
    /// The piece lies past a gap in the received prefix, and the hasher has
    /// hashed all it can and waits for the bytes of that gap.
    pub(super) past_a_gap_the_hasher_waits_at: bool,
}

/// Where a piece went besides the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Handed {
    /// To the hasher too, in memory.
    ToTheHasher,
    /// Nowhere: the hasher reads it back when it gets there.
    ToTheDiskAlone,
}

/// Where a piece goes, or `None` while it must wait for room. Within the
/// limit, to the hasher (and the disk). Beyond it, the piece the hasher needs
/// next still goes to the hasher, within some extra room; and a piece past a
/// gap the hasher waits at goes to the disk alone, when what fills the budget
/// is mostly bytes handed over past gaps: on a link limited per connection
/// the parts past the prefix then keep receiving instead of waiting for the
/// one that holds it. When the budget is full of bytes waiting for a slow
/// disk, more of them would not help, and a single stream (which leaves no
/// gap) or a busy hasher (which does not wait) never reads back.
pub(super) fn route(ask: &Ask) -> Option<Handed> {
    let held = ask.held + ask.len;
    let within_extra = held <= HELD_LIMIT + EXTRA_ROOM;
    if held <= HELD_LIMIT || (ask.next_for_the_hasher && within_extra) {
        Some(Handed::ToTheHasher)
    } else if ask.past_a_gap_the_hasher_waits_at && ask.handed_over >= HELD_LIMIT / 2 && within_extra {
        Some(Handed::ToTheDiskAlone)
    } else {
        None
    }
}

/// Bytes of received pieces held in memory, for the hasher or the disk, and
/// the buffers of pieces released, for the next.
#[derive(Default)]
pub(super) struct Budget {
    held: AtomicU64,
    spare: Mutex<Vec<AlignedBuffer>>,
    /// Signalled whenever a piece is released (and when the download stops).
    pub(super) room: Notify,
}

impl Budget {
    /// Bytes held now.
    pub(super) fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }

    fn buffer(&self) -> AlignedBuffer {
        self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default()
    }
}

/// The bytes a worker has received and not yet handed over, at most `room`
/// of them, in an aligned buffer: the first sits `offset % ALIGN` bytes in.
pub(super) struct Received {
    buffer: AlignedBuffer,
    skip: usize,
    room: usize,
    pub(super) len: u64,
}

impl Received {
    /// An empty buffer for up to `room` bytes, the first of them for `offset`.
    pub(super) fn starting_at(offset: u64, room: usize, budget: &Budget) -> Received {
        Received { buffer: budget.buffer(), skip: (offset % ALIGN) as usize, room, len: 0 }
    }

    /// Copies as much of `bytes` as there is room for; returns how many.
    pub(super) fn fill(&mut self, bytes: &[u8]) -> usize {
        let n = (self.room - self.len as usize).min(bytes.len());
        let at = self.skip + self.len as usize;
        self.buffer.window(self.skip + self.room)[at..at + n].copy_from_slice(&bytes[..n]);
        self.len += n as u64;
        n
    }

    pub(super) fn is_full(&self) -> bool {
        self.len as usize == self.room
    }

    /// The first `len` bytes, to be held as a piece; the rest moves to a fresh
    /// buffer (a cut on a block boundary leaves less than a block).
    pub(super) fn take(&mut self, len: u64, budget: &Budget) -> Taken {
        let len = len.min(self.len) as usize;
        let rest = self.len as usize - len;
        let rest_at = self.skip + len;
        let skip = rest_at % ALIGN as usize;
        let mut next = budget.buffer();
        next.window(skip + self.room)[skip..skip + rest]
            .copy_from_slice(&self.buffer.window(self.skip + self.room)[rest_at..rest_at + rest]);
        let taken = Taken { buffer: std::mem::replace(&mut self.buffer, next), skip: self.skip, len };
        (self.skip, self.len) = (skip, rest as u64);
        taken
    }
}

/// Bytes taken from a [`Received`], not yet counted in the budget.
pub(super) struct Taken {
    buffer: AlignedBuffer,
    skip: usize,
    len: usize,
}

/// Bytes received for one stretch of the blob; clones share them.
#[derive(Clone)]
pub(super) struct Piece {
    held: Arc<Held>,
}

impl Piece {
    /// Counts `taken` in `budget` until the piece and all its clones are dropped.
    pub(super) fn hold(taken: Taken, budget: &Arc<Budget>) -> Piece {
        budget.held.fetch_add(taken.len as u64, Ordering::AcqRel);
        Piece { held: Arc::new(Held { taken, budget: Arc::clone(budget) }) }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        let Taken { buffer, skip, len } = &self.held.taken;
        &buffer.filled(skip + len)[*skip..]
    }

    pub(super) fn len(&self) -> u64 {
        self.held.taken.len as u64
    }
}

/// Releases a piece from the budget, and keeps its buffer, when the last clone goes.
struct Held {
    taken: Taken,
    budget: Arc<Budget>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.taken.buffer);
        self.budget.spare.lock().unwrap_or_else(|p| p.into_inner()).push(buffer);
        self.budget.held.fetch_sub(self.taken.len as u64, Ordering::AcqRel);
        self.budget.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn ask(held: u64, handed_over: u64) -> Ask {
        Ask { len: MIB, held, handed_over, next_for_the_hasher: false, past_a_gap_the_hasher_waits_at: false }
    }

    #[test]
    fn within_the_limit_a_piece_goes_to_the_hasher() {
        assert_eq!(route(&ask(0, 0)), Some(Handed::ToTheHasher));
        assert_eq!(route(&ask(HELD_LIMIT - MIB, 0)), Some(Handed::ToTheHasher));
        assert_eq!(route(&ask(HELD_LIMIT, HELD_LIMIT)), None, "full: wait");
    }

    #[test]
    fn the_piece_the_hasher_needs_next_gets_extra_room() {
        let next = Ask { next_for_the_hasher: true, ..ask(HELD_LIMIT, HELD_LIMIT) };
        assert_eq!(route(&next), Some(Handed::ToTheHasher));
        let beyond = Ask { next_for_the_hasher: true, ..ask(HELD_LIMIT + EXTRA_ROOM, HELD_LIMIT) };
        assert_eq!(route(&beyond), None, "memory stays bounded");
    }

    #[test]
    fn past_a_gap_the_hasher_waits_at_a_piece_goes_to_the_disk_alone() {
        let past_a_gap = |held, handed_over| Ask { past_a_gap_the_hasher_waits_at: true, ..ask(held, handed_over) };
        assert_eq!(route(&past_a_gap(HELD_LIMIT, HELD_LIMIT)), Some(Handed::ToTheDiskAlone));
        assert_eq!(route(&past_a_gap(HELD_LIMIT + EXTRA_ROOM, HELD_LIMIT)), None, "memory stays bounded");
        assert_eq!(route(&past_a_gap(HELD_LIMIT, MIB)), None, "the budget waits for the disk: more would not help");
        assert_eq!(route(&ask(HELD_LIMIT, HELD_LIMIT)), None, "the hasher is busy, or there is no gap: wait");
    }

    #[test]
    fn a_piece_is_held_until_its_last_clone_goes() {
        let budget = Arc::new(Budget::default());
        let mut received = Received::starting_at(0, 16, &budget);
        received.fill(b"abcde");
        let piece = Piece::hold(received.take(5, &budget), &budget);
        assert_eq!((piece.bytes(), budget.held()), (&b"abcde"[..], 5));
        let for_the_disk = piece.clone();
        drop(piece);
        assert_eq!(budget.held(), 5, "the write still holds it");
        drop(for_the_disk);
        assert_eq!(budget.held(), 0);
        assert_eq!(budget.spare.lock().unwrap().len(), 1, "its buffer is kept for the next");
    }

    /// Bytes land in memory at their file offset's place in a block, so the
    /// aligned middle of a piece is aligned in memory; the rest after a cut
    /// starts a new buffer in the same way.
    #[test]
    fn received_bytes_sit_where_their_offset_says() {
        let budget = Arc::new(Budget::default());
        let content: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut received = Received::starting_at(100, 10_000, &budget);
        assert_eq!(received.fill(&content), 10_000, "as much as there is room for");
        assert!(received.is_full());
        // From offset 100 up to the block boundary at 8192.
        let first = Piece::hold(received.take(8092, &budget), &budget);
        assert_eq!(first.bytes(), &content[..8092]);
        assert_eq!(first.bytes()[3996..].as_ptr() as usize % ALIGN as usize, 0, "offset 4096 is aligned");
        assert_eq!(received.len, 1908);
        assert_eq!(received.fill(&content[10_000..]), 8092);
        let second = Piece::hold(received.take(10_000, &budget), &budget);
        assert_eq!(second.bytes(), &content[8092..18_092]);
        assert_eq!(second.bytes().as_ptr() as usize % ALIGN as usize, 0, "offset 8192 is aligned");
    }
}
