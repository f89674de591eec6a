//! Writing received bytes into a blob's partial file.
//!
//! Where the file system allows it (`O_DIRECT` on Linux), the block-aligned
//! middle of every write goes straight to the disk from an aligned buffer of
//! ours: one copy in user space instead of the kernel's copy into fresh page
//! cache, and nothing left for the fsync before commit to write back. The
//! unaligned ends (a piece's first and last bytes, the blob's last block) and
//! file systems without direct I/O (tmpfs) take the page cache, one `pwritev`
//! of the chunks as they came.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::piece::Piece;
use crate::background::start_writeback;
use crate::direct::{ALIGN, AlignedBuffer, open_direct, write_all_at};

/// Bytes received for a worker's piece and not yet written, as they came.
#[derive(Default)]
pub(super) struct Received {
    chunks: Vec<Bytes>,
    pub(super) len: u64,
}

impl Received {
    pub(super) fn push(&mut self, bytes: Bytes) {
        self.len += bytes.len() as u64;
        self.chunks.push(bytes);
    }

    /// Takes the first `len` bytes (cutting a chunk if need be); the rest stays.
    pub(super) fn take(&mut self, len: u64) -> Vec<Bytes> {
        let mut taken = Vec::new();
        let mut kept = 0u64;
        let mut rest = std::mem::take(&mut self.chunks).into_iter();
        for mut chunk in rest.by_ref() {
            let room = len - kept;
            if chunk.len() as u64 > room {
                let tail = chunk.split_off(room as usize);
                if !chunk.is_empty() {
                    taken.push(chunk);
                }
                self.chunks.push(tail);
                break;
            }
            kept += chunk.len() as u64;
            taken.push(chunk);
            if kept == len {
                break;
            }
        }
        self.chunks.extend(rest);
        self.len -= len.min(self.len);
        taken
    }
}

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
    /// Buffers for direct writes, reused (fresh memory costs a fault per page).
    spare: Mutex<Vec<AlignedBuffer>>,
}

impl BlobWriter {
    pub(super) fn new(buffered: Arc<File>, path: &std::path::Path) -> BlobWriter {
        BlobWriter { buffered, direct: open_direct(path), spare: Mutex::new(Vec::new()) }
    }

    /// The partial file, opened the usual way.
    pub(super) fn file(&self) -> &File {
        &self.buffered
    }

    /// Writes `chunks` one after another from `offset`.
    pub(super) fn write_at(&self, chunks: &[Bytes], offset: u64) -> io::Result<()> {
        let len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let Some(direct) = &self.direct else { return write_all_vectored_at(&self.buffered, chunks, offset) };
        let head_end = offset.next_multiple_of(ALIGN).min(offset + len);
        let tail_start = ((offset + len) - (offset + len) % ALIGN).max(head_end);
        if tail_start == head_end {
            return write_all_vectored_at(&self.buffered, chunks, offset);
        }
        let mut rest = chunks.to_vec();
        let head = take_bytes(&mut rest, head_end - offset);
        let middle = take_bytes(&mut rest, tail_start - head_end);
        write_all_vectored_at(&self.buffered, &head, offset)?;
        self.write_direct(direct, &middle, head_end)?;
        write_all_vectored_at(&self.buffered, &rest, tail_start)
    }

    /// Copies block-aligned `chunks` into an aligned buffer and writes it past the page cache.
    fn write_direct(&self, direct: &File, chunks: &[Bytes], offset: u64) -> io::Result<()> {
        let len = chunks.iter().map(Bytes::len).sum::<usize>();
        let mut buffer = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        let window = buffer.window(len);
        let mut at = 0;
        for chunk in chunks {
            window[at..at + chunk.len()].copy_from_slice(chunk);
            at += chunk.len();
        }
        let written = write_all_at(direct, window, offset);
        self.spare.lock().unwrap_or_else(|p| p.into_inner()).push(buffer);
        written
    }
}

