//! The store as a copy source and destination (see `hoist_oci::copy_graph`): a
//! pull copies a registry into a [`StoreDestination`], a push copies from a
//! [`Store`] to a registry. Any OCI image layout directory works the same way.

use async_trait::async_trait;
use futures_util::StreamExt;
use hoist_oci::{
    ANNOTATION_REF_NAME, BlobStream, Descriptor, Destination, Digest, Reference, Source, TargetError, TransferReporter,
};
use tokio_util::io::ReaderStream;

use crate::{Ingest, MAX_MANIFEST_SIZE, Store, StoreError, WriteSession};

/// Bytes handed to the ingest writer at once (see `Ingest::write_chunk`).
const CHUNK: usize = 4 * 1024 * 1024;
/// Configs can carry large metadata maps; manifests cannot.
const MAX_SMALL_BLOB: u64 = 64 * 1024 * 1024;

impl Store {
    fn target_name(&self) -> String {
        format!("store {}", self.root().display())
    }

    fn target_error(&self, error: StoreError) -> TargetError {
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
        let mut descriptor = Store::resolve(self, reference).map_err(|e| self.target_error(e))?.descriptor;
        // The name belongs to this store's index, not to the manifest.
        descriptor.annotations.remove(ANNOTATION_REF_NAME);
        Ok(descriptor)
    }

    async fn fetch_all(&self, descriptor: &Descriptor) -> Result<Vec<u8>, TargetError> {
        let max = if hoist_oci::media_types::is_manifest(&descriptor.media_type) {
            MAX_MANIFEST_SIZE
        } else {
            MAX_SMALL_BLOB
        };
        self.read_blob(&descriptor.digest, max.max(descriptor.size)).map_err(|e| self.target_error(e))
    }

    async fn fetch(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, TargetError> {
        use std::io::{Seek, SeekFrom};
        let mut file = self.open_blob(&descriptor.digest).map_err(|e| self.target_error(e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| TargetError::backend(self.target_name(), e))?;
        Ok(Box::pin(ReaderStream::with_capacity(tokio::fs::File::from_std(file), 1 << 20)))
    }
}

/// Writing into a store. Holds a [`WriteSession`] (the shared gc lock) from
/// creation until dropped, so create it before a copy and drop it after the tag.
pub struct StoreDestination {
    session: WriteSession,
    /// Tag with names as given (an image layout's bare tags) rather than as
    /// normalised references.
    raw_names: bool,
}

impl StoreDestination {
    /// A destination whose tags are references (`name:tag`, normalised).
    pub fn new(store: &Store) -> Result<StoreDestination, StoreError> {
        Ok(StoreDestination { session: store.write_session()?, raw_names: false })
    }

    /// A destination for an OCI image layout directory written for other tools:
    /// tags are stored as given (`oci:DIR:v1` names the image `v1`).
    pub fn image_layout(store: &Store) -> Result<StoreDestination, StoreError> {
        Ok(StoreDestination { session: store.write_session()?, raw_names: true })
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
        Ok(self.store().has_blob(&descriptor.digest))
    }

    async fn copy_blob(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        progress: &dyn TransferReporter,
    ) -> Result<(), TargetError> {
        let store_error = |e| self.store().target_error(e);
        let source_error = |e: std::io::Error| TargetError::backend(source.name(), e);
        let mut stream = source.fetch(descriptor, 0).await?;
        let mut ingest = self.session.ingest().map_err(store_error)?;
        let mut chunk = Vec::with_capacity(CHUNK);
        while let Some(bytes) = stream.next().await {
            let bytes = bytes.map_err(source_error)?;
            progress.blob_progress(descriptor, bytes.len() as u64);
            chunk.extend_from_slice(&bytes);
            if ingest.written() + chunk.len() as u64 > descriptor.size {
                // More bytes than the descriptor promises: stop reading now.
                return Err(TargetError::Verification {
                    digest: descriptor.digest.clone(),
                    target: source.name(),
                    problem: format!("more than the {} bytes expected", descriptor.size),
                });
            }
            if chunk.len() >= CHUNK {
                (ingest, chunk) = write_chunk(self.store(), ingest, chunk).await?;
            }
        }
        if !chunk.is_empty() {
            (ingest, _) = write_chunk(self.store(), ingest, chunk).await?;
        }
        let expected = (descriptor.digest.clone(), descriptor.size);
        let name = source.name();
        // finish() fsyncs: off the async threads.
        tokio::task::spawn_blocking(move || ingest.finish(Some((&expected.0, expected.1)))?.commit())
            .await
            .map_err(|e| TargetError::backend(self.name(), e))?
            .map_err(|e| match e {
                StoreError::Corrupt { digest, problem, .. } => {
                    TargetError::Verification { digest, target: name, problem }
                }
                other => store_error(other),
            })?;
        Ok(())
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
        self.session.put_bytes(bytes).map(|_| ()).map_err(|e| self.store().target_error(e))
    }

    async fn tag(&self, descriptor: &Descriptor, reference: &str) -> Result<(), TargetError> {
        let result = if self.raw_names {
            self.session.tag_name(descriptor, reference)
        } else {
            let parsed: Reference = reference.parse().map_err(|e| TargetError::backend(self.name(), e))?;
            self.session.tag(descriptor, &parsed)
        };
        result.map(|_| ()).map_err(|e| self.store().target_error(e))
    }
}

/// Hands a chunk to the ingest writer off the async threads (it may block while
/// the disk catches up), returning the ingest and an empty buffer.
async fn write_chunk(store: &Store, mut ingest: Ingest, chunk: Vec<u8>) -> Result<(Ingest, Vec<u8>), TargetError> {
    let (ingest, result) = tokio::task::spawn_blocking(move || {
        let result = ingest.write_chunk(chunk);
        (ingest, result)
    })
    .await
    .map_err(|e| TargetError::backend(store.target_name(), e))?;
    Ok((ingest, result.map_err(|e| store.target_error(e))?))
}
