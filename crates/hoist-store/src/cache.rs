//! Caches other crates keep in the store (the build's step cache): each is
//! `caches/NAME.json`, an OCI image index whose entries are descriptors of blobs
//! in this store, each annotated with its key ([`ANNOTATION_CACHE_KEY`]).
//!
//! A cache entry does not keep its blob alive: prune removes the blobs no tag
//! reaches and then drops the entries that pointed at them, so a cache never
//! holds disk space that `hoist rmi` + `hoist prune` should free. Entries are
//! written under the index lock (read, change, atomic replace), like index.json.

use std::fs;
use std::io;
use std::path::PathBuf;

use hoist_oci::{Descriptor, Digest, ImageIndex};

use crate::error::io_error;
use crate::lock::LockFile;
use crate::{Store, StoreError, WriteSession};

/// The annotation holding a cache entry's key.
pub const ANNOTATION_CACHE_KEY: &str = "io.hoist.cache.key";

const CACHES: &str = "caches";

impl Store {
    fn cache_path(&self, name: &str) -> PathBuf {
        self.root.join(CACHES).join(format!("{name}.json"))
    }

    /// The entry of cache `name` with this key, if its blob is still here.
    pub fn cache_lookup(&self, name: &str, key: &str) -> Result<Option<Descriptor>, StoreError> {
        let found = self.read_cache(name)?.into_iter().find(|d| d.annotation(ANNOTATION_CACHE_KEY) == Some(key));
        Ok(found.filter(|d| self.has_blob(&d.digest)))
    }

    /// Every entry of cache `name`; none if it does not exist.
    pub fn read_cache(&self, name: &str) -> Result<Vec<Descriptor>, StoreError> {
        let path = self.cache_path(name);
        match fs::read(&path) {
            Ok(bytes) => ImageIndex::from_slice(&bytes)
                .map(|index| index.manifests)
                .map_err(|source| StoreError::InvalidIndex { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_error("read", &path)(e)),
        }
    }

    /// Read-modify-write of every cache under the index lock (held by the caller).
    pub(crate) fn retain_cache_entries(&self, keep: impl Fn(&Digest) -> bool) -> Result<usize, StoreError> {
        let dir = self.root.join(CACHES);
        let mut dropped = 0;
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_error("list", &dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(io_error("list", &dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let before = self.read_cache(name)?;
            let after: Vec<Descriptor> = before.iter().filter(|d| keep(&d.digest)).cloned().collect();
            if after.len() != before.len() {
                dropped += before.len() - after.len();
                self.write_atomic(&path, &ImageIndex::new(after).to_canonical_json())?;
            }
        }
        Ok(dropped)
    }
}

impl WriteSession {
    /// Adds `descriptor` to cache `name` (letters, digits, `-`) under `key`,
    /// replacing any entry with that key. The blob must be committed.
    pub fn cache_insert(&self, name: &str, key: &str, descriptor: &Descriptor) -> Result<(), StoreError> {
        let store = self.store();
        let path = store.cache_path(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(io_error("name a cache", &path)(io::ErrorKind::InvalidInput.into()));
        }
        let dir = store.root.join(CACHES);
        fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        let _lock = LockFile::exclusive(&store.index_lock_path())?;
        let mut entries = store.read_cache(name)?;
        entries.retain(|d| d.annotation(ANNOTATION_CACHE_KEY) != Some(key));
        let mut entry = descriptor.clone();
        entry.annotations.insert(ANNOTATION_CACHE_KEY.to_string(), key.to_string());
        entries.push(entry);
        entries.sort_by(|a, b| a.annotation(ANNOTATION_CACHE_KEY).cmp(&b.annotation(ANNOTATION_CACHE_KEY)));
        store.write_atomic(&path, &ImageIndex::new(entries).to_canonical_json())
    }
}
