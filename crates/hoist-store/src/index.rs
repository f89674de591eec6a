//! index.json: listing, tagging and untagging.

use std::fs;
use std::io;

use hoist_oci::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, Reference};

use crate::error::io_error;
use crate::lock::LockFile;
use crate::{ANNOTATION_PARTIAL, Store, StoreError, WriteSession};

/// One entry of index.json that has a reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    /// The full reference, as stored in the `org.opencontainers.image.ref.name` annotation.
    pub reference: String,
    /// The manifest descriptor, annotations as stored (including the ref name).
    pub descriptor: Descriptor,
}

impl Store {
    /// The tagged entries of index.json, sorted by reference. A missing store
    /// reads as empty (nothing is created).
    pub fn list(&self) -> Result<Vec<Tagged>, StoreError> {
        let mut tagged: Vec<Tagged> = self
            .index_entries()?
            .into_iter()
            .filter_map(|descriptor| Some(Tagged { reference: ref_name(&descriptor)?.to_string(), descriptor }))
            .collect();
        tagged.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(tagged)
    }

    /// Removes the index entry for exactly this reference and returns it.
    /// Blobs stay until the next prune.
    pub fn untag(&self, reference: &Reference) -> Result<Descriptor, StoreError> {
        let name = reference.to_string();
        let not_found = || StoreError::NotFound { query: name.clone(), store: self.root.clone() };
        if !self.is_initialized() {
            return Err(not_found());
        }
        self.update_index(|index| {
            let position =
                index.manifests.iter().position(|d| ref_name(d) == Some(name.as_str())).ok_or_else(not_found)?;
            Ok(index.manifests.remove(position))
        })
    }

    /// index.json, or `None` if there is none.
    pub(crate) fn read_index(&self) -> Result<Option<ImageIndex>, StoreError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => {
                ImageIndex::from_slice(&bytes).map(Some).map_err(|source| StoreError::InvalidIndex { path, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path)(e)),
        }
    }

    /// The entries of index.json; none if there is no index.
    pub(crate) fn index_entries(&self) -> Result<Vec<Descriptor>, StoreError> {
        Ok(self.read_index()?.map(|index| index.manifests).unwrap_or_default())
    }

    /// Read-modify-write of index.json under the index lock. Re-reading under the
    /// lock is what keeps two processes tagging at once from losing an entry; the
    /// write is atomic, so readers need no lock. Nothing is written if `change` fails.
    fn update_index<T>(&self, change: impl FnOnce(&mut ImageIndex) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _lock = LockFile::exclusive(&self.index_lock_path())?;
        let mut index = self.read_index()?.unwrap_or_else(|| ImageIndex::new(vec![]));
        let result = change(&mut index)?;
        index.manifests.sort_by(|a, b| ref_name(a).cmp(&ref_name(b)));
        self.write_atomic(&self.index_path(), &index.to_canonical_json())?;
        Ok(result)
    }
}

impl WriteSession {
    /// Adds or replaces the index entry for `reference`: the descriptor plus the
    /// ref-name annotation. Returns the descriptor it replaced, if any.
    ///
    /// Every blob the descriptor reaches must already be committed (the caller's
    /// job); holding this session until the tag is written is what keeps prune
    /// from removing them in between.
    pub fn tag(&self, descriptor: &Descriptor, reference: &Reference) -> Result<Option<Descriptor>, StoreError> {
        let name = reference.to_string();
        if reference.digest().is_some_and(|pinned| *pinned != descriptor.digest) {
            return Err(StoreError::TagDigestMismatch { reference: name, digest: descriptor.digest.clone() });
        }
        self.tag_name(descriptor, &name)
    }

    /// Names a manifest with `name` as it is, the way other tools name images in
    /// an image layout they write (often a bare tag such as `v1`).
    pub fn tag_name(&self, descriptor: &Descriptor, name: &str) -> Result<Option<Descriptor>, StoreError> {
        debug_assert!(
            self.store().has_blob(&descriptor.digest),
            "tagging {name} before its manifest {} is committed",
            descriptor.digest
        );
        let mut entry = descriptor.clone();
        entry.annotations.insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
        self.store().update_index(|index| {
            let replaced =
                index.manifests.iter().position(|d| ref_name(d) == Some(name)).map(|i| index.manifests.remove(i));
            // Another tool may have written duplicates; one entry per reference.
            index.manifests.retain(|d| ref_name(d) != Some(name));
            index.manifests.push(entry);
            Ok(replaced)
        })
    }
}

/// The reference an index entry carries, if any.
pub(crate) fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor.annotation(ANNOTATION_REF_NAME)
}

/// Whether an index entry names a partial model: one pulled with a layer
/// filter, whose left-out layers are absent on purpose.
pub(crate) fn is_partial(descriptor: &Descriptor) -> bool {
    descriptor.annotation(ANNOTATION_PARTIAL).is_some()
}
