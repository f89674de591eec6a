//! How downloads retry: a few attempts, with exponential backoff, each
//! continuing from the byte the last one reached.

use std::time::Duration;

/// Attempts per stream or range before a download gives up.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
const BASE_DELAY: Duration = Duration::from_millis(200);

/// Waits before attempt number `attempt + 1` (200 ms, 400 ms, 800 ms ...).
pub(crate) async fn pause(attempt: u32) {
    tokio::time::sleep(BASE_DELAY * (1 << attempt.saturating_sub(1).min(6))).await;
}
