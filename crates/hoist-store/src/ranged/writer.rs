//! Writing received pieces into a blob's partial file.
//!
//! Where the file system allows it (`O_DIRECT` on Linux), the block-aligned
//! middle of every piece goes straight to the disk from the piece's own
//! aligned buffer (see `piece`): no copy into fresh page cache, and nothing
//! left for the fsync before commit to write back. The unaligned ends (a
//! piece's first and last bytes, the blob's last block) and file systems
//! without direct I/O (tmpfs) take the page cache.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::piece::Piece;
use crate::background::start_writeback;
use crate::direct::{ALIGN, open_direct, write_all_at};

/// How many of `len` bytes at `offset` to write now so that the write ends on
/// a block boundary (the rest waits for the next bytes), unless `at_end`: then
/// all of them.
pub(super) fn aligned_len(offset: u64, len: u64, at_end: bool) -> u64 {
    let end = offset + len;
    let aligned_end = end - end % ALIGN;
    if at_end || aligned_end <= offset { len } else { aligned_end - offset }
}

/// The partial file, through the page cache and, where it can be opened so,
/// directly.
pub(super) struct BlobWriter {
    buffered: Arc<File>,
    direct: Option<File>,
}

impl BlobWriter {
    pub(super) fn new(buffered: Arc<File>, path: &std::path::Path) -> BlobWriter {
        BlobWriter { buffered, direct: open_direct(path) }
    }

    /// Writes `bytes` at `offset`: the middle directly when it sits on block
    /// boundaries in the file and in memory, the ends through the page cache.
    /// Bytes that all went through the page cache start their writeback at
    /// once, as in ingest, so the fsync before commit finds little to do.
    pub(super) fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let end = offset + bytes.len() as u64;
        let head_end = offset.next_multiple_of(ALIGN).min(end);
        let tail_start = (end - end % ALIGN).max(head_end);
        let (head, rest) = bytes.split_at((head_end - offset) as usize);
        let (middle, tail) = rest.split_at((tail_start - head_end) as usize);
        match &self.direct {
            Some(direct) if (middle.as_ptr() as u64).is_multiple_of(ALIGN) => {
                write_all_at(&self.buffered, head, offset)?;
                write_all_at(direct, middle, head_end)?;
                write_all_at(&self.buffered, tail, tail_start)
            }
            _ => {
                write_all_at(&self.buffered, bytes, offset)?;
                start_writeback(&self.buffered, offset, bytes.len() as u64);
                Ok(())
            }
        }
    }
}

/// One worker's writes, made by [`WRITERS`] blocking threads while the worker
/// goes on receiving: a disk that stalls for a moment then holds pieces in
/// memory (as many as the budget allows), not the receiving, and not a thread
/// per write. With two, one write is at the disk while the other thread
/// waits for a core on a busy machine or for its own write to be taken.
pub(super) struct WriteQueue {
    jobs: std::sync::mpsc::Sender<WriteJob>,
}

/// Threads writing one worker's pieces.
const WRITERS: usize = 2;

struct WriteJob {
    piece: Piece,
    offset: u64,
    done: oneshot::Sender<io::Result<()>>,
}

impl WriteQueue {
    pub(super) fn start(writer: Arc<BlobWriter>) -> WriteQueue {
        let (jobs, queued) = std::sync::mpsc::channel::<WriteJob>();
        let queued = Arc::new(Mutex::new(queued));
        for _ in 0..WRITERS {
            let (writer, queued) = (Arc::clone(&writer), Arc::clone(&queued));
            tokio::task::spawn_blocking(move || {
                // One thread at a time waits for the next job; the writing is
                // done outside the lock. The queue ends with its sender.
                let next = || queued.lock().unwrap_or_else(|p| p.into_inner()).recv().ok();
                while let Some(WriteJob { piece, offset, done }) = next() {
                    let written = writer.write_at(piece.bytes(), offset);
                    // Released before the worker hears, so the room is there when it looks.
                    drop(piece);
                    let _ = done.send(written);
                }
            });
        }
        WriteQueue { jobs }
    }

    /// Queues `piece` for writing at `offset`; the receiver tells how it went
    /// (or closes, should the thread be gone).
    pub(super) fn write(&self, piece: Piece, offset: u64) -> oneshot::Receiver<io::Result<()>> {
        let (done, outcome) = oneshot::channel();
        let _ = self.jobs.send(WriteJob { piece, offset, done });
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::AlignedBuffer;

    #[test]
    fn writes_end_on_blocks_unless_at_the_end() {
        assert_eq!(aligned_len(0, 5000, false), 4096);
        assert_eq!(aligned_len(100, 8000, false), 3996);
        assert_eq!(aligned_len(100, 3000, false), 3000, "nothing aligned to stop at: all");
        assert_eq!(aligned_len(100, 5000, true), 5000);
    }

    /// Every split of head, direct middle and tail lands its bytes where they
    /// belong, whether or not the file system takes direct writes.
    #[test]
    fn unaligned_writes_land_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let file = Arc::new(File::options().read(true).write(true).create_new(true).open(&path).unwrap());
        let writer = BlobWriter::new(Arc::clone(&file), &path);
        let content: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut offset = 0;
        for size in [1000usize, 7192, 4096, 12_000, 3, 15_709] {
            // Placed in memory as a piece is, so that the aligned middle can go directly.
            let mut buffer = AlignedBuffer::default();
            let skip = offset % ALIGN as usize;
            buffer.window(skip + size)[skip..].copy_from_slice(&content[offset..offset + size]);
            writer.write_at(&buffer.filled(skip + size)[skip..], offset as u64).unwrap();
            offset += size;
        }
        assert_eq!(offset, content.len());
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }
}
