//! The OCI image layout on disk: paths, `init`, and the temp-file + rename helpers
//! every write goes through.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hoist_oci::ImageIndex;
use serde::Deserialize;

use crate::error::io_error;
use crate::lock::LockFile;
use crate::{Store, StoreError};

const OCI_LAYOUT: &str = "oci-layout";
const INDEX_JSON: &str = "index.json";
const BLOBS: &str = "blobs";
const INGEST: &str = "ingest";
const GC_LOCK: &str = "gc.lock";
const INDEX_LOCK: &str = "index.lock";
/// Everything the store puts in its root: a directory holding only these is ours
/// (perhaps half-initialised by a racing process), anything else is foreign.
const OWN_NAMES: [&str; 6] = [OCI_LAYOUT, INDEX_JSON, BLOBS, INGEST, GC_LOCK, INDEX_LOCK];

const LAYOUT_VERSION: &str = "1.0.0";
const LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutFile {
    image_layout_version: String,
}

impl Store {
    /// Whether `<root>/oci-layout` exists.
    pub fn is_initialized(&self) -> bool {
        self.layout_path().is_file()
    }

    /// Creates the layout if missing. Idempotent, and safe when two processes race.
    ///
    /// Errors if the root exists and is a non-empty directory that is not an OCI
    /// layout, or if its `oci-layout` names a version other than 1.0.0.
    pub fn init(&self) -> Result<(), StoreError> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(StoreError::NotALayout { path: self.root.clone() });
        }
        let layout = self.layout_path();
        match fs::read(&layout) {
            Ok(bytes) => check_layout_version(&layout, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.check_not_foreign()?,
            Err(e) => return Err(io_error("read", &layout)(e)),
        }
        for dir in [self.blobs_dir(), self.ingest_dir()] {
            fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        }
        // Under the index lock, index.json is created only when absent, so a racing
        // init can never overwrite an entry another process has just tagged.
        let _lock = LockFile::exclusive(&self.index_lock_path())?;
        let index = self.index_path();
        if !index.try_exists().map_err(io_error("check", &index))? {
            self.write_atomic(&index, &ImageIndex::new(vec![]).to_canonical_json())?;
        }
        // oci-layout last: its presence means the layout is complete.
        if !layout.try_exists().map_err(io_error("check", &layout))? {
            self.write_atomic(&layout, LAYOUT_FILE)?;
        }
        Ok(())
    }

    fn check_not_foreign(&self) -> Result<(), StoreError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("list", &self.root)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error("list", &self.root))?;
            if !OWN_NAMES.iter().any(|name| entry.file_name() == *name) {
                return Err(StoreError::NotALayout { path: self.root.clone() });
            }
        }
        Ok(())
    }

    fn layout_path(&self) -> PathBuf {
        self.root.join(OCI_LAYOUT)
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_JSON)
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join(BLOBS).join("sha256")
    }

    pub(crate) fn ingest_dir(&self) -> PathBuf {
        self.root.join(INGEST)
    }

    pub(crate) fn gc_lock_path(&self) -> PathBuf {
        self.root.join(GC_LOCK)
    }

    pub(crate) fn index_lock_path(&self) -> PathBuf {
        self.root.join(INDEX_LOCK)
    }

    /// Replaces `target` with `bytes` all at once: readers see the old file or the
    /// new one, never a torn write.
    pub(crate) fn write_atomic(&self, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let (mut file, temp) = create_temp(&self.ingest_dir(), "write")?;
        file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io_error("write", temp.path()))?;
        fs::rename(temp.path(), target).map_err(io_error("replace", target))?;
        temp.keep();
        sync_dir(target.parent().unwrap_or(&self.root))
    }
}

fn check_layout_version(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let unsupported = |reason: String| StoreError::UnsupportedLayout { path: path.to_path_buf(), reason };
    let layout: LayoutFile =
        serde_json::from_slice(bytes).map_err(|e| unsupported(format!("not a valid oci-layout file: {e}")))?;
    if layout.image_layout_version != LAYOUT_VERSION {
        return Err(unsupported(format!(
            "image layout version {:?} is not supported (hoist reads {LAYOUT_VERSION})",
            layout.image_layout_version
        )));
    }
    Ok(())
}

/// A file in ingest/ that is removed when dropped, unless kept (renamed away).
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Takes charge of a file created by other means.
    pub(crate) fn adopt(path: PathBuf) -> TempFile {
        TempFile { path, armed: true }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Called once the file has been renamed into place: nothing left to remove.
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: prune clears ingest/ of anything left behind.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates a new, uniquely named file in `dir`.
pub(crate) fn create_temp(dir: &Path, prefix: &str) -> Result<(File, TempFile), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut last_error = None;
    // pid + counter is unique among live processes; the clock guards against a
    // stale file of a dead process that had the same pid. Retry on the rare clash.
    for _ in 0..16 {
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{prefix}-{}-{count}-{nanos}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, TempFile { path, armed: true })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(io_error("create", &path)(e)),
        }
    }
    let error = last_error.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into());
    Err(io_error("create a temporary file in", dir)(error))
}

/// A rename is durable only once its directory is synced (POSIX). Other systems
/// cannot open a directory as a file, and do not need this.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    if cfg!(unix) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_error("sync", dir))?;
    }
    Ok(())
}
