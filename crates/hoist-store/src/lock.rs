//! Advisory file locks. `std`'s locks are `flock`-style on Unix: they belong to an
//! open file description, so two opens of the same lock file conflict even inside
//! one process, and closing the file releases the lock (also when a process dies).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::StoreError;
use crate::error::io_error;

/// A held lock; dropping it closes the file, which releases the lock.
pub(crate) struct LockFile {
    _file: File,
}

impl LockFile {
    /// Blocks until the lock is held shared.
    pub(crate) fn shared(path: &Path) -> Result<LockFile, StoreError> {
        let file = open(path)?;
        file.lock_shared().map_err(io_error("lock (shared)", path))?;
        Ok(LockFile { _file: file })
    }

    /// Blocks until the lock is held exclusively.
    pub(crate) fn exclusive(path: &Path) -> Result<LockFile, StoreError> {
        let file = open(path)?;
        file.lock().map_err(io_error("lock", path))?;
        Ok(LockFile { _file: file })
    }

    /// The exclusive lock, or `None` at once if anyone else holds it.
    pub(crate) fn try_exclusive(path: &Path) -> Result<Option<LockFile>, StoreError> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LockFile { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(io_error("lock", path)(source)),
        }
    }
}

fn open(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io_error("open", path))
}