/// One worker's writes, made by [`WRITERS`] blocking threads while the worker
/// goes on receiving: a disk that stalls for a moment then holds pieces in
/// memory (as many as the budget allows), not the receiving, and not a thread
/// per write. Two threads keep a write at the disk while the other copies the
/// next into its buffer, or waits for a core on a busy machine.
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
                // The lock is held only to take a job; the queue ends with its sender.
                let next = || queued.lock().unwrap_or_else(|p| p.into_inner()).recv().ok();
                while let Some(WriteJob { piece, offset, done }) = next() {
                    let written = writer.write_at(&piece.chunks, offset);
                    if written.is_ok() {
                        // As in ingest: the fsync before commit then finds little to do.
                        start_writeback(writer.file(), offset, piece.len());
                    }
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

/// The first `len` bytes of `chunks`, removed from it.
fn take_bytes(chunks: &mut Vec<Bytes>, len: u64) -> Vec<Bytes> {
    let mut received = Received { len: chunks.iter().map(|c| c.len() as u64).sum(), chunks: std::mem::take(chunks) };
    let taken = received.take(len);
    *chunks = received.chunks;
    taken
}

/// Writes `chunks` one after another from `offset`, in as few system calls as
/// the kernel allows.
#[cfg(unix)]
fn write_all_vectored_at(file: &File, chunks: &[Bytes], offset: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    /// The kernel's IOV_MAX on Linux and the BSDs.
    const MAX_SLICES: usize = 1024;
    let mut slices: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).filter(|c| !c.is_empty()).collect();
    let mut first = 0;
    let mut offset = offset;
    while first < slices.len() {
        let batch = &slices[first..slices.len().min(first + MAX_SLICES)];
        let iovecs: Vec<libc::iovec> =
            batch.iter().map(|s| libc::iovec { iov_base: s.as_ptr() as *mut libc::c_void, iov_len: s.len() }).collect();
        // SAFETY: every iovec points into a slice borrowed for the whole call,
        // and the kernel only reads through them.
        let written = unsafe {
            libc::pwritev(file.as_raw_fd(), iovecs.as_ptr(), iovecs.len() as libc::c_int, offset as libc::off_t)
        };
        let mut written = match written {
            -1 => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => continue,
                e => return Err(e),
            },
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => n as usize,
        };
        offset += written as u64;
        // Drop the slices written; a slice written in part keeps its rest.
        while written > 0 {
            let slice = &mut slices[first];
            let done = written.min(slice.len());
            *slice = &slice[done..];
            written -= done;
            if slice.is_empty() {
                first += 1;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_all_vectored_at(file: &File, chunks: &[Bytes], offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut offset = offset;
    for chunk in chunks {
        let mut done = 0;
        while done < chunk.len() {
            match file.seek_write(&chunk[done..], offset + done as u64)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => done += n,
            }
        }
        offset += chunk.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(sizes: &[usize]) -> Received {
        let mut received = Received::default();
        let mut byte = 0u8;
        for &size in sizes {
            received.push(Bytes::from(
                (0..size)
                    .map(|_| {
                        byte = byte.wrapping_add(1);
                        byte
                    })
                    .collect::<Vec<u8>>(),
            ));
        }
        received
    }

    #[test]
    fn take_cuts_a_chunk_and_keeps_the_rest() {
        let mut all = received(&[3, 4, 5]);
        let expected: Vec<u8> = all.chunks.iter().flat_map(|c| c.to_vec()).collect();
        let first = all.take(5);
        assert_eq!(first.iter().map(Bytes::len).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(all.len, 7);
        let second = all.take(7);
        assert_eq!(all.len, 0);
        let joined: Vec<u8> = first.iter().chain(&second).flat_map(|c| c.to_vec()).collect();
        assert_eq!(joined, expected);
    }

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
            let chunks = [
                Bytes::copy_from_slice(&content[offset..offset + size / 2]),
                Bytes::copy_from_slice(&content[offset + size / 2..offset + size]),
            ];
            writer.write_at(&chunks, offset as u64).unwrap();
            offset += size;
        }
        assert_eq!(offset, content.len());
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }
}
