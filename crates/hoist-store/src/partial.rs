//! The on-disk side of a resumable download: `ingest/<hex>.partial` holds the
//! blob's bytes at their offsets, `ingest/<hex>.state` (JSON) the expected size
//! and the byte ranges already written, so a later pull of the same blob
//! downloads only what is missing.
//!
//! One process at a time owns a blob's partial file: it holds an exclusive
//! `flock` on the `.partial` file itself. Not on the state file, because the
//! state is replaced by rename, which would leave a lock on the old file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hoist_oci::Digest;
use serde::{Deserialize, Serialize};

use crate::error::io_error;
use crate::ranges::RangeSet;
use crate::{Store, StoreError};

/// What the state file says.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct StateFile {
    digest: Digest,
    size: u64,
    /// Sorted, merged `[start, end)` pairs of bytes written to the partial file.
    completed: Vec<[u64; 2]>,
}

/// A partial file this process owns (holds the lock on).
pub(crate) struct Partial {
    /// Open for reading and writing at offsets; closing it releases the lock.
    file: Arc<File>,
    path: PathBuf,
    state_path: PathBuf,
    digest: Digest,
    size: u64,
    /// Saves run one at a time, so a slower, older snapshot never lands last.
    saving: Mutex<()>,
}

/// The outcome of trying to own a blob's partial file.
pub(crate) enum Claim {
    /// Ours, with the ranges a previous download left (none for a fresh one).
    Owned(Partial, RangeSet),
    /// Another download (this process or another) holds it: try again later.
    Busy,
    /// The blob is in the store now: nothing to download.
    Committed,
}

impl Store {
    /// Tries to take the partial file of `digest` without waiting.
    pub(crate) fn claim_partial(&self, digest: &Digest, size: u64) -> Result<Claim, StoreError> {
        let ingest = self.ingest_dir();
        let path = ingest.join(format!("{}.partial", digest.hex()));
        let state_path = ingest.join(format!("{}.state", digest.hex()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Claim::Busy),
            Err(TryLockError::Error(e)) => return Err(io_error("lock", &path)(e)),
        }
        // The previous owner may have committed (renamed our file into blobs/)
        // or discarded it while we waited for the lock.
        if self.has_blob(digest) {
            if is_same_file(&file, &path) {
                // Left behind by a download that committed without cleaning up
                // (or just created by our open): nobody owns it, we hold its lock.
                let _ = fs::remove_file(&path);
                let _ = fs::remove_file(&state_path);
            }
            return Ok(Claim::Committed);
        }
        if !is_same_file(&file, &path) {
            return Ok(Claim::Busy);
        }
        let completed = read_state(&state_path, digest, size)
            .filter(|_| file.metadata().is_ok_and(|m| m.len() == size))
            .unwrap_or_default();
        if completed.ranges().is_empty() {
            // Fresh (or unusable) state: start from an empty file of the right size.
            file.set_len(0).and_then(|()| file.set_len(size)).map_err(io_error("resize", &path))?;
        }
        let partial =
            Partial { file: Arc::new(file), path, state_path, digest: digest.clone(), size, saving: Mutex::new(()) };
        Ok(Claim::Owned(partial, completed))
    }
}

impl Partial {
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Records the ranges written so far: a temp file renamed over the state
    /// file, so a crash leaves the old state or the new one. Not fsynced: after
    /// a power loss a state may claim bytes the disk lost, which the digest check
    /// at the end catches (the blob is then refused, never committed).
    /// `completed` is asked for while saves are serialised, so the newest
    /// snapshot is always the one that lands.
    pub(crate) fn save(&self, completed: impl FnOnce() -> RangeSet) -> Result<(), StoreError> {
        let _saving = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let completed = completed();
        let state = StateFile {
            digest: self.digest.clone(),
            size: self.size,
            completed: completed.ranges().iter().map(|r| [r.start, r.end]).collect(),
        };
        let bytes = serde_json::to_vec(&state).map_err(|e| io_error("encode", &self.state_path)(e.into()))?;
        let temp = self.state_path.with_extension("state-new");
        let mut file = File::create(&temp).map_err(io_error("create", &temp))?;
        if let Err(error) = file.write_all(&bytes) {
            // A cut temp file would only be clutter (on a full disk, too): the
            // last state saved stays the one a resume reads.
            let _ = fs::remove_file(&temp);
            return Err(io_error("write", &temp)(error));
        }
        fs::rename(&temp, &self.state_path).map_err(io_error("replace", &self.state_path))
    }

