//! The store as a copy source and destination (see `hoist_oci::copy_graph`): a
//! pull copies a registry into a [`StoreDestination`], a push copies from a
//! [`Store`] to a registry. Any OCI image layout directory works the same way.

use async_trait::async_trait;
use hoist_oci::{
    ANNOTATION_REF_NAME, BlobStream, Descriptor, Destination, Digest, Reference, Source, TargetError, TransferReporter,
    media_types,
};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::blocking::blocking;
use crate::error::io_error;
use crate::ranged::{self, DEFAULT_RANGE_CONCURRENCY, RANGED_MIN_SIZE, Ranged};
use crate::streamed;
use crate::{MAX_MANIFEST_SIZE, Store, StoreError, WriteSession};

/// Configs can carry large metadata maps; manifests cannot.
const MAX_SMALL_BLOB: u64 = 64 * 1024 * 1024;

impl Store {
    pub(crate) fn target_name(&self) -> String {
        format!("store {}", self.root().display())
    }

    pub(crate) fn target_error(&self, error: StoreError) -> TargetError {
        match error {
            StoreError::NotFound { query, .. } => TargetError::NotFound { what: query, target: self.target_name() },
            StoreError::BlobNotFound { digest, .. } => {
                TargetError::NotFound { what: digest.to_string(), target: self.target_name() }
            }
            other => TargetError::backend(self.target_name(), other),
        }
    }
}

#[async_trait]
impl Source for Store {
    fn name(&self) -> String {
        self.target_name()
    }

    async fn resolve(&self, reference: &str) -> Result<Descriptor, TargetError> {
        let resolved = blocking(|| Store::resolve(self, reference));
        let mut descriptor = resolved.map_err(|e| self.target_error(e))?.descriptor;
        // The name and partial mark belong to this store's index, not to the manifest.
        descriptor.annotations.remove(ANNOTATION_REF_NAME);
        descriptor.annotations.remove(crate::ANNOTATION_PARTIAL);
        Ok(descriptor)
    }

    async fn fetch_all(&self, descriptor: &Descriptor) -> Result<Vec<u8>, TargetError> {
        let max = if hoist_oci::media_types::is_manifest(&descriptor.media_type) {
            MAX_MANIFEST_SIZE
        } else {
            MAX_SMALL_BLOB
        };
        blocking(|| self.read_blob(&descriptor.digest, max.max(descriptor.size))).map_err(|e| self.target_error(e))
    }

