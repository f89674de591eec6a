use thiserror::Error;

/// Errors from parsing OCI values.
#[derive(Debug, Error)]
pub enum OciError {
    #[error("invalid digest {value:?}: {reason}")]
    InvalidDigest { value: String, reason: &'static str },
    #[error("invalid reference {value:?}: {reason}")]
    InvalidReference { value: String, reason: String },
    #[error("invalid {what} JSON: {source}")]
    InvalidJson {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}
