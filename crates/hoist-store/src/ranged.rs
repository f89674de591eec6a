//! Parallel, resumable download of one large blob into the store.
//!
//! The first worker fetches each missing range of the blob in bounded
//! requests (`Source::fetch_range`), writing what arrives at its offset in the
//! blob's partial file (see `partial.rs`). Idle workers split off the second
//! half of what a busy one has not asked for yet, and so on, but only while
//! that helps (the rules are in `policy`): while the hasher waits for bytes
//! more than half its time and, for a connection fast enough that this
//! machine's CPU could be what limits it, the machine's cores are idle more
//! than a quarter of theirs (the link, not this machine, holds the pull back), and
//! the busy worker would need more than a second for its remainder. So a slow or
//! per-connection-limited link ends up with every worker busy, and one slow
//! connection never holds the tail; a fast link, or a machine whose cores are
//! the bottleneck, stays one connection making a few long requests.
//! A split never takes bytes already asked for: those are on their way (in
//! socket buffers, proxies) and cutting them off would fetch them twice.
//! The bytes received are cut in [`WRITE_SIZE`] pieces, each handed at once,
//! still in memory, to one hasher thread that follows the contiguous prefix of
//! received bytes, and to the part's write queue (see `writer` for how they
//! reach the disk): hashing never waits for the disk, nor the disk for the hash.
//! While the pieces held for either come to `piece::HELD_LIMIT` bytes the workers
//! wait (and TCP slows the sender) until the hasher or the disk catches up,
//! except the one whose bytes extend the prefix, so the hasher never starves
//! (see `piece`): receiving ahead of the hash buys nothing when the network is
//! faster than SHA-256, and reading back what was just written with `O_DIRECT`
//! would go to the disk. Only where a part holding the prefix is slower than
//! the rest (the hasher waits at a gap while the budget is full) do bytes past
//! the gap go to the disk alone, to be read back when the hasher gets there;
//! a single stream reads back only bytes a previous process wrote (a resumed
//! pull). Bytes read back are counted ([`TransferReporter::blob_read_back`]).
//! Memory stays bounded whatever the blob's size, and the digest is known
//! moments after the last byte lands. A part whose stream fails is fetched
//! again from the byte it reached; the ranges written are saved after every
//! piece, before every retry and every [`SAVE_EVERY`] bytes, so a later pull
//! resumes where this one stopped.

mod piece;
mod policy;
mod writer;

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use hoist_oci::{BlobStream, Descriptor, Digest, DigestWriter, Source, TargetError, TransferReporter};
use tokio::sync::oneshot;

use crate::error::io_error;
use crate::partial::{Claim, Partial};
use crate::ranges::{RangeSet, split_point};
use crate::target::commit_error;
use crate::{StoreError, WriteSession};
use hoist_oci::retry::{MAX_ATTEMPTS, retry_delay};

use self::piece::{Ask, Budget, Handed, Piece, Received, Taken, route};
use self::policy::{FIRST_REQUEST, HasherClock, MIN_SPLIT, MachineClock, Pace, Splits, request_of, splits};
use self::writer::{BlobWriter, WriteQueue, aligned_len};

/// Blobs at least this large are downloaded in ranges, when the source serves them.
pub(crate) const RANGED_MIN_SIZE: u64 = 64 << 20;
/// Ranges of one blob fetched at once, unless the destination is told otherwise.
pub(crate) const DEFAULT_RANGE_CONCURRENCY: usize = 8;
/// Bytes written between two saves of the resume state, so that a process
/// killed in the middle of one long range loses at most this much.
const SAVE_EVERY: u64 = 64 << 20;
/// How often an idle worker looks again for a straggler to help.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Bytes a worker gathers before handing them over as one piece.
const WRITE_SIZE: usize = 1 << 20;
/// Bytes the hasher reads back at once.
const HASH_READ: usize = 4 << 20;
/// How often to look again while another download holds the blob's partial file.
const CLAIM_POLL: Duration = Duration::from_millis(250);

/// How a ranged download ended, when it did not fail.
pub(crate) enum Ranged {
    /// The blob is in the store (downloaded here, or by a concurrent download).
    Committed,
    /// The source does not serve ranges: download it as one stream.
    Unsupported,
}

