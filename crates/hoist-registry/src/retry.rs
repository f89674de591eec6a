//! When and how long to wait before trying a request again.
//!
//! Registries (and the proxies and load balancers in front of them) drop
//! connections and answer 5xx or 429 under load; a push or pull of many
//! gigabytes must ride that out rather than fail, but must not hammer a
//! registry that asks it to slow down.

use std::time::Duration;

use hoist_oci::retry::retry_delay;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};

/// Sends the request `make` builds, again after a pause while the connection
/// fails or the registry answers 5xx or 429, up to `attempts` times (the
/// pauses are `hoist_oci::retry`'s rule). Only for requests that are safe to
/// repeat.
pub(crate) async fn send_with_retries(
    make: impl Fn() -> RequestBuilder,
    attempts: u32,
) -> Result<Response, reqwest::Error> {
    let mut attempt = 1;
    loop {
        let pause = match make().send().await {
            Ok(response) if retryable_status(response.status()) && attempt < attempts => {
                retry_delay(attempt, retry_after(response.headers()))
            }
            Err(error) if retryable_error(&error) && attempt < attempts => retry_delay(attempt, None),
            done => return done,
        };
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

/// Whether a status is worth another attempt.
fn retryable_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// Whether a failed send is worth another attempt: the request may never have
/// reached the registry, or its answer was cut off. A failed TLS handshake
/// (a certificate, a server speaking plain HTTP) fails the same way again.
pub(crate) fn retryable_error(error: &reqwest::Error) -> bool {
    (error.is_connect() || error.is_timeout() || error.is_request() || error.is_body())
        && crate::tls::handshake_error(error).is_none()
}

/// The registry's `Retry-After`, in seconds (the HTTP-date form is rare from
/// registries and read as absent).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_only_5xx_and_429_are_retried() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        assert!(retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable_status(StatusCode::NOT_FOUND));
        assert!(!retryable_status(StatusCode::UNAUTHORIZED));
        assert!(!retryable_status(StatusCode::FORBIDDEN));
    }
}
