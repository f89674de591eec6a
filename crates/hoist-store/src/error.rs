use std::io;
use std::path::{Path, PathBuf};

use hoist_oci::{Digest, OciError};
use thiserror::Error;

/// Everything that can go wrong in the store. Each message names what failed and
/// the path, reference or digest concerned.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("could not {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is not an OCI image layout: it is not an empty directory and has no oci-layout file \
         (use a new or empty directory for the store)",
        path.display()
    )]
    NotALayout { path: PathBuf },
    #[error("{}: {reason}", path.display())]
    UnsupportedLayout { path: PathBuf, reason: String },
    #[error("could not parse {}", path.display())]
    InvalidIndex {
        path: PathBuf,
        #[source]
        source: OciError,
    },
    #[error("blob {digest} is not in store {}", store.display())]
    BlobNotFound { digest: Digest, store: PathBuf },
    #[error("blob {digest} in {}: size {size}, more than the {max} bytes allowed here", path.display())]
    BlobTooLarge { digest: Digest, path: PathBuf, size: u64, max: u64 },
    /// Content that does not match its digest or size (a staged blob checked
    /// against what the caller expected, or a blob read back from the store).
    #[error("blob {digest} in {}: {problem}", path.display())]
    Corrupt { digest: Digest, path: PathBuf, problem: String },
    /// A source failed to deliver part of a blob in a ranged download (after
    /// retries, where retrying made sense).
    #[error("blob {digest}, bytes {start}..{end}: {problem}")]
    RangeFailed { digest: Digest, start: u64, end: u64, problem: String },
    #[error("no model named {query} in store {}", store.display())]
    NotFound { query: String, store: PathBuf },
    /// A model ID prefix that matches several models; `candidates` are their digests.
    #[error("{query} is ambiguous: it matches {}; type more of the ID", candidates.join(", "))]
    Ambiguous { query: String, candidates: Vec<String> },
    #[error("cannot tag {reference} as {digest}: the reference pins another digest")]
    TagDigestMismatch { reference: String, digest: Digest },
}

/// Maps an I/O error to [`StoreError::Io`] naming the action and path.
pub(crate) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { action, path, source }
}
