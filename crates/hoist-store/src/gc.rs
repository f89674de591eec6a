//! Reachability from index.json, and prune.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hoist_oci::{Descriptor, Digest, Edge, successors};

use crate::error::io_error;
use crate::lock::LockFile;
use crate::{MAX_MANIFEST_SIZE, Store, StoreError};

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub blobs_removed: usize,
    pub bytes_freed: u64,
    pub ingest_files_removed: usize,
    /// Cache entries (see [`Store::cache_lookup`]) dropped with their blobs.
    pub cache_entries_dropped: usize,
}

/// A file in blobs/sha256: its path, its digest if the name is one, its size.
pub(crate) struct BlobFile {
    pub(crate) path: PathBuf,
    pub(crate) digest: Option<Digest>,
    pub(crate) size: u64,
}

impl Store {
    /// Removes every blob not reachable from index.json, the cache entries that
    /// pointed at them, and everything in ingest/, which includes the partial
    /// files and state of interrupted pulls: a pull after a prune starts those
    /// blobs over.
    ///
    /// Blocks until no write session holds the gc lock, then holds it exclusive, so
    /// it never deletes a blob a writer has committed but not yet tagged. Calling it
    /// while this thread holds a [`WriteSession`](crate::WriteSession) deadlocks;
    /// use [`try_prune`](Self::try_prune) there.
    pub fn prune(&self) -> Result<PruneReport, StoreError> {
        if !self.is_initialized() {
            return Ok(PruneReport::default());
        }
        let _gc_lock = LockFile::exclusive(&self.gc_lock_path())?;
        self.prune_locked()
    }

    /// Like [`prune`](Self::prune), but returns `Ok(None)` at once if a writer holds
    /// the gc lock.
    pub fn try_prune(&self) -> Result<Option<PruneReport>, StoreError> {
        if !self.is_initialized() {
            return Ok(Some(PruneReport::default()));
        }
        match LockFile::try_exclusive(&self.gc_lock_path())? {
            Some(_gc_lock) => self.prune_locked().map(Some),
            None => Ok(None),
        }
    }

    fn prune_locked(&self) -> Result<PruneReport, StoreError> {
        // Without index.json every blob would look like garbage: refuse instead.
        let index_path = self.index_path();
        let index = self.read_index()?.ok_or_else(|| io_error("read", &index_path)(io::ErrorKind::NotFound.into()))?;
        let keep = self.reachable(index.manifests.iter(), Subjects::Follow);
        let mut report = PruneReport::default();
        for blob in self.blob_files()? {
            if blob.digest.as_ref().is_some_and(|digest| keep.contains_key(digest)) {
                continue;
            }
            match fs::remove_file(&blob.path) {
                Ok(()) => {
                    report.blobs_removed += 1;
                    report.bytes_freed += blob.size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &blob.path)(e)),
            }
        }
        // index.json updates stage their temp file in ingest/ under the index lock
        // without the gc lock (untag): taking it here keeps us from deleting one.
        let _index_lock = LockFile::exclusive(&self.index_lock_path())?;
        // Caches do not keep blobs alive: their entries go with their blobs.
        report.cache_entries_dropped = self.retain_cache_entries(|digest| keep.contains_key(digest))?;
        let ingest = self.ingest_dir();
        for entry in read_dir_if_exists(&ingest)? {
            let path = entry.map_err(io_error("list", &ingest))?.path();
            let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            match removed {
                Ok(()) => report.ingest_files_removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &path)(e)),
            }
        }
        Ok(report)
    }

    /// Every digest reachable from `roots`, with the size its descriptor gives
    /// (roots found in a partial index entry may lack one) and whether it is a
    /// layer.
    ///
    /// Walks by [`hoist_oci::successors`]: manifests and indexes are read, never
    /// layers. A referrer's `subject` is followed only with `Subjects::Follow`
    /// (prune keeps what referrers point at; completeness does not need it).
    /// Missing, oversized or unreadable manifests are leaves.
    pub(crate) fn reachable<'a>(
        &self,
        roots: impl Iterator<Item = &'a Descriptor>,
        subjects: Subjects,
    ) -> BTreeMap<Digest, Reached> {
        let mut reached = BTreeMap::new();
        let mut walked = BTreeSet::new();
        let mut to_walk: Vec<Descriptor> = roots.cloned().collect();
        while let Some(node) = to_walk.pop() {
            reached.entry(node.digest.clone()).or_insert(Reached { size: Some(node.size), layer: false });
            if !walked.insert(node.digest.clone()) {
                continue;
            }
            let Ok(bytes) = self.read_blob_unverified(&node.digest, MAX_MANIFEST_SIZE) else { continue };
            let Ok(children) = successors(&bytes) else { continue };
            for child in children {
                match child.edge {
                    Edge::Subject if subjects == Subjects::Skip => {}
                    edge if edge.is_graph_node() => to_walk.push(child.descriptor),
                    edge => {
                        let size = Some(child.descriptor.size);
                        reached.entry(child.descriptor.digest).or_insert(Reached { size, layer: edge == Edge::Layer });
                    }
                }
            }
        }
        reached
    }

    /// Blobs under `root` (itself included) that the store does not hold: the
    /// layers a `pull --include` left out, or damage. Empty means complete.
    pub fn missing_blobs(&self, root: &Descriptor) -> Vec<Digest> {
        self.reachable(std::iter::once(root), Subjects::Skip)
            .into_keys()
            .filter(|digest| !self.has_blob(digest))
            .collect()
    }

    /// The files in blobs/sha256, sorted by name; none if the directory is missing.
    pub(crate) fn blob_files(&self) -> Result<Vec<BlobFile>, StoreError> {
        let dir = self.blobs_dir();
        let mut blobs = Vec::new();
        for entry in read_dir_if_exists(&dir)? {
            let entry = entry.map_err(io_error("list", &dir))?;
            let path = entry.path();
            // A file removed since listing is simply not there any more.
            let Ok(metadata) = fs::symlink_metadata(&path) else { continue };
            if !metadata.is_file() {
                continue;
            }
            let digest = entry.file_name().to_str().and_then(|hex| format!("sha256:{hex}").parse().ok());
            blobs.push(BlobFile { path, digest, size: metadata.len() });
        }
        blobs.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(blobs)
    }
}

/// A blob reached from the index: the size its descriptor gives, if any, and
/// whether a manifest lists it as a layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reached {
    pub(crate) size: Option<u64>,
    pub(crate) layer: bool,
}

/// Whether a walk goes on from a referrer to its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subjects {
    Follow,
    Skip,
}

fn read_dir_if_exists(dir: &Path) -> Result<Vec<io::Result<fs::DirEntry>>, StoreError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries.collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error("list", dir)(e)),
    }
}
