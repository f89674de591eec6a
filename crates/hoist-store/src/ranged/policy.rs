//! When a ranged download splits a part and how much each request asks for.
//!
//! Three measurements decide: each worker's [`Pace`] (bytes written since it
//! took its piece), the hasher's idle share ([`HasherClock`]: waiting for bytes
//! means the link, not this machine, holds the pull back) and, once parts have
//! split, whether the splits paid off ([`SplitCheck`]). Kept apart from the
//! download's plumbing so that the rules can be read, and tested, in one place.

use std::ops::Range;
use std::time::{Duration, Instant};

/// The least remainder an idle worker splits off a busy one (it takes half).
pub(super) const MIN_SPLIT: u64 = 4 << 20;
/// A busy worker is split only if, at the pace it has shown, it would need
/// longer than this to finish: on a fast link a split wastes the bytes already
/// in flight on the owner's connection and gains nothing.
const SPLIT_IF_SLOWER_THAN: Duration = Duration::from_secs(1);
/// What one request asks for before a worker's pace is known: small, so that on
/// a slow link the first request does not become the tail.
pub(super) const FIRST_REQUEST: u64 = 16 << 20;
/// Later requests ask for about this much of the worker's time at its pace:
/// long enough that a request's round trip costs little, short enough that a
/// straggler's unrequested bytes stay available to split off.
const REQUEST_SPAN: Duration = Duration::from_millis(500);
/// Once no split is coming (the hasher is the bottleneck, or splits did not
/// pay), requests ask for this much of the pace: fewer round trips, and a
/// link that slows down later strands at most this much in one request.
const LONG_REQUEST_SPAN: Duration = Duration::from_secs(2);
/// Bounds of one request: at least what is worth splitting, at most about a
/// second of a fast disk.
const MIN_REQUEST: u64 = MIN_SPLIT;
const MAX_REQUEST: u64 = 1 << 30;
/// Request ends fall on multiples of this, so every write stays block-aligned.
const REQUEST_ALIGN: u64 = 1 << 20;
/// How long a pace or an idle share must have been measured before it is judged.
const OBSERVED_AFTER: Duration = Duration::from_millis(200);
/// Parts split only while the hasher waits for bytes more than this share of
/// its time: the link then delivers less than half of what the hash takes.
const SPLIT_IF_HASHER_IDLE: f64 = 0.5;
/// After a split, how long until the bytes written tell whether it paid off.
const SPLIT_CHECK_AFTER: Duration = Duration::from_millis(300);
/// How much faster than before the first split of a round the bytes must come
/// for splitting to go on: a link limited per connection nearly doubles with
/// twice the connections; a busy machine does not.
const SPLIT_MUST_GAIN: f64 = 1.25;

/// Bytes a worker has written since it took its piece.
#[derive(Clone, Copy)]
pub(super) struct Pace {
    pub(super) since: Instant,
    pub(super) bytes: u64,
}

impl Pace {
    pub(super) fn starting() -> Pace {
        Pace { since: Instant::now(), bytes: 0 }
    }

    /// How much the next request asks for, with `remaining` bytes of the blob
    /// still to come and `parts` workers: [`FIRST_REQUEST`] before any byte
    /// came; [`LONG_REQUEST_SPAN`] at this pace once `splits` says no split is
    /// coming; else [`REQUEST_SPAN`] at this pace, but no more than a fair
    /// share of the remainder. The pace alone can mislead: a per-connection
    /// limit may let a burst through first (nginx's `limit_rate` gives each
    /// request a second's worth at once), and bytes asked for can no longer be
    /// split off.
    pub(super) fn request_len(&self, remaining: u64, parts: usize, splits: Splits) -> u64 {
        let elapsed = self.since.elapsed().as_secs_f64();
        if self.bytes == 0 || elapsed <= 0.0 {
            return FIRST_REQUEST;
        }
        let rate = self.bytes as f64 / elapsed;
        let span = match splits {
            Splits::Pointless => (rate * LONG_REQUEST_SPAN.as_secs_f64()) as u64,
            Splits::Unknown | Splits::Worth => {
                ((rate * REQUEST_SPAN.as_secs_f64()) as u64).min(remaining / parts as u64)
            }
        };
        span.clamp(MIN_REQUEST, MAX_REQUEST)
    }

    /// Whether `remaining` bytes at this pace take longer than a split is worth.
    pub(super) fn too_slow_for(&self, remaining: u64) -> Option<bool> {
        let elapsed = self.since.elapsed();
        if elapsed < OBSERVED_AFTER {
            return None;
        }
        let needed = elapsed.as_secs_f64() * remaining as f64 / self.bytes.max(1) as f64;
        Some(needed > SPLIT_IF_SLOWER_THAN.as_secs_f64())
    }
}

