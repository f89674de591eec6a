//! Received bytes in memory, shared by the hasher and the disk write.
//!
//! A worker hands each piece it receives to the hasher and to its write queue
//! at once, so hashing never waits for the disk and a disk that stalls for a
//! moment does not stop the hash. The piece's memory is counted in a
//! [`Budget`] until both are done with it (the last [`Piece`] clone dropped);
//! a worker waits for room in the budget before it hands over more, so memory
//! stays bounded whichever of the two falls behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::Notify;

/// Bytes of received pieces held in memory, for the hasher or the disk.
#[derive(Default)]
pub(super) struct Budget {
    held: AtomicU64,
    /// Signalled whenever a piece is released (and when the download stops).
    pub(super) room: Notify,
}

impl Budget {
    /// Bytes held now.
    pub(super) fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }
}

/// Bytes received for one stretch of the blob; clones share the bytes.
#[derive(Clone)]
pub(super) struct Piece {
    pub(super) chunks: Vec<Bytes>,
    held: Arc<Held>,
}

impl Piece {
    /// Counts `chunks` in `budget` until the piece and all its clones are dropped.
    pub(super) fn hold(chunks: Vec<Bytes>, budget: &Arc<Budget>) -> Piece {
        let len = chunks.iter().map(|c| c.len() as u64).sum();
        budget.held.fetch_add(len, Ordering::AcqRel);
        Piece { chunks, held: Arc::new(Held { len, budget: Arc::clone(budget) }) }
    }

    pub(super) fn len(&self) -> u64 {
        self.held.len
    }
}

/// Releases a piece's bytes from the budget when the last clone goes.
struct Held {
    len: u64,
    budget: Arc<Budget>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.len, Ordering::AcqRel);
        self.budget.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_is_held_until_its_last_clone_goes() {
        let budget = Arc::new(Budget::default());
        let piece = Piece::hold(vec![Bytes::from_static(b"abc"), Bytes::from_static(b"de")], &budget);
        assert_eq!((piece.len(), budget.held()), (5, 5));
        let for_the_disk = piece.clone();
        drop(piece);
        assert_eq!(budget.held(), 5, "the write still holds it");
        drop(for_the_disk);
        assert_eq!(budget.held(), 0);
    }
}
