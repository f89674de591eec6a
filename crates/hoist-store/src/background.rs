//! A file written on its own thread, so that hashing (on the caller's thread)
//! and writing overlap: with two cores, ingest runs at the speed of the hash.
//! Writes go past the page cache where the file system allows (see
//! `direct.rs`), so a pack costs the same whatever the page cache is doing.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::{self, JoinHandle};

use crate::direct::SequentialWriter;

/// Chunks queued for the writer before `send` blocks: enough to absorb jitter,
/// few enough that memory stays a handful of chunks whatever the file size.
const QUEUE_DEPTH: usize = 3;

pub(crate) struct BackgroundWriter {
    to_writer: Option<SyncSender<Arc<Vec<u8>>>>,
    written_back: Receiver<Arc<Vec<u8>>>,
    thread: Option<JoinHandle<io::Result<File>>>,
}

impl BackgroundWriter {
    /// Writes `file`, which was created at `path`, from its start.
    pub fn new(file: File, path: &Path) -> io::Result<BackgroundWriter> {
        let (to_writer, chunks) = sync_channel::<Arc<Vec<u8>>>(QUEUE_DEPTH);
        let (give_back, written_back) = channel();
        let mut writer = SequentialWriter::new(file, path);
        let thread = thread::Builder::new().name("hoist-ingest".into()).spawn(move || {
            for chunk in chunks {
                writer.write(&chunk)?;
                // The receiver is gone only when the Ingest is; nothing to do then.
                let _ = give_back.send(chunk);
            }
            writer.finish()
        })?;
        Ok(BackgroundWriter { to_writer: Some(to_writer), written_back, thread: Some(thread) })
    }

    /// Queues a chunk for writing; blocks while the queue is full.
    pub fn send(&mut self, chunk: Arc<Vec<u8>>) -> io::Result<()> {
        let sender = self.to_writer.as_ref().ok_or_else(|| io::Error::other("the writer has stopped"))?;
        if sender.send(chunk).is_err() {
            // The writer thread ended early: it failed, and says why when joined.
            self.to_writer = None;
            return Err(self.join().err().unwrap_or_else(|| io::Error::other("the writer stopped")));
        }
        Ok(())
    }

    /// An empty buffer to fill next: one the writer has finished with, or a new one.
    pub fn spare(&mut self, capacity: usize) -> Vec<u8> {
        match self.written_back.try_recv().map(Arc::try_unwrap) {
            Ok(Ok(mut buffer)) => {
                buffer.clear();
                buffer
            }
            _ => Vec::with_capacity(capacity),
        }
    }

    /// Waits until every queued chunk is written and returns the file.
    pub fn finish(mut self) -> io::Result<File> {
        self.to_writer = None;
        self.join()
    }

    fn join(&mut self) -> io::Result<File> {
        let thread = self.thread.take().ok_or_else(|| io::Error::other("the writer has stopped"))?;
        thread.join().map_err(|_| io::Error::other("the writer thread panicked"))?
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.to_writer = None;
        if self.thread.is_some() {
            let _ = self.join();
        }
    }
}

/// Asks the kernel to start writing a range to disk now, without waiting, so
/// that the fsync before commit finds little left to do.
#[cfg(target_os = "linux")]
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; the fd is open
    // for the whole call because `file` is borrowed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn start_writeback(_file: &File, _offset: u64, _len: u64) {}
