use thiserror::Error;

/// Errors from parsing OCI values.
#[derive(Debug, Error)]
pub enum OciError {
    #[error("invalid digest {value:?}: {reason}")]
    InvalidDigest { value: String, reason: &'static str },
    #[error("invalid reference {value:?}: {reason}")]
    InvalidReference { value: String, reason: String },
    /// The parser's message is part of this one (not a source) so that every
    /// caller, logging or not, shows where the JSON went wrong.
    #[error("invalid {what} JSON: {cause}")]
    InvalidJson { what: &'static str, cause: serde_json::Error },
}
