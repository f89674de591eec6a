//! Reading committed blobs.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use hoist_oci::Digest;

use crate::error::io_error;
use crate::{Store, StoreError};

/// The largest manifest or index the store reads: what registries accept
/// (distribution's limit), far above any real manifest.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

impl Store {
    /// `<root>/blobs/sha256/<hex>`, whether or not it exists.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    /// Whether the blob is committed.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The total size of the files in `blobs/sha256` (a progress bar's length for
    /// [`verify`](Self::verify)); 0 for a missing store.
    pub fn blobs_size(&self) -> Result<u64, StoreError> {
        Ok(self.blob_files()?.iter().map(|blob| blob.size).sum())
    }

    /// Opens a committed blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound { digest: digest.clone(), store: self.root.clone() },
            _ => io_error("open", &path)(e),
        })
    }

    /// Reads a whole blob and checks it against its digest, refusing blobs larger
    /// than `max_len` (manifests and configs are small; this protects memory).
    pub fn read_blob(&self, digest: &Digest, max_len: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read_blob_unverified(digest, max_len)?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            let problem = format!("content hashes to {actual}");
            return Err(StoreError::Corrupt { digest: digest.clone(), path: self.blob_path(digest), problem });
        }
        Ok(bytes)
    }

    /// Like [`read_blob`](Self::read_blob) without the hash check, for the gc walk:
    /// a damaged manifest that still parses must keep its layers alive.
    pub(crate) fn read_blob_unverified(&self, digest: &Digest, max_len: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let file = self.open_blob(digest)?;
        let too_large =
            |size| StoreError::BlobTooLarge { digest: digest.clone(), path: path.clone(), size, max: max_len };
        let size = file.metadata().map_err(io_error("read", &path))?.len();
        if size > max_len {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // One byte past the limit tells a file that grew since the size check.
        file.take(max_len.saturating_add(1)).read_to_end(&mut bytes).map_err(io_error("read", &path))?;
        if bytes.len() as u64 > max_len {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }
}