    async fn fetch(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, TargetError> {
        use std::io::{Seek, SeekFrom};
        let mut file = self.open_blob(&descriptor.digest).map_err(|e| self.target_error(e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| TargetError::backend(self.target_name(), e))?;
        Ok(Box::pin(ReaderStream::with_capacity(tokio::fs::File::from_std(file), 1 << 20)))
    }

    async fn fetch_range(
        &self,
        descriptor: &Descriptor,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, TargetError> {
        use std::io::{Seek, SeekFrom};
        let path = self.blob_path(&descriptor.digest);
        let mut file = self.open_blob(&descriptor.digest).map_err(|e| self.target_error(e))?;
        let len = file.metadata().map_err(|e| self.target_error(io_error("read", &path)(e)))?.len();
        if start > end || end > len {
            let problem = format!("bytes {start}..{end} of a blob of {len} bytes");
            let error = io_error("read", &path)(std::io::Error::new(std::io::ErrorKind::InvalidInput, problem));
            return Err(self.target_error(error));
        }
        file.seek(SeekFrom::Start(start)).map_err(|e| self.target_error(io_error("read", &path)(e)))?;
        let range = tokio::fs::File::from_std(file).take(end - start);
        Ok(Some(Box::pin(ReaderStream::with_capacity(range, 1 << 20))))
    }
}

/// Writing into a store. Holds a [`WriteSession`] (the shared gc lock) from
/// creation until dropped, so create it before a copy and drop it after the tag.
pub struct StoreDestination {
    session: WriteSession,
    /// Tag with names as given (an image layout's bare tags) rather than as
    /// normalised references.
    raw_names: bool,
    /// Ranges of one large blob fetched at once.
    range_concurrency: usize,
}

impl StoreDestination {
    /// A destination whose tags are references (`name:tag`, normalised).
    pub fn new(store: &Store) -> Result<StoreDestination, StoreError> {
        Ok(StoreDestination {
            session: store.write_session()?,
            raw_names: false,
            range_concurrency: DEFAULT_RANGE_CONCURRENCY,
        })
    }

    /// A destination for an OCI image layout directory written for other tools:
    /// tags are stored as given (`oci:DIR:v1` names the image `v1`).
    pub fn image_layout(store: &Store) -> Result<StoreDestination, StoreError> {
        Ok(StoreDestination {
            session: store.write_session()?,
            raw_names: true,
            range_concurrency: DEFAULT_RANGE_CONCURRENCY,
        })
    }

    /// How many ranges of one large blob (64 MiB or more) are fetched at once
    /// from a source that serves ranges (8 unless set; 0 counts as 1). Blobs
    /// copied at once are `CopyOptions::concurrency`; connections are the product.
    pub fn with_range_concurrency(mut self, ranges: usize) -> StoreDestination {
        self.range_concurrency = ranges.max(1);
        self
    }

    fn store(&self) -> &Store {
        self.session.store()
    }
}

#[async_trait]
impl Destination for StoreDestination {
    fn name(&self) -> String {
        self.store().target_name()
    }

    async fn exists(&self, descriptor: &Descriptor) -> Result<bool, TargetError> {
        let store = self.store();
        if !store.has_blob(&descriptor.digest) {
            return Ok(false);
        }
        // A manifest counts as there only with everything under it, so a full
        // pull after `pull --include` fetches the layers left out.
        let is_manifest =
            media_types::is_manifest(&descriptor.media_type) || media_types::is_index(&descriptor.media_type);
        Ok(!is_manifest || blocking(|| store.missing_blobs(descriptor)).is_empty())
    }

    async fn copy_blob(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        progress: &dyn TransferReporter,
    ) -> Result<(), TargetError> {
        if descriptor.size >= RANGED_MIN_SIZE {
            match ranged::download(&self.session, source, descriptor, progress, self.range_concurrency).await? {
                Ranged::Committed => return Ok(()),
                Ranged::Unsupported => {}
            }
        }
        streamed::download(&self.session, source, descriptor, progress).await
    }

    async fn push_manifest(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<(), TargetError> {
        let actual = Digest::of(bytes);
        if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
            return Err(TargetError::Verification {
                digest: descriptor.digest.clone(),
                target: self.name(),
                problem: format!("manifest bytes hash to {actual} ({} bytes)", bytes.len()),
            });
        }
        blocking(|| self.session.put_bytes(bytes)).map(|_| ()).map_err(|e| self.store().target_error(e))
    }

    async fn tag(&self, descriptor: &Descriptor, reference: &str) -> Result<(), TargetError> {
        // Tagging waits for the index lock and syncs index.json.
        let result = if self.raw_names {
            blocking(|| self.session.tag_name(descriptor, reference))
        } else {
            let parsed: Reference = reference.parse().map_err(|e| TargetError::backend(self.name(), e))?;
            blocking(|| self.session.tag(descriptor, &parsed))
        };
        result.map(|_| ()).map_err(|e| self.store().target_error(e))
    }
}

/// Maps an error of staging or committing a copied blob: content that does not
/// match its descriptor is the source's fault, anything else the store's.
pub(crate) fn commit_error(store: &Store, source_name: &str) -> impl FnOnce(StoreError) -> TargetError {
    let source_name = source_name.to_string();
    move |error| match error {
        StoreError::Corrupt { digest, problem, .. } => {
            TargetError::Verification { digest, target: source_name, problem }
        }
        other => store.target_error(other),
    }
}