/// Downloads `descriptor` from `source` into the store in up to `concurrency`
/// ranges at once, resuming from the state a previous attempt left.
///
/// While another download (in this process or another) holds the blob's
/// partial file, this one waits for it rather than fetching the same bytes
/// twice, and then finds the blob committed, or resumes where that one stopped.
pub(crate) async fn download(
    session: &WriteSession,
    source: &dyn Source,
    descriptor: &Descriptor,
    progress: &dyn TransferReporter,
    concurrency: usize,
) -> Result<Ranged, TargetError> {
    let store = session.store();
    let (partial, completed) = loop {
        match store.claim_partial(&descriptor.digest, descriptor.size).map_err(|e| store.target_error(e))? {
            Claim::Owned(partial, completed) => break (partial, completed),
            Claim::Committed => return Ok(Ranged::Committed),
            Claim::Busy => tokio::time::sleep(CLAIM_POLL).await,
        }
    };
    let mut queue: VecDeque<Range<u64>> = completed.missing(descriptor.size).into_iter().collect();
    let concurrency = concurrency.max(1);
    let mut active = vec![None; concurrency];
    let mut requested = vec![0; concurrency];
    let pace = vec![Pace::starting(); concurrency];
    // The first request tells whether the source serves ranges at all.
    let mut first = None;
    if let Some(range) = queue.pop_front() {
        let request = request_of(&range, FIRST_REQUEST);
        match source.fetch_range(descriptor, request.start, request.end).await {
            Ok(Some(stream)) => {
                active[0] = Some(range);
                requested[0] = request.end;
                first = Some((stream, request));
            }
            unusable => {
                // A fresh file is no use to anyone; a previous download's bytes
                // stay for a source that serves ranges.
                if completed.ranges().is_empty() {
                    partial.discard();
                }
                return unusable.map(|_| Ranged::Unsupported);
            }
        }
    }
    // Bytes a previous attempt wrote count as arrived.
    progress.blob_progress(descriptor, completed.total());
    let shared = Arc::new(Shared {
        plan: Mutex::new(Plan {
            queue,
            active,
            requested,
            pace,
            arrived: completed.clone(),
            written: completed,
            handoff: BTreeMap::new(),
            hash_next: 0,
            hasher: HasherClock::default(),
            machine: MachineClock::starting(),
            unsaved: 0,
            stop: false,
        }),
        changed: Condvar::new(),
        budget: Arc::new(Budget::default()),
        read_back: AtomicU64::new(0),
    });
    let partial = Arc::new(partial);
    let hasher = {
        let (shared, file, size) = (Arc::clone(&shared), Arc::clone(partial.file()), descriptor.size);
        tokio::task::spawn_blocking(move || {
            let hashed = hash_prefix(&shared, &file, size);
            if hashed.is_err() {
                shared.stop();
            }
            hashed
        })
    };
    let writer = Arc::new(BlobWriter::new(Arc::clone(partial.file()), partial.path()));
    let download = Download { source, descriptor, progress, session, partial: Arc::clone(&partial), writer, shared };
    let workers: Vec<_> = (0..concurrency).map(|id| download.worker(id, first.take())).collect();
    let failed = join_all(workers).await.into_iter().find_map(Result::err);
    if failed.is_some() {
        download.shared.stop();
    }
    let hashed = hasher.await.map_err(|e| TargetError::backend(store.target_name(), e))?;
    let digest = match (failed, hashed) {
        (None, Ok(Some(digest))) => digest,
        (failed, hashed) => {
            // Keep what arrived for the next attempt; the download's own error
            // matters more than one saving the state.
            let _ = download.save().await;
            let partial_error = |e: io::Error| store.target_error(io_error("read", partial.path())(e));
            return Err(match (failed, hashed) {
                (Some(error), _) => error,
                (None, Err(e)) => partial_error(e),
                (None, Ok(_)) => partial_error(io::Error::other("the download stopped")),
            });
        }
    };
    download.commit(digest).await?;
    progress.blob_read_back(descriptor, download.shared.read_back.load(Ordering::Relaxed));
    Ok(Ranged::Committed)
}

