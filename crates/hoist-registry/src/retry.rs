//! When and how long to wait before trying a request again.
//!
//! Registries (and the proxies and load balancers in front of them) drop
//! connections and answer 5xx or 429 under load; a push or pull of many
//! gigabytes must ride that out rather than fail, but must not hammer a
//! registry that asks it to slow down.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};

/// Attempts of one request, the first included.
const MAX_ATTEMPTS: u32 = 4;
const BASE_DELAY: Duration = Duration::from_millis(200);
/// The most a registry's `Retry-After` can make us wait.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Sends the request `make` builds, again after a pause while the connection
/// fails or the registry answers 5xx or 429, up to [`MAX_ATTEMPTS`] times.
/// Only for requests that are safe to repeat.
pub(crate) async fn send_with_retries(make: impl Fn() -> RequestBuilder) -> Result<Response, reqwest::Error> {
    let mut attempt = 1;
    loop {
        let pause = match make().send().await {
            Ok(response) if retryable_status(response.status()) && attempt < MAX_ATTEMPTS => {
                delay(attempt, Some(response.headers()))
            }
            Err(error) if retryable_error(&error) && attempt < MAX_ATTEMPTS => delay(attempt, None),
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
fn retryable_error(error: &reqwest::Error) -> bool {
    (error.is_connect() || error.is_timeout() || error.is_request() || error.is_body())
        && crate::tls::handshake_error(error).is_none()
}

/// The wait before attempt `attempt + 1` (after `attempt` failed, counting from
/// 1): doubling from 200 ms, or the registry's `Retry-After` seconds, at most 30 s.
fn delay(attempt: u32, headers: Option<&HeaderMap>) -> Duration {
    let retry_after = headers
        .and_then(|h| h.get(RETRY_AFTER))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let backoff = BASE_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    retry_after.unwrap_or(backoff).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        assert_eq!(delay(1, None), Duration::from_millis(200));
        assert_eq!(delay(3, None), Duration::from_millis(800));
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(delay(1, Some(&headers)), Duration::from_secs(2));
        headers.insert(RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(delay(1, Some(&headers)), MAX_DELAY);
        assert!(retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable_status(StatusCode::NOT_FOUND));
    }
}
