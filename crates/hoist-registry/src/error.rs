//! Errors of the registry client, and how they map onto `hoist_oci::TargetError`.
//!
//! Every message names the registry (and repository), the operation and, for a
//! refused request, the HTTP status and the registry's own error codes. None
//! ever holds a credential or a token: requests are described by operation, and
//! HTTP errors by their cause chain with the URL stripped.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use hoist_oci::{Digest, TargetError};
use serde::Deserialize;

/// Errors of the registry client.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered 401: no credentials, or wrong ones.
    #[error("{operation} at {target}: unauthorized (HTTP 401){errors}; check the credentials (hoist login {host})")]
    Unauthorized { target: String, host: String, operation: String, errors: RegistryErrors },
    /// The registry refused a request.
    /// `retry_after` is the registry's `Retry-After`, if it sent one.
    #[error("{operation} at {target}: HTTP {status}{errors}")]
    Status { target: String, operation: String, status: u16, errors: RegistryErrors, retry_after: Option<Duration> },
    /// The request did not get an answer (connection, TLS, timeout, broken
    /// body). `transient` when another attempt may get one (not a failed TLS
    /// handshake, say).
    #[error("{operation} at {target}: {problem}")]
    Http { target: String, operation: String, problem: String, transient: bool },
    /// The registry answered something this client cannot use.
    #[error("{operation} at {target}: {problem}")]
    InvalidResponse { target: String, operation: String, problem: String },
    /// Bytes that do not match their descriptor.
    #[error("{digest} from {target}: {problem}")]
    Verification { target: String, digest: Digest, problem: String },
    /// A reference that names no registry cannot be pulled from or pushed to.
    #[error("{reference} names no registry (e.g. registry.example.com/{reference})")]
    NoRegistry { reference: String },
    /// Reading credentials (config.json, a credential helper) failed.
    #[error("credentials for {host}: {problem}")]
    Credentials { host: String, problem: String },
    /// Setting up TLS failed (an unreadable or empty CA file).
    #[error("TLS setup: {problem}")]
    Tls { problem: String },
    /// Reading or writing a local file (config.json, a CA file).
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether the registry says the thing asked for is not there.
    pub fn is_not_found(&self) -> bool {
        match self {
            RegistryError::Status { status, errors, .. } => {
                *status == 404 || errors.has_code(&["MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"])
            }
            _ => false,
        }
    }

    /// Whether another attempt may succeed: a 5xx or 429 answer, or a
    /// connection that failed or broke. Never a 401 or 403.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            RegistryError::Http { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Whether the registry refused bytes for not matching their digest or size.
    fn is_verification(&self) -> bool {
        match self {
            RegistryError::Verification { .. } => true,
            RegistryError::Status { errors, .. } => errors.has_code(&["DIGEST_INVALID", "SIZE_INVALID"]),
            _ => false,
        }
    }

    /// The trait-boundary error: `what` names the thing asked for (a digest, a
    /// tag) and `target` the repository.
    pub(crate) fn into_target(self, target: &str, what: &str, digest: Option<&Digest>) -> TargetError {
        if self.is_not_found() {
            return TargetError::NotFound { what: what.to_string(), target: target.to_string() };
        }
        if self.is_verification() {
            let digest = match &self {
                RegistryError::Verification { digest, .. } => Some(digest.clone()),
                _ => digest.cloned(),
            };
            if let Some(digest) = digest {
                let problem = match self {
                    RegistryError::Verification { problem, .. } => problem,
                    other => other.to_string(),
                };
                return TargetError::Verification { digest, target: target.to_string(), problem };
            }
        }
        if self.is_transient() {
            let retry_after = match &self {
                RegistryError::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            return TargetError::transient(target, retry_after, self);
        }
        TargetError::backend(target, self)
    }
}

/// The `errors` list of a registry's error body, shown after the status.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RegistryErrors(pub Vec<RegistryErrorEntry>);

/// One entry of a registry's error body (`{"errors":[{"code","message"}]}`).
#[derive(Debug, Clone, Deserialize)]
pub struct RegistryErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl RegistryErrors {
    /// Parses an error body; anything else (HTML from a proxy, nothing) is no errors.
    pub(crate) fn parse(body: &[u8]) -> RegistryErrors {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            errors: Vec<RegistryErrorEntry>,
        }
        serde_json::from_slice::<Body>(body).map(|b| RegistryErrors(b.errors)).unwrap_or_default()
    }

    fn has_code(&self, codes: &[&str]) -> bool {
        self.0.iter().any(|e| codes.contains(&e.code.as_str()))
    }
}

impl fmt::Display for RegistryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            match (entry.code.is_empty(), entry.message.is_empty()) {
                (false, false) => write!(f, "{}: {}", entry.code, entry.message)?,
                (false, true) => f.write_str(&entry.code)?,
                (true, _) => f.write_str(&entry.message)?,
            }
        }
        Ok(())
    }
}

/// Describes a reqwest error by its cause chain, without the URL (an upload
/// location or a token realm could carry state that is nobody's business).
pub(crate) fn describe_http_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows_registry_errors() {
        let errors = RegistryErrors::parse(
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"},{"code":"X"}]}"#,
        );
        assert_eq!(errors.to_string(), ": DENIED: requested access to the resource is denied; X");
        assert!(RegistryErrors::parse(b"<html>bad gateway</html>").0.is_empty());
    }

    #[test]
    fn maps_to_target_errors() {
        let digest = Digest::of(b"x");
        let status = |status, code: &str| RegistryError::Status {
            target: "r.io/a".into(),
            operation: "GET blob".into(),
            status,
            errors: RegistryErrors(vec![RegistryErrorEntry { code: code.into(), message: String::new() }]),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(matches!(status(404, "").into_target("r.io/a", "x", None), TargetError::NotFound { .. }));
        assert!(matches!(
            status(400, "MANIFEST_UNKNOWN").into_target("r.io/a", "x", None),
            TargetError::NotFound { .. }
        ));
        assert!(matches!(
            status(400, "DIGEST_INVALID").into_target("r.io/a", "x", Some(&digest)),
            TargetError::Verification { .. }
        ));
        let unavailable = status(503, "").into_target("r.io/a", "x", None);
        assert!(unavailable.is_transient());
        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(2)));
        assert!(status(429, "").into_target("r.io/a", "x", None).is_transient());
        for permanent in [401, 403, 400] {
            let error = status(permanent, "").into_target("r.io/a", "x", None);
            assert!(matches!(error, TargetError::Backend { .. }), "{permanent}: {error:?}");
        }
    }
}