/// Whether splitting busy workers would help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Splits {
    /// Too early to tell.
    Unknown,
    /// The hasher waits for the link: more connections may bring more bytes.
    Worth,
    /// The hasher is the bottleneck, or splits did not pay: another
    /// connection would not help.
    Pointless,
}

/// The hasher's time since the first byte came, and how much of it it spent
/// waiting for bytes: its idle share tells a link slower than this machine
/// (worth more connections) from a machine slower than its link (not).
#[derive(Default)]
pub(super) struct HasherClock {
    started: Option<Instant>,
    waited: Duration,
    waiting_since: Option<Instant>,
}

impl HasherClock {
    /// The hasher found nothing to hash.
    pub(super) fn pause(&mut self) {
        if self.started.is_some() && self.waiting_since.is_none() {
            self.waiting_since = Some(Instant::now());
        }
    }

    /// The hasher has bytes to hash.
    pub(super) fn resume(&mut self) {
        let now = Instant::now();
        if let Some(since) = self.waiting_since.take() {
            self.waited += now - since;
        }
        self.started.get_or_insert(now);
    }

    /// What the share of its time the hasher has waited says, once there is
    /// enough of it to judge.
    fn splits(&self) -> Splits {
        let Some(elapsed) = self.started.map(|s| s.elapsed()).filter(|e| *e >= OBSERVED_AFTER) else {
            return Splits::Unknown;
        };
        let waiting = self.waiting_since.map_or(Duration::ZERO, |since| since.elapsed());
        let idle = (self.waited + waiting).as_secs_f64() / elapsed.as_secs_f64();
        if idle > SPLIT_IF_HASHER_IDLE { Splits::Worth } else { Splits::Pointless }
    }
}

/// Whether splits pay off. A round of splits may at most double the parts at
/// work; [`SPLIT_CHECK_AFTER`] later, the bytes written since its first split
/// must come [`SPLIT_MUST_GAIN`] times faster than the download's average
/// before it, or this download splits no more. The hasher's idle share cannot
/// tell a link limited per connection from cores too busy to receive faster;
/// the bytes that more connections bring can.
#[derive(Default)]
pub(super) struct SplitCheck {
    /// When this download wrote its first byte.
    started: Option<Instant>,
    /// Bytes this download wrote.
    written: u64,
    round: Option<Round>,
    given_up: bool,
}

/// A round of splits being judged.
struct Round {
    since: Instant,
    written: u64,
    rate_before: f64,
    parts_before: usize,
}

impl SplitCheck {
    pub(super) fn wrote(&mut self, len: u64) {
        self.started.get_or_insert_with(Instant::now);
        self.written += len;
    }

    /// Whether another part may split off now, with `busy` parts at work;
    /// judges the round under way once it has run long enough.
    pub(super) fn allows(&mut self, busy: usize) -> bool {
        if self.given_up {
            return false;
        }
        let Some(round) = &self.round else { return true };
        let elapsed = round.since.elapsed();
        if elapsed < SPLIT_CHECK_AFTER {
            return busy < 2 * round.parts_before;
        }
        let rate_after = (self.written - round.written) as f64 / elapsed.as_secs_f64();
        if rate_after < round.rate_before * SPLIT_MUST_GAIN {
            self.given_up = true;
            return false;
        }
        self.round = None;
        true
    }

    /// A part split off while `busy` parts were at work.
    pub(super) fn split(&mut self, busy: usize) {
        if self.round.is_some() {
            return;
        }
        let elapsed = self.started.map_or(Duration::ZERO, |s| s.elapsed()).as_secs_f64();
        let rate_before = if elapsed > 0.0 { self.written as f64 / elapsed } else { 0.0 };
        self.round = Some(Round { since: Instant::now(), written: self.written, rate_before, parts_before: busy });
    }

    pub(super) fn given_up(&self) -> bool {
        self.given_up
    }
}

/// What the hasher and the splits so far say about splitting further.
pub(super) fn splits(hasher: &HasherClock, check: &SplitCheck) -> Splits {
    if check.given_up { Splits::Pointless } else { hasher.splits() }
}

