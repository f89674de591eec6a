//! When a ranged download splits a part and how much each request asks for.
//!
//! Three measurements decide: each worker's [`Pace`] (bytes written since it
//! took its piece), the hasher's idle share ([`HasherClock`]: waiting for
//! bytes means the receiving side holds the pull back) and the machine's idle
//! share ([`MachineClock`]: with no core free, a fast connection's receiving
//! side is this machine, and another connection would only share the same
//! cores; a slow one's never is). Kept apart from the download's plumbing so
//! that the rules can be read, and tested, in one place.

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
/// Once no split is coming (the hasher or the machine is the bottleneck),
/// requests ask for this much of the pace: fewer round trips, and a link that
/// slows down later strands at most this much in one request.
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
/// ... and, for a connection faster than [`CPU_BOUND_FROM`], the machine's
/// cores were idle more than this share of the time: at least half a core
/// free on two, two cores on eight.
const SPLIT_IF_MACHINE_IDLE: f64 = 0.25;
/// A connection slower than this is held back by its link, never by this
/// machine's CPU (receiving it costs a few percent of one core), however busy
/// the machine is with other work: a CDN's limit per connection on a machine
/// that compiles still gains from more connections.
const CPU_BOUND_FROM: f64 = 128.0 * 1024.0 * 1024.0;
/// How long a judgement of the machine holds before `/proc/stat` is read again.
const MACHINE_JUDGED_FOR: Duration = Duration::from_millis(100);

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

    /// Leaves the time since `waiting_since` out of the pace: waiting for the
    /// disk or for room says nothing about the link.
    pub(super) fn exclude_wait(&mut self, waiting_since: Instant) {
        self.since = (self.since + waiting_since.elapsed()).min(Instant::now());
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
        let rate = self.rate();
        let span = match splits {
            Splits::Pointless => (rate * LONG_REQUEST_SPAN.as_secs_f64()) as u64,
            Splits::Unknown | Splits::Worth => {
                ((rate * REQUEST_SPAN.as_secs_f64()) as u64).min(remaining / parts as u64)
            }
        };
        span.clamp(MIN_REQUEST, MAX_REQUEST)
    }

    /// Bytes per second (0 before any came).
    fn rate(&self) -> f64 {
        let elapsed = self.since.elapsed().as_secs_f64();
        if elapsed > 0.0 { self.bytes as f64 / elapsed } else { 0.0 }
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
    /// The hasher is the bottleneck: another connection would not help.
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

    /// Whether the hasher is waiting for bytes now.
    pub(super) fn is_waiting(&self) -> bool {
        self.waiting_since.is_some()
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

/// The machine's CPU time, idle and all, since the download started, from
/// Linux's `/proc/stat` (elsewhere nothing is known, and only the hasher
/// decides).
pub(super) struct MachineClock {
    start: Option<CpuTimes>,
    /// The last judgement and when it was made: `/proc/stat` is read at most
    /// once per [`MACHINE_JUDGED_FOR`].
    judged: Option<(Instant, Splits)>,
}

/// Idle and total CPU time of all cores, in the kernel's ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CpuTimes {
    idle: u64,
    total: u64,
}

impl CpuTimes {
    fn now() -> Option<CpuTimes> {
        CpuTimes::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The first line of `/proc/stat`: `cpu  user nice system idle iowait irq
    /// softirq steal ...`. Iowait is not idle: a core waiting for the disk
    /// says the disk is the bottleneck, which more connections do not help.
    /// Guest time is already in user time, so the total stops at steal.
    fn parse(stat: &str) -> Option<CpuTimes> {
        let mut fields = stat.lines().next()?.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let ticks: Vec<u64> = fields.take(8).map(str::parse).collect::<Result<_, _>>().ok()?;
        let idle = *ticks.get(3)?;
        Some(CpuTimes { idle, total: ticks.iter().sum() })
    }
}

impl MachineClock {
    pub(super) fn starting() -> MachineClock {
        MachineClock { start: CpuTimes::now(), judged: None }
    }

    /// Whether the machine had cores to spare since the download started.
    fn splits(&mut self) -> Splits {
        let Some(start) = self.start else { return Splits::Worth };
        if let Some((at, judged)) = self.judged
            && at.elapsed() < MACHINE_JUDGED_FOR
        {
            return judged;
        }
        let judged = match CpuTimes::now() {
            Some(now) => judge_machine(start, now),
            None => Splits::Worth,
        };
        self.judged = Some((Instant::now(), judged));
        judged
    }
}

fn judge_machine(start: CpuTimes, now: CpuTimes) -> Splits {
    let total = now.total.saturating_sub(start.total);
    // A few ticks say little: wait for more.
    if total < 20 {
        return Splits::Unknown;
    }
    let idle = now.idle.saturating_sub(start.idle) as f64 / total as f64;
    if idle > SPLIT_IF_MACHINE_IDLE { Splits::Worth } else { Splits::Pointless }
}

/// Whether a split of the part arriving at `pace` would help: only when the
/// hasher has time to spare, and, for a connection fast enough to be held
/// back by this machine's CPU, the machine too; no when either is the
/// bottleneck.
pub(super) fn splits(hasher: &HasherClock, machine: &mut MachineClock, pace: &Pace) -> Splits {
    match hasher.splits() {
        Splits::Worth if pace.rate() < CPU_BOUND_FROM => Splits::Worth,
        Splits::Worth => machine.splits(),
        judged => judged,
    }
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
    fn the_machine_s_idle_share_comes_from_proc_stat() {
        let stat = "cpu  100 20 30 400 50 0 5 0 0 0\ncpu0 50 10 15 200 25 0 3 0 0 0\n";
        assert_eq!(CpuTimes::parse(stat), Some(CpuTimes { idle: 400, total: 605 }));
        assert_eq!(CpuTimes::parse("intr 1 2 3\n"), None);
        assert_eq!(CpuTimes::parse("cpu  1 2\n"), None, "too few fields");
        let start = CpuTimes { idle: 1000, total: 2000 };
        assert_eq!(judge_machine(start, CpuTimes { idle: 1005, total: 2010 }), Splits::Unknown, "10 ticks");
        assert_eq!(judge_machine(start, CpuTimes { idle: 1010, total: 2100 }), Splits::Pointless, "10% idle");
        assert_eq!(judge_machine(start, CpuTimes { idle: 1080, total: 2100 }), Splits::Worth, "80% idle");
        if cfg!(target_os = "linux") {
            assert!(CpuTimes::now().is_some(), "/proc/stat reads on Linux");
        }
    }

    #[test]
    fn a_split_needs_both_the_hasher_and_the_machine_idle() {
        let idle_hasher = HasherClock { started: Some(ago(1000)), waiting_since: Some(ago(900)), ..Default::default() };
        let busy_hasher = HasherClock { started: Some(ago(1000)), ..HasherClock::default() };
        let start = Some(CpuTimes { idle: 0, total: 0 });
        let busy_machine = || MachineClock { start, judged: Some((Instant::now(), Splits::Pointless)) };
        let no_proc_stat = || MachineClock { start: None, judged: None };
        let fast = Pace { since: ago(1000), bytes: 600 << 20 };
        let slow = Pace { since: ago(1000), bytes: 20 << 20 };
        assert_eq!(splits(&idle_hasher, &mut busy_machine(), &fast), Splits::Pointless, "600 MiB/s on busy cores");
        assert_eq!(splits(&idle_hasher, &mut busy_machine(), &slow), Splits::Worth, "20 MiB/s: the link's limit");
        assert_eq!(splits(&busy_hasher, &mut no_proc_stat(), &slow), Splits::Pointless);
        assert_eq!(
            splits(&idle_hasher, &mut no_proc_stat(), &fast),
            Splits::Worth,
            "no /proc/stat: the hasher decides"
        );
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
}