/// What the workers share: the work left, who is fetching what, what is written.
struct Plan {
    /// Parts nobody has started.
    queue: VecDeque<Range<u64>>,
    /// Per worker, the bytes of its current piece still to write: the start
    /// moves as it writes, the end moves down when an idle worker splits it.
    active: Vec<Option<Range<u64>>>,
    /// Per worker, where the bytes its current request asked for end: a split
    /// never cuts below it.
    requested: Vec<u64>,
    /// Per worker, how fast its current piece is arriving.
    pace: Vec<Pace>,
    /// Bytes the hasher can have: written by an earlier process, or handed over.
    arrived: RangeSet,
    /// Bytes written to the partial file (in the page cache at least).
    written: RangeSet,
    /// Pieces handed over that the hasher has not reached, by offset, so it
    /// need not read them back.
    handoff: BTreeMap<u64, Piece>,
    /// Where the hasher will be once it has hashed the bytes it has taken.
    hash_next: u64,
    /// How much of its time the hasher spends waiting for bytes.
    hasher: HasherClock,
    /// How busy the machine's cores have been.
    machine: MachineClock,
    /// Bytes written since the resume state was last saved.
    unsaved: u64,
    /// Set when any worker or the hasher failed: everyone stops.
    stop: bool,
}

/// What an idle worker can do.
enum Take {
    /// It has a piece to fetch.
    Piece,
    /// Another worker may turn out to be a straggler: look again soon.
    Wait,
    /// Nothing is left that it could help with.
    Done,
}

struct Shared {
    plan: Mutex<Plan>,
    /// Signalled when bytes arrive or the download stops (for the hasher).
    changed: Condvar,
    /// The received bytes held in memory; its `room` is signalled when the
    /// hasher moves on or the download stops too (for workers waiting for room).
    budget: Arc<Budget>,
    /// Bytes the hasher read back from the partial file.
    read_back: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
        self.budget.room.notify_waiters();
    }
}

/// Why a fetch of a piece ended early.
enum Failure {
    /// Worth another request from the byte reached (a reset, a short body).
    Retry(TargetError),
    /// Not: wrong bytes, an unknown blob, a disk error.
    Fatal(TargetError),
}

struct Download<'a> {
    source: &'a dyn Source,
    descriptor: &'a Descriptor,
    progress: &'a dyn TransferReporter,
    session: &'a WriteSession,
    partial: Arc<Partial>,
    writer: Arc<BlobWriter>,
    shared: Arc<Shared>,
}