    /// Removes the partial file and its state (best effort: prune clears ingest/
    /// of anything left), for a download that never wrote a byte.
    pub(crate) fn discard(self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_file(&self.state_path);
    }

    /// Removes the state file, once the blob is committed or refused.
    pub(crate) fn remove_state(&self) -> Result<(), StoreError> {
        match fs::remove_file(&self.state_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", &self.state_path)(e)),
            _ => Ok(()),
        }
    }
}

/// The completed ranges a state file records for this blob, or `None` if it is
/// missing, unreadable or about another blob or size.
fn read_state(path: &Path, digest: &Digest, size: u64) -> Option<RangeSet> {
    let state: StateFile = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    if state.digest != *digest || state.size != size {
        return None;
    }
    // Ranges out of order or past the end mean a damaged file: trust none of it.
    let in_bounds = state.completed.iter().all(|[start, end]| start < end && *end <= size);
    in_bounds.then(|| RangeSet::from_ranges(state.completed.iter().map(|[start, end]| *start..*end)))
}

/// Whether `path` still names the file we opened (and locked): not when the
/// previous owner renamed or removed it meanwhile.
fn is_same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.is_file()
    }
}

#[cfg(test)]
// One-element lists of ranges are what these tests mean, not a mistaken `vec![a..b]`.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("s"));
        store.init().unwrap();
        (dir, store)
    }

    #[test]
    fn state_round_trips_and_is_checked() {
        let (_dir, store) = store();
        let digest = Digest::of(b"blob");
        let Claim::Owned(partial, completed) = store.claim_partial(&digest, 100).unwrap() else { panic!("not owned") };
        assert!(completed.ranges().is_empty());
        assert_eq!(fs::metadata(partial.path()).unwrap().len(), 100);
        let written = RangeSet::from_ranges([0..10, 50..60, 10..20]);
        partial.save(|| written.clone()).unwrap();
        let json = fs::read_to_string(&partial.state_path).unwrap();
        assert!(json.contains(r#""completed":[[0,20],[50,60]]"#), "{json}");
        assert_eq!(read_state(&partial.state_path, &digest, 100), Some(written));
        assert_eq!(read_state(&partial.state_path, &digest, 99), None, "another size");
        assert_eq!(read_state(&partial.state_path, &Digest::of(b"other"), 100), None, "another blob");

        fs::write(&partial.state_path, br#"{"digest":"x"}"#).unwrap();
        assert_eq!(read_state(&partial.state_path, &digest, 100), None, "damaged");
        let beyond = format!(r#"{{"digest":"{digest}","size":100,"completed":[[0,10],[90,101]]}}"#);
        fs::write(&partial.state_path, beyond).unwrap();
        assert_eq!(read_state(&partial.state_path, &digest, 100), None, "past the end");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_save_that_finds_the_disk_full_keeps_the_last_state_and_leaves_no_temp_file() {
        let (_dir, store) = store();
        let digest = Digest::of(b"blob");
        let Claim::Owned(partial, _) = store.claim_partial(&digest, 64).unwrap() else { panic!("not owned") };
        partial.save(|| RangeSet::from_ranges([0..16])).unwrap();
        // Writes to /dev/full fail as on a full disk (ENOSPC).
        let temp = partial.state_path.with_extension("state-new");
        std::os::unix::fs::symlink("/dev/full", &temp).unwrap();
        let error = partial.save(|| RangeSet::from_ranges([0..32])).unwrap_err();
        assert!(error.to_string().contains("state-new"), "{error}");
        assert!(fs::symlink_metadata(&temp).is_err(), "the temp file is gone");
        assert_eq!(read_state(&partial.state_path, &digest, 64), Some(RangeSet::from_ranges([0..16])));
    }

    #[test]
    fn one_owner_at_a_time_and_state_survives_the_owner() {
        let (_dir, store) = store();
        let digest = Digest::of(b"blob");
        let Claim::Owned(partial, _) = store.claim_partial(&digest, 64).unwrap() else { panic!("not owned") };
        assert!(matches!(store.claim_partial(&digest, 64).unwrap(), Claim::Busy));
        partial.save(|| RangeSet::from_ranges([0..32])).unwrap();
        drop(partial);
        let Claim::Owned(partial, completed) = store.claim_partial(&digest, 64).unwrap() else { panic!("not owned") };
        assert_eq!(completed.ranges(), [0..32]);
        partial.remove_state().unwrap();
        partial.remove_state().unwrap();
        drop(partial);
        let Claim::Owned(_, completed) = store.claim_partial(&digest, 64).unwrap() else { panic!("not owned") };
        assert!(completed.ranges().is_empty(), "no state: start over");
    }
}
