//! Targets: every place that holds content (the local store, a registry
//! repository, an image-layout directory) seen through two small traits, so
//! that push, pull and copy are one operation, [`copy_graph`](crate::copy_graph).

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::{Descriptor, Digest};

/// A blob's bytes as they arrive.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Errors of any target, naming the target (`store /x`, `registry.io/team/m`).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{what} not found in {target}")]
    NotFound { what: String, target: String },
    #[error("{digest} from {target}: {problem}")]
    Verification { digest: Digest, target: String, problem: String },
    #[error("{target}: {what} is not supported")]
    Unsupported { target: String, what: String },
    /// A failure the same request would meet again: refused credentials, a
    /// bad answer, a local I/O error.
    #[error("{target}")]
    Backend {
        target: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A failure another attempt may not meet: a connection that failed or
    /// broke, a 5xx or 429 answer. `retry_after` is the target's own request
    /// to wait, if it made one.
    #[error("{target}")]
    Transient {
        target: String,
        retry_after: Option<Duration>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TargetError {
    /// Wraps a target's own error, naming the target: a permanent failure.
    pub fn backend(target: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        TargetError::Backend { target: target.into(), source: source.into() }
    }

    /// Wraps a target's own error that another attempt may not meet.
    pub fn transient(
        target: impl Into<String>,
        retry_after: Option<Duration>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        TargetError::Transient { target: target.into(), retry_after, source: source.into() }
    }

    /// Whether the failure is worth another attempt (see [`crate::retry`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, TargetError::Transient { .. })
    }

    /// How long the target asked to wait before another attempt, if it asked.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TargetError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Where content is read from.
#[async_trait]
pub trait Source: Send + Sync {
    /// How errors and progress name this target.
    fn name(&self) -> String;

    /// The descriptor a reference (tag, or digest) names here.
    async fn resolve(&self, reference: &str) -> Result<Descriptor, TargetError>;

    /// A small blob (manifest, index, config), whole and verified against `descriptor`.
    async fn fetch_all(&self, descriptor: &Descriptor) -> Result<Vec<u8>, TargetError>;

    /// A blob's bytes from `offset` to the end. Unverified: the destination hashes
    /// what it writes and refuses a mismatch.
    async fn fetch(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, TargetError>;

    /// Bytes `start..end` of a blob, for parallel and resumed downloads.
    /// `Ok(None)` when this source cannot serve ranges (the default): the
    /// caller then reads one stream with [`fetch`](Self::fetch).
    async fn fetch_range(
        &self,
        _descriptor: &Descriptor,
        _start: u64,
        _end: u64,
    ) -> Result<Option<BlobStream>, TargetError> {
        Ok(None)
    }

    /// The registry host and repository this source lives in, for cross-repository
    /// mounts. None for anything but a registry.
    fn registry_repository(&self) -> Option<(String, String)> {
        None
    }
}

/// Where content is written to.
#[async_trait]
pub trait Destination: Send + Sync {
    /// How errors and progress name this target.
    fn name(&self) -> String;

    /// Whether the blob or manifest is already here.
    async fn exists(&self, descriptor: &Descriptor) -> Result<bool, TargetError>;

    /// Copies one blob from `source`. The bytes become visible only after their
    /// size and digest have been checked against `descriptor`.
    async fn copy_blob(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        progress: &dyn TransferReporter,
    ) -> Result<(), TargetError>;

    /// Stores a manifest or index: exactly these bytes.
    async fn push_manifest(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<(), TargetError>;

    /// Names a stored manifest.
    async fn tag(&self, descriptor: &Descriptor, reference: &str) -> Result<(), TargetError>;

    /// Makes a blob that `source` holds in another repository of the same
    /// registry appear here without uploading it. `Ok(false)` when that is not
    /// possible (the default): the caller then copies the blob.
    async fn mount(&self, _descriptor: &Descriptor, _source: &dyn Source) -> Result<bool, TargetError> {
        Ok(false)
    }
}

/// How a blob reached the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Its bytes were transferred.
    Copied,
    /// The destination had it already.
    Skipped,
    /// Mounted from another repository of the same registry.
    Mounted,
}

/// Progress of a copy, for a binary to draw. Called from several tasks at once.
pub trait TransferReporter: Send + Sync {
    fn blob_started(&self, _descriptor: &Descriptor) {}
    /// `bytes` more bytes of this blob arrived.
    fn blob_progress(&self, _descriptor: &Descriptor, _bytes: u64) {}
    /// The destination read `bytes` of this blob back from its own disk to
    /// hash them (bytes an interrupted earlier copy wrote), once per blob.
    fn blob_read_back(&self, _descriptor: &Descriptor, _bytes: u64) {}
    fn blob_done(&self, _descriptor: &Descriptor, _outcome: BlobOutcome) {}
}

/// A reporter that reports nothing.
pub struct NoTransferReporter;
impl TransferReporter for NoTransferReporter {}