impl Download<'_> {
    /// Fetches pieces until there is no work left. Worker 0 starts with the
    /// piece (and stream) of the first request.
    async fn worker(&self, id: usize, mut first: Option<(BlobStream, Range<u64>)>) -> Result<(), TargetError> {
        loop {
            if first.is_none() {
                match self.take_piece(id) {
                    Take::Piece => {}
                    Take::Wait => {
                        tokio::time::sleep(IDLE_POLL).await;
                        continue;
                    }
                    Take::Done => return Ok(()),
                }
            }
            let fetched = self.fetch_piece(id, first.take()).await;
            if let Err(error) = fetched {
                self.shared.stop();
                return Err(error);
            }
            self.save().await?;
        }
    }

    /// Gives worker `id` the next part, or else half of the largest remainder
    /// another worker is still fetching, when that worker is too slow to finish
    /// it soon.
    fn take_piece(&self, id: usize) -> Take {
        let mut plan = self.shared.lock();
        if plan.stop {
            return Take::Done;
        }
        if let Some(part) = plan.queue.pop_front() {
            plan.requested[id] = part.start;
            plan.active[id] = Some(part);
            plan.pace[id] = Pace::starting();
            return Take::Piece;
        }
        // Only what the owner has not asked for yet can be split off.
        let largest = plan
            .active
            .iter()
            .enumerate()
            .filter_map(|(owner, piece)| piece.as_ref().map(|p| (owner, p.clone(), p.start.max(plan.requested[owner]))))
            .max_by_key(|(_, piece, unrequested)| piece.end.saturating_sub(*unrequested));
        let Some((owner, piece, unrequested)) = largest else { return Take::Done };
        let Some(middle) = split_point(unrequested, piece.end, MIN_SPLIT) else { return Take::Done };
        // Too early to tell, or the hasher is what holds the pull back: the
        // link may yet turn out slow, so look again later.
        let plan = &mut *plan;
        if splits(&plan.hasher, &mut plan.machine, &plan.pace[owner]) != Splits::Worth {
            return Take::Wait;
        }
        match plan.pace[owner].too_slow_for(piece.end - piece.start) {
            None | Some(false) => return Take::Wait,
            Some(true) => {}
        }
        // The owner sees its new end before it writes past it (see `write`).
        plan.active[owner] = Some(piece.start..middle);
        plan.active[id] = Some(middle..piece.end);
        plan.requested[id] = middle;
        plan.pace[id] = Pace::starting();
        Take::Piece
    }

    /// The next request of worker `id`: the start of what it still has to
    /// fetch of its piece, as long as `Pace::request_len` says; `None` (and
    /// the piece given up) once it is done or everyone stops.
    fn next_request(&self, id: usize) -> Option<Range<u64>> {
        let mut plan = self.shared.lock();
        let Some(piece) = plan.active[id].clone().filter(|p| !p.is_empty() && !plan.stop) else {
            plan.active[id] = None;
            return None;
        };
        // A fair share is of all the blob still to come, not of this piece: a
        // piece split off is a share already.
        let unwritten = plan.queue.iter().chain(plan.active.iter().flatten()).map(|r| r.end - r.start).sum();
        let plan = &mut *plan;
        let judged = splits(&plan.hasher, &mut plan.machine, &plan.pace[id]);
        let len = plan.pace[id].request_len(unwritten, plan.active.len(), judged);
        let request = request_of(&piece, len);
        plan.requested[id] = request.end;
        Some(request)
    }

    /// Fetches worker `id`'s piece to its (possibly moving) end, request after
    /// request, again from the byte reached after a failure, up to
    /// [`MAX_ATTEMPTS`] times. `first` is a request already answered.
    async fn fetch_piece(&self, id: usize, mut first: Option<(BlobStream, Range<u64>)>) -> Result<(), TargetError> {
        let mut attempts = 0;
        loop {
            let (fetched, request) = match first.take() {
                Some((stream, request)) => (Ok(Some(stream)), request),
                None => {
                    let Some(request) = self.next_request(id) else { return Ok(()) };
                    (self.source.fetch_range(self.descriptor, request.start, request.end).await, request)
                }
            };
            let outcome = match fetched {
                Ok(Some(stream)) => self.pump(id, stream, request).await,
                Ok(None) => Err(Failure::Retry(self.source_error(&request, "it stopped serving byte ranges".into()))),
                Err(error) if error.is_transient() => Err(Failure::Retry(error)),
                Err(error) => Err(Failure::Fatal(error)),
            };
            match outcome {
                Ok(()) => {}
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry(error)) => {
                    attempts += 1;
                    if attempts >= MAX_ATTEMPTS {
                        return Err(error);
                    }
                    // Record what arrived before the break: if the process dies
                    // while it waits, the next pull starts after those bytes.
                    self.save().await?;
                    tokio::time::sleep(retry_delay(attempts, error.retry_after())).await;
                }
            }
        }
    }

    /// Writes a stream of `requested` bytes at worker `id`'s offsets until the
    /// stream ends or the piece is complete.
    async fn pump(&self, id: usize, stream: BlobStream, requested: Range<u64>) -> Result<(), Failure> {
        let mut writes = Writes { queue: WriteQueue::start(Arc::clone(&self.writer)), in_flight: VecDeque::new() };
        let pumped = self.pump_into(id, stream, &requested, &mut writes).await;
        // Bytes claimed are written before the piece is retried or given up.
        let mut settled = Ok(true);
        while !writes.in_flight.is_empty() && settled.is_ok() {
            settled = self.settle(id, &mut writes, true).await;
        }
        match (pumped, settled) {
            (Err(Failure::Fatal(error)), _) | (_, Err(Failure::Fatal(error))) => Err(Failure::Fatal(error)),
            (pumped, _) => pumped,
        }
    }

    /// The loop of [`pump`](Self::pump); it may leave writes in flight.
    async fn pump_into(
        &self,
        id: usize,
        mut stream: BlobStream,
        requested: &Range<u64>,
        writes: &mut Writes,
    ) -> Result<(), Failure> {
        let wanted = requested.end - requested.start;
        let mut received = 0u64;
        let mut buffer = Received::starting_at(requested.start, WRITE_SIZE, &self.shared.budget);
        loop {
            let bytes = match stream.next().await {
                Some(Ok(bytes)) => bytes,
                Some(Err(error)) => {
                    // Keep what arrived: the retry starts after it.
                    self.write(id, &mut buffer, true, writes).await?;
                    return Err(Failure::Retry(self.source_error(requested, error.to_string())));
                }
                None => {
                    if self.write(id, &mut buffer, true, writes).await? || received == wanted {
                        return Ok(());
                    }
                    let problem = format!("the body ended after {received} of {wanted} bytes");
                    return Err(Failure::Retry(self.source_error(requested, problem)));
                }
            };
            received += bytes.len() as u64;
            if received > wanted {
                return Err(Failure::Fatal(TargetError::Verification {
                    digest: self.descriptor.digest.clone(),
                    target: self.source.name(),
                    problem: format!("more than the {wanted} bytes asked for at offset {}", requested.start),
                }));
            }
            // Copied out at once: the client's buffer is free for the next bytes.
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                rest = &rest[buffer.fill(rest)..];
                if buffer.is_full() && self.write(id, &mut buffer, false, writes).await? {
                    return Ok(());
                }
            }
        }
    }

    /// Hands the buffer, cut at worker `id`'s piece's end (an idle worker may
    /// have taken the rest), to the hasher and the write queue. Unless `flush`,
    /// the piece stops at the last block boundary the buffer reaches, keeping
    /// the rest for the next (so the writer can go past the page cache); `flush`
    /// takes everything. Writes that finished meanwhile are settled.
    /// True when the piece is complete or everyone stops.
    async fn write(&self, id: usize, buffer: &mut Received, flush: bool, writes: &mut Writes) -> Result<bool, Failure> {
        // Claim the bytes before writing them, so a split never lands inside them.
        let claimed = {
            let mut plan = self.shared.lock();
            let stop = plan.stop;
            match plan.active[id].as_mut() {
                Some(piece) if !stop => {
                    let remaining = piece.end.saturating_sub(piece.start);
                    let at_end = flush || buffer.len >= remaining;
                    let len = aligned_len(piece.start, buffer.len.min(remaining), at_end);
                    piece.start += len;
                    let claimed = (piece.start - len)..piece.start;
                    plan.pace[id].bytes += len;
                    claimed
                }
                _ => return Ok(true),
            }
        };
        if !claimed.is_empty() {
            let taken = buffer.take(claimed.end - claimed.start, &self.shared.budget);
            let (piece, handed) = self.hand_over(id, &claimed, taken).await;
            let outcome = writes.queue.write(piece, claimed.start);
            writes.in_flight.push_back(InFlight { claimed, handed, outcome });
        }
        while self.settle(id, writes, false).await? {}
        let plan = self.shared.lock();
        let done = plan.stop || plan.active[id].as_ref().is_none_or(|piece| piece.is_empty());
        if done || flush {
            // Past the piece's end the bytes belong to the worker that split it.
            buffer.len = 0;
        }
        Ok(done)
    }

    /// Hands the bytes `claimed` over as [`route`] says (to the hasher, or to
    /// the disk alone past a gap the hasher waits at), once the budget has room
    /// for them, and returns them as a piece for the disk with where else they
    /// went. Time spent waiting does not count against worker `id`'s pace: it
    /// says nothing about the link, and a split would only add bytes to wait.
    async fn hand_over(&self, id: usize, claimed: &Range<u64>, taken: Taken) -> (Piece, Handed) {
        let waiting_since = Instant::now();
        let budget = &self.shared.budget;
        let len = claimed.end - claimed.start;
        loop {
            // Registered before the check, so room made between the check and
            // the wait still wakes this worker.
            let room = budget.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut plan = self.shared.lock();
                let ask = Ask {
                    len,
                    held: budget.held(),
                    // A few dozen pieces at most: summed, not kept in step.
                    handed_over: plan.handoff.values().map(Piece::len).sum(),
                    next_for_the_hasher: claimed.start == plan.hash_next,
                    past_a_gap_the_hasher_waits_at: claimed.start > plan.arrived.prefix_end()
                        && plan.hasher.is_waiting(),
                };
                // On a stop the bytes go to the disk all the same: the resume state keeps them.
                let handed = if plan.stop { Some(Handed::ToTheDiskAlone) } else { route(&ask) };
                if let Some(handed) = handed {
                    let piece = Piece::hold(taken, budget);
                    if handed == Handed::ToTheHasher {
                        plan.arrived.insert(claimed.clone());
                        plan.handoff.insert(claimed.start, piece.clone());
                    }
                    plan.pace[id].exclude_wait(waiting_since);
                    drop(plan);
                    self.shared.changed.notify_all();
                    return (piece, handed);
                }
            }
            room.await;
        }
    }

    /// Records worker `id`'s oldest write in flight as written, for the
    /// progress and the resume state, once it is on the disk: waiting for it
    /// when `wait`, else only if it is done. True when a write was settled.
    /// Time spent waiting for the disk does not count against the pace.
    async fn settle(&self, id: usize, writes: &mut Writes, wait: bool) -> Result<bool, Failure> {
        let Some(mut oldest) = writes.in_flight.pop_front() else { return Ok(false) };
        let disk_since = Instant::now();
        let outcome = if wait {
            (&mut oldest.outcome).await.ok()
        } else {
            match oldest.outcome.try_recv() {
                Ok(written) => Some(written),
                Err(oneshot::error::TryRecvError::Empty) => {
                    writes.in_flight.push_front(oldest);
                    return Ok(false);
                }
                Err(oneshot::error::TryRecvError::Closed) => None,
            }
        };
        let target = self.session.store().target_name();
        let stopped = || Failure::Fatal(TargetError::backend(target, io::Error::other("the write queue stopped")));
        let written = outcome.ok_or_else(stopped)?;
        written.map_err(|e| Failure::Fatal(self.store_error(io_error("write", self.partial.path())(e))))?;
        let claimed = oldest.claimed;
        let len = claimed.end - claimed.start;
        let save_due = {
            let mut plan = self.shared.lock();
            if oldest.handed == Handed::ToTheDiskAlone && !plan.stop {
                // On the disk now: the hasher reads them back when it gets there.
                plan.arrived.insert(claimed.clone());
                self.shared.changed.notify_all();
            }
            plan.written.insert(claimed);
            plan.pace[id].exclude_wait(disk_since);
            plan.unsaved += len;
            let due = plan.unsaved >= SAVE_EVERY;
            if due {
                plan.unsaved = 0;
            }
            due
        };
        self.progress.blob_progress(self.descriptor, len);
        if save_due {
            self.save().await.map_err(Failure::Fatal)?;
        }
        Ok(true)
    }

    /// Records the ranges written so far in the state file.
    async fn save(&self) -> Result<(), TargetError> {
        let (partial, shared) = (Arc::clone(&self.partial), Arc::clone(&self.shared));
        tokio::task::spawn_blocking(move || partial.save(|| shared.lock().written.clone()))
            .await
            .map_err(|e| TargetError::backend(self.session.store().target_name(), e))?
            .map_err(|e| self.store_error(e))
    }

    /// Syncs the partial file, checks its digest, and renames it into blobs/
    /// through the same staging as every other blob. A mismatch removes the
    /// partial file and its state: those bytes will not get better by resuming.
    async fn commit(&self, digest: Digest) -> Result<(), TargetError> {
        let store = self.session.store();
        let file = Arc::clone(self.partial.file());
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(|e| TargetError::backend(store.target_name(), e))?
            .map_err(|e| self.store_error(io_error("sync", self.partial.path())(e)))?;
        let expected = (&self.descriptor.digest, self.descriptor.size);
        let path = self.partial.path().to_path_buf();
        let staged = match self.session.stage_file(path, (digest, self.descriptor.size), expected) {
            Ok(staged) => staged,
            Err(error) => {
                // The partial file is gone with the refused stage; its state goes too.
                let _ = self.partial.remove_state();
                return Err(commit_error(store, &self.source.name())(error));
            }
        };
        tokio::task::spawn_blocking(move || staged.commit())
            .await
            .map_err(|e| TargetError::backend(store.target_name(), e))?
            .map_err(commit_error(store, &self.source.name()))?;
        // The blob is in; a state file left behind is harmless (the next claim of
        // this digest, or prune, removes it).
        let _ = self.partial.remove_state();
        Ok(())
    }

    fn store_error(&self, error: StoreError) -> TargetError {
        self.session.store().target_error(error)
    }

    /// A failure of the source, naming the blob and the bytes asked for.
    fn source_error(&self, range: &Range<u64>, problem: String) -> TargetError {
        let error = StoreError::RangeFailed {
            digest: self.descriptor.digest.clone(),
            start: range.start,
            end: range.end,
            problem,
        };
        // A range that broke off or was not served may well arrive next time.
        TargetError::transient(self.source.name(), None, error)
    }
}

