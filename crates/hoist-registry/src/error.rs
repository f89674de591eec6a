//! Errors of the registry client, and how they map onto `hoist_oci::TargetError`.
//!
//! Every message names the registry (and repository), the operation and, for a
//! refused request, the HTTP status and the registry's own error codes. A
//! request that got no answer reads as a person says it ("cannot reach
//! registry r.io (connection refused)"), with the call and the HTTP stack's
//! cause chain kept as its source ([`TransportDetail`]). None ever holds a
//! credential or a token: requests are described by operation, and HTTP errors
//! by their cause chain with the URL stripped.

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
    /// body). `peer` is what could not be reached (`registry HOST`, `token
    /// service HOST`), `reason` why in a few words (`connection refused`);
    /// the call and the transport's own cause chain are the `detail` under
    /// it, for who asks (`--verbose`). `transient` when another attempt may
    /// get an answer (not a failed TLS handshake, say).
    #[error("cannot reach {peer} ({reason})")]
    Http {
        peer: String,
        reason: String,
        transient: bool,
        #[source]
        detail: TransportDetail,
    },
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

/// The whole story behind [`RegistryError::Http`]: the call and the HTTP
/// stack's cause chain (URL stripped). Kept as the error's source so that a
/// program can show it on request and hide it otherwise.
#[derive(Debug, thiserror::Error)]
#[error("{operation} at {target}: {chain}")]
pub struct TransportDetail {
    pub target: String,
    pub operation: String,
    pub chain: String,
}

impl RegistryError {
    /// A request that got no answer: `peer` is what was asked (`registry
    /// r.io`), `target` and `operation` name the call.
    pub(crate) fn unreachable(peer: String, target: &str, operation: &str, error: reqwest::Error) -> RegistryError {
        RegistryError::Http {
            peer,
            reason: unreachable_reason(&error),
            transient: crate::retry::retryable_error(&error),
            detail: TransportDetail {
                target: target.to_string(),
                operation: operation.to_string(),
                chain: describe_http_error(error),
            },
        }
    }
}

/// Why a request got no answer, in the words a person uses: refused, no such
/// host, a TLS certificate not trusted, timed out. Anything else is the
/// innermost cause's own words.
fn unreachable_reason(error: &reqwest::Error) -> String {
    if let Some(tls) = crate::tls::handshake_error(error) {
        return tls_reason(tls);
    }
    let causes = causes(error);
    let io_kind = causes.iter().find_map(|c| c.downcast_ref::<std::io::Error>()).map(std::io::Error::kind);
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => return "connection refused".into(),
        Some(std::io::ErrorKind::ConnectionReset) => return "connection reset".into(),
        Some(std::io::ErrorKind::TimedOut) => return "timed out".into(),
        _ => {}
    }
    if error.is_timeout() {
        return "timed out".into();
    }
    // hyper-util's resolver error is private: it is known by its words.
    if causes.iter().any(|c| c.to_string().starts_with("dns error")) {
        return "host name not found".into();
    }
    causes.last().map_or_else(|| error.to_string(), |c| c.to_string())
}

fn tls_reason(error: &rustls::Error) -> String {
    use rustls::CertificateError;
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "TLS certificate not trusted: unknown issuer".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "TLS certificate is for another host name".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired)
        | rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "TLS certificate expired".into()
        }
        rustls::Error::InvalidMessage(_) => "TLS handshake failed: the server does not speak TLS".into(),
        other => format!("TLS handshake failed: {other}"),
    }
}

/// An error and its causes, stepping into the error an `io::Error` wraps
/// (its `source()` skips it).
fn causes<'a>(error: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        chain.push(cause);
        next = match cause.downcast_ref::<std::io::Error>().and_then(|e| e.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    chain
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
    fn tls_failures_read_as_a_person_says_them() {
        use rustls::{CertificateError, Error, InvalidMessage};
        let reason = |error: Error| tls_reason(&error);
        assert_eq!(
            reason(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            "TLS certificate not trusted: unknown issuer"
        );
        assert_eq!(
            reason(Error::InvalidCertificate(CertificateError::NotValidForName)),
            "TLS certificate is for another host name"
        );
        assert_eq!(reason(Error::InvalidCertificate(CertificateError::Expired)), "TLS certificate expired");
        assert_eq!(
            reason(Error::InvalidMessage(InvalidMessage::InvalidContentType)),
            "TLS handshake failed: the server does not speak TLS"
        );
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
