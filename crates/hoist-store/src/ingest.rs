//! Adding blobs: a write session (the shared gc lock), ingest (hash while writing
//! into ingest/), staged blobs (checked, synced, not yet visible) and commit (rename).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoist_oci::{Digest, DigestWriter};

use crate::background::BackgroundWriter;
use crate::error::io_error;
use crate::layout::{TempFile, create_temp, sync_dir};
use crate::lock::LockFile;
use crate::{Store, StoreError};

/// Holds the gc lock shared, so a prune cannot delete blobs this writer has
/// committed but not yet tagged. Dropping the session (and every [`Ingest`] and
/// [`StagedBlob`] made from it, which share the lock) releases it.
pub struct WriteSession {
    store: Store,
    gc_lock: Arc<LockFile>,
}

impl Store {
    /// Initialises the store if needed and takes the gc lock shared. Hold the
    /// session from before the first blob is written until after tagging.
    pub fn write_session(&self) -> Result<WriteSession, StoreError> {
        self.init()?;
        let gc_lock = LockFile::shared(&self.gc_lock_path())?;
        Ok(WriteSession { store: self.clone(), gc_lock: Arc::new(gc_lock) })
    }
}

impl WriteSession {
    /// The store this session writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A new temp file in ingest/ that hashes what is written to it.
    pub fn ingest(&self) -> Result<Ingest, StoreError> {
        let (file, temp) = create_temp(&self.store.ingest_dir(), "blob")?;
        Ok(Ingest {
            hasher: DigestWriter::new(io::sink()),
            writer: BackgroundWriter::new(file, temp.path()).map_err(io_error("start a writer for", temp.path()))?,
            temp,
            blobs_dir: self.store.blobs_dir(),
            _gc_lock: Arc::clone(&self.gc_lock),
        })
    }

    /// Stages and commits bytes held in memory; returns their digest and size.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64), StoreError> {
        let mut ingest = self.ingest()?;
        ingest.write_all(bytes).map_err(io_error("write", ingest.temp.path()))?;
        ingest.finish(None)?.commit()
    }
}

/// A blob being written into ingest/. Dropped without [`finish`](Self::finish),
/// its temp file is removed.
pub struct Ingest {
    hasher: DigestWriter<io::Sink>,
    // Field order is drop order: close the file before removing it.
    writer: BackgroundWriter,
    temp: TempFile,
    blobs_dir: PathBuf,
    _gc_lock: Arc<LockFile>,
}

impl Ingest {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.hasher.written()
    }

    /// Writes an owned chunk: it is hashed on this thread while a background
    /// thread writes it (and the chunks before it) to disk. Returns an empty
    /// buffer, recycled where possible, to fill with the next chunk.
    pub fn write_chunk(&mut self, chunk: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let capacity = chunk.capacity();
        let chunk = Arc::new(chunk);
        self.writer.send(Arc::clone(&chunk)).map_err(io_error("write", self.temp.path()))?;
        // Hashing into a sink cannot fail.
        let _ = self.hasher.write_all(&chunk);
        drop(chunk);
        Ok(self.writer.spare(capacity))
    }

    /// Flushes, fsyncs and hashes. The file stays in ingest/ until committed. With
    /// `expected`, a digest or size mismatch is an error and the temp file is removed.
    pub fn finish(self, expected: Option<(&Digest, u64)>) -> Result<StagedBlob, StoreError> {
        let Ingest { hasher, writer, temp, blobs_dir, _gc_lock } = self;
        let (digest, size, _) = hasher.finish();
        let file = writer.finish().map_err(io_error("write", temp.path()))?;
        file.sync_all().map_err(io_error("sync", temp.path()))?;
        drop(file);
        if let Some(expected) = expected {
            check_expected((&digest, size), expected, temp.path())?;
        }
        Ok(StagedBlob { digest, size, temp, blobs_dir, _gc_lock })
    }
}

impl WriteSession {
    /// Stages a complete, synced file in ingest/ that was written by other means
    /// (a ranged download) and hashed as `actual`. A mismatch with `expected` is an
    /// error, and the file is removed either way unless committed.
    pub(crate) fn stage_file(
        &self,
        path: PathBuf,
        actual: (Digest, u64),
        expected: (&Digest, u64),
    ) -> Result<StagedBlob, StoreError> {
        let temp = TempFile::adopt(path);
        check_expected((&actual.0, actual.1), expected, temp.path())?;
        let (digest, size) = actual;
        Ok(StagedBlob { digest, size, temp, blobs_dir: self.store.blobs_dir(), _gc_lock: Arc::clone(&self.gc_lock) })
    }
}

/// The one check every staged blob passes when its digest and size are known
/// beforehand: both must match.
fn check_expected(actual: (&Digest, u64), expected: (&Digest, u64), path: &Path) -> Result<(), StoreError> {
    let ((digest, size), (expected_digest, expected_size)) = (actual, expected);
    let mut problems = Vec::new();
    if size != expected_size {
        problems.push(format!("size {size}, expected {expected_size}"));
    }
    if digest != expected_digest {
        problems.push(format!("content hashes to {digest}"));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(StoreError::Corrupt { digest: expected_digest.clone(), path: path.to_path_buf(), problem: problems.join("; ") })
}

/// For small writes; large ones should use [`Ingest::write_chunk`], which saves a copy.
impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_chunk(buf.to_vec()).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A complete, synced blob in ingest/, not yet visible in blobs/. Dropping it
/// without [`commit`](Self::commit) removes the temp file, so a command that fails
/// half-way leaves the store as it was.
pub struct StagedBlob {
    digest: Digest,
    size: u64,
    temp: TempFile,
    blobs_dir: PathBuf,
    _gc_lock: Arc<LockFile>,
}

impl StagedBlob {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Renames the file into `blobs/sha256/<hex>`, read-only (mode 0444). If that
    /// blob already exists with this size, the staged copy is dropped instead.
    pub fn commit(self) -> Result<(Digest, u64), StoreError> {
        let StagedBlob { digest, size, temp, blobs_dir, _gc_lock } = self;
        let target = blobs_dir.join(digest.hex());
        // Same name, same content. A wrong size means a damaged blob: replace it.
        if fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok((digest, size));
        }
        set_read_only(temp.path())?;
        // rename(2) is atomic within one file system: blobs/ never shows a partial file.
        fs::rename(temp.path(), &target).map_err(io_error("move a staged blob to", &target))?;
        temp.keep();
        sync_dir(&blobs_dir)?;
        Ok((digest, size))
    }
}

/// Blobs are immutable; read-only files keep a bundle's hardlinks from being
/// written through by accident.
fn set_read_only(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt;
        fs::Permissions::from_mode(0o444)
    };
    #[cfg(not(unix))]
    let permissions = {
        let mut permissions = fs::metadata(path).map_err(io_error("read", path))?.permissions();
        permissions.set_readonly(true);
        permissions
    };
    fs::set_permissions(path, permissions).map_err(io_error("make read-only", path))
}