/// A worker's write queue, and its writes not yet settled, oldest first.
struct Writes {
    queue: WriteQueue,
    in_flight: VecDeque<InFlight>,
}

/// A write on its way to the file: the bytes claimed, whether the hasher has
/// them, and how it went.
struct InFlight {
    claimed: Range<u64>,
    handed: Handed,
    outcome: oneshot::Receiver<io::Result<()>>,
}

/// What the hasher does next.
enum HashStep {
    /// Hash these bytes, handed over in memory.
    Handed(Piece),
    /// Read back this many written bytes from the file and hash them.
    ReadBack(u64),
}

/// Hashes the blob in order as its contiguous prefix grows: pieces handed over
/// in memory as they are, the rest (what an earlier process wrote) read back
/// from the partial file. `None` when the download stopped first.
fn hash_prefix(shared: &Shared, file: &File, size: u64) -> io::Result<Option<Digest>> {
    let mut hasher = DigestWriter::new(io::sink());
    let mut buffer = Vec::new();
    let mut hashed = 0u64;
    while hashed < size {
        let step = {
            let mut plan = shared.lock();
            loop {
                if plan.stop {
                    return Ok(None);
                }
                let end = plan.arrived.prefix_end().min(size);
                if end > hashed {
                    plan.hasher.resume();
                    break next_hash_step(&mut plan, hashed, end);
                }
                plan.hasher.pause();
                plan = shared.changed.wait(plan).unwrap_or_else(|p| p.into_inner());
            }
        };
        // The hasher moved on: a worker holding the bytes it needs next may go.
        shared.budget.room.notify_waiters();
        match step {
            HashStep::Handed(piece) => {
                hasher.write_all(piece.bytes())?;
                hashed += piece.len();
            }
            HashStep::ReadBack(len) => {
                let len = len as usize;
                buffer.resize(len, 0);
                read_at(file, &mut buffer, hashed)?;
                shared.read_back.fetch_add(len as u64, Ordering::Relaxed);
                hasher.write_all(&buffer)?;
                hashed += len as u64;
            }
        }
    }
    Ok(Some(hasher.finish().0))
}

/// The hasher's next step at `hashed`, with bytes written up to `end`: the
/// piece handed over at that offset, else a read-back (of at most
/// [`HASH_READ`] bytes) up to the next piece handed over (a read-back never
/// crosses one, so pieces start where the hasher will be). Records where the
/// hasher will be after the step.
fn next_hash_step(plan: &mut Plan, hashed: u64, end: u64) -> HashStep {
    if let Some(piece) = plan.handoff.remove(&hashed) {
        plan.hash_next = hashed + piece.len();
        return HashStep::Handed(piece);
    }
    let next_piece = plan.handoff.range(hashed..).next().map_or(end, |(&offset, _)| offset);
    let len = (next_piece.min(end) - hashed).min(HASH_READ as u64);
    plan.hash_next = hashed + len;
    HashStep::ReadBack(len)
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buffer.len() {
        match file.seek_read(&mut buffer[done..], offset + done as u64)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}
