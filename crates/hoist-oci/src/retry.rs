//! The one retry rule of every transfer: which failures are worth another
//! attempt ([`TargetError::is_transient`](crate::TargetError::is_transient)),
//! how many attempts, and how long to wait between them.
//!
//! Each request is retried in exactly one layer (the registry client for
//! requests it can repeat on its own, the store's downloaders for blob bodies,
//! which resume from the byte reached), so the counts below are what a user
//! sees, never a product of two layers.

use std::time::Duration;

/// Attempts of one request or one blob body, the first included.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first pause; each further pause doubles it.
const BASE_DELAY: Duration = Duration::from_millis(200);
/// The most any pause lasts, whatever a registry's `Retry-After` asks.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// The pause after attempt `attempt` (counting from 1) failed: the target's
/// own `Retry-After` where it gave one, else 200 ms doubling (200, 400, 800,
/// 1600 ms); at most 30 s.
pub fn retry_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = BASE_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    retry_after.unwrap_or(backoff).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_a_retry_after_wins_up_to_the_cap() {
        assert_eq!(retry_delay(1, None), Duration::from_millis(200));
        assert_eq!(retry_delay(3, None), Duration::from_millis(800));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(retry_delay(1, Some(Duration::from_secs(3600))), MAX_DELAY);
        assert_eq!(retry_delay(40, None), MAX_DELAY);
    }
}