/// The request for the start of `piece`: about `len` bytes, ending on a
/// [`REQUEST_ALIGN`] boundary, or the whole piece when `len` reaches its end.
pub(super) fn request_of(piece: &Range<u64>, len: u64) -> Range<u64> {
    let wanted = piece.start.saturating_add(len);
    if wanted >= piece.end {
        return piece.clone();
    }
    let aligned = wanted / REQUEST_ALIGN * REQUEST_ALIGN;
    piece.start..if aligned > piece.start { aligned } else { wanted }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn ago(millis: u64) -> Instant {
        Instant::now() - Duration::from_millis(millis)
    }

    #[test]
    fn requests_end_on_boundaries_or_at_the_piece_end() {
        assert_eq!(request_of(&(0..100 * MIB), 16 * MIB), 0..16 * MIB);
        assert_eq!(request_of(&(5..100 * MIB), 16 * MIB), 5..16 * MIB, "the first request realigns");
        assert_eq!(request_of(&(0..10 * MIB + 3), 16 * MIB), 0..10 * MIB + 3, "the whole piece");
        assert_eq!(request_of(&(0..10 * MIB + 3), 10 * MIB + 3), 0..10 * MIB + 3, "no sliver left over");
        assert_eq!(request_of(&(5..100 * MIB), 1000), 5..1005, "nothing aligned to stop at");
    }

    #[test]
    fn a_request_spans_half_a_second_of_the_pace_or_a_share_of_the_rest() {
        let worth = Splits::Worth;
        assert_eq!(Pace::starting().request_len(GIB, 8, worth), FIRST_REQUEST, "no pace yet");
        let span = Pace { since: ago(1000), bytes: 20 * MIB }.request_len(GIB, 8, worth);
        assert!((9 * MIB..=10 * MIB).contains(&span), "half a second at 20 MiB/s: {span}");
        assert_eq!(Pace { since: ago(1000), bytes: MIB }.request_len(GIB, 8, worth), MIN_REQUEST);
        let fast = Pace { since: ago(1000), bytes: 4 * GIB };
        assert_eq!(fast.request_len(GIB, 8, worth), GIB / 8, "an eighth of the rest for each of 8 parts");
        assert_eq!(fast.request_len(GIB, 8, Splits::Unknown), GIB / 8, "the same until the hasher tells");
        assert_eq!(fast.request_len(16 * GIB, 1, worth), MAX_REQUEST);
    }

    #[test]
    fn with_no_split_coming_a_request_spans_two_seconds() {
        let pace = Pace { since: ago(1000), bytes: 100 * MIB };
        let span = pace.request_len(GIB, 8, Splits::Pointless);
        assert!((199 * MIB..=200 * MIB).contains(&span), "two seconds at 100 MiB/s, not a share: {span}");
        let fast = Pace { since: ago(1000), bytes: 4 * GIB };
        assert_eq!(fast.request_len(GIB, 8, Splits::Pointless), MAX_REQUEST);
    }

    #[test]
    fn the_hasher_s_idle_share_decides_whether_splits_are_worth_it() {
        let mut clock = HasherClock::default();
        assert_eq!(clock.splits(), Splits::Unknown, "no byte yet");
        clock.pause();
        assert_eq!(clock.waiting_since, None, "waiting for the first byte is the request's latency");
        clock = HasherClock { started: Some(ago(1000)), ..HasherClock::default() };
        assert_eq!(clock.splits(), Splits::Pointless, "never waited");
        clock.waiting_since = Some(ago(600));
        assert_eq!(clock.splits(), Splits::Worth, "waiting for most of the second");
        clock.resume();
        assert!(clock.waited >= Duration::from_millis(600) && clock.waiting_since.is_none());
        assert_eq!(clock.splits(), Splits::Worth);
        let recent = HasherClock { started: Some(Instant::now()), ..HasherClock::default() };
        assert_eq!(recent.splits(), Splits::Unknown, "too early to judge");
    }

    /// A check whose download wrote `before` bytes in the second before a
    /// round of splits from `parts` parts, which started `round_age` ago and
    /// has written `since` bytes.
    fn round(before: u64, parts: usize, round_age: u64, since: u64) -> SplitCheck {
        let round = Round { since: ago(round_age), written: before, rate_before: before as f64, parts_before: parts };
        SplitCheck {
            started: Some(ago(1000 + round_age)),
            written: before + since,
            round: Some(round),
            given_up: false,
        }
    }

    #[test]
    fn a_round_of_splits_may_double_the_parts_then_must_pay() {
        let mut fresh = SplitCheck::default();
        assert!(fresh.allows(1), "nothing to judge yet");
        fresh.wrote(20 * MIB);
        fresh.split(1);
        assert!(fresh.allows(1) && !fresh.allows(2), "one part may become two, not three");

        let mut paid = round(20 * MIB, 1, 400, 16 * MIB);
        assert!(paid.allows(2), "40 MB/s after, 20 before: split on");
        assert!(paid.round.is_none(), "the next split starts a new round");
        assert!(paid.allows(4) && !paid.given_up());

        let mut unpaid = round(800 * MIB, 1, 400, 350 * MIB);
        assert!(!unpaid.allows(2), "875 MB/s after, 800 before: no gain worth more connections");
        assert!(unpaid.given_up() && !unpaid.allows(1), "and never again for this blob");
        assert_eq!(splits(&HasherClock::default(), &unpaid), Splits::Pointless);
    }
}
