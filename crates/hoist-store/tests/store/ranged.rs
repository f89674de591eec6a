//! Large blobs copied into the store in parallel ranges: stealing from a slow
//! part, refusing a corrupt blob, resuming an interrupted copy, and two copies
//! of one blob at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hoist_oci::{Descriptor, Destination, Digest, NoTransferReporter, TargetError, TransferReporter};
use hoist_store::{Store, StoreDestination};
use hoist_testkit::pseudo_random;

use crate::helpers::{ingest_names, new_store};
use crate::tap::Tap;

const MIB: u64 = 1 << 20;
const PART: u64 = 16 * MIB;

/// A source store holding one blob of `len` bytes.
fn source_with_blob(len: u64, seed: u64) -> (tempfile::TempDir, Store, Descriptor) {
    let (dir, store) = new_store();
    let session = store.write_session().unwrap();
    let (digest, size) = session.put_bytes(&pseudo_random(len as usize, seed)).unwrap();
    (dir, store, Descriptor::new("application/vnd.example.weights", digest, size))
}

/// Counts what the destination reports reading back.
#[derive(Default)]
struct ReadBack(AtomicU64);

impl TransferReporter for ReadBack {
    fn blob_read_back(&self, _descriptor: &Descriptor, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl ReadBack {
    fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn committed_digest(store: &Store, digest: &Digest) -> Digest {
    let mut file = store.open_blob(digest).unwrap();
    let mut writer = hoist_oci::DigestWriter::new(std::io::sink());
    std::io::copy(&mut file, &mut writer).unwrap();
    writer.finish().0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_source_is_read_in_bounded_requests_without_waste() {
    let (_a, source, blob) = source_with_blob(80 * MIB + 12_345, 1);
    let tap = Tap::new(&source);
    let (_b, target) = new_store();
    let destination = StoreDestination::new(&target).unwrap();
    let read_back = ReadBack::default();
    destination.copy_blob(&tap, &blob, &read_back).await.unwrap();
    assert_eq!(committed_digest(&target, &blob.digest), blob.digest);
    assert_eq!(read_back.bytes(), 0, "a fresh copy hashes only bytes handed over in memory");
    // Every request but a piece's last asks for at least 4 MiB.
    assert!((2..=(blob.size / (4 * MIB) + 8) as usize).contains(&tap.ranges()), "{} ranged reads", tap.ranges());
    assert_eq!(tap.served(), blob.size, "every byte is fetched once");
    assert!(ingest_names(&target).is_empty(), "{:?}", ingest_names(&target));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_without_ranges_is_read_as_one_stream() {
    let (_a, source, blob) = source_with_blob(64 * MIB, 2);
    let tap = Tap { no_ranges: true, ..Tap::new(&source) };
    let (_b, target) = new_store();
    let destination = StoreDestination::new(&target).unwrap();
    destination.copy_blob(&tap, &blob, &NoTransferReporter).await.unwrap();
    assert_eq!(committed_digest(&target, &blob.digest), blob.digest);
    assert_eq!(tap.ranges(), 1, "one probe, then a plain stream");
    assert!(ingest_names(&target).is_empty(), "{:?}", ingest_names(&target));
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_workers_take_over_a_slow_part() {
    let (_a, source, blob) = source_with_blob(6 * PART, 3);
    // Whatever range starts at 0 delivers 1 MiB per 250 ms: 16 MiB of it alone take 4 s.
    let pause = Duration::from_millis(250);
    let tap = Tap { slow_start: Some((0, pause)), ..Tap::new(&source) };
    let (_b, target) = new_store();
    let destination = StoreDestination::new(&target).unwrap();
    let read_back = ReadBack::default();
    destination.copy_blob(&tap, &blob, &read_back).await.unwrap();
    assert_eq!(committed_digest(&target, &blob.digest), blob.digest);
    assert!(tap.ranges() > 1, "{} ranged reads: nobody split the slow part", tap.ranges());
    // A split takes only bytes the slow part has not asked for yet.
    assert_eq!(tap.served(), blob.size, "every byte is fetched once");
    // The other parts did not wait for the slow one once the memory budget was
    // full: what they received past it went to the disk alone and was read back.
    assert!((1..blob.size).contains(&read_back.bytes()), "{} bytes read back", read_back.bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_limited_per_connection_is_read_by_several_parts_at_once() {
    let (_a, source, blob) = source_with_blob(96 * MIB, 7);
    // Each connection brings a chunk per 25 ms: the hasher waits most of its
    // time, and every split adds a connection's worth of bytes.
    let tap = Tap { every_chunk_pause: Some(Duration::from_millis(25)), ..Tap::new(&source) };
    let (_b, target) = new_store();
    let destination = StoreDestination::new(&target).unwrap();
    let read_back = ReadBack::default();
    destination.copy_blob(&tap, &blob, &read_back).await.unwrap();
    assert_eq!(committed_digest(&target, &blob.digest), blob.digest);
    assert!(tap.most_open() >= 3, "at most {} connections at once: the splits stopped", tap.most_open());
    assert_eq!(tap.served(), blob.size, "every byte is fetched once");
    // Parts past the prefix may run ahead of it by more than the memory budget,
    // through the disk; never the first bytes.
    assert!(read_back.bytes() < blob.size, "{} bytes read back", read_back.bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_that_does_not_match_its_digest_is_refused_and_forgotten() {
    let (_a, source, blob) = source_with_blob(72 * MIB, 4);
    let tap = Tap { flip: Some(50 * MIB + 7), ..Tap::new(&source) };
    let (_b, target) = new_store();
    let destination = StoreDestination::new(&target).unwrap();
    let error = destination.copy_blob(&tap, &blob, &NoTransferReporter).await.unwrap_err();
    assert!(matches!(&error, TargetError::Verification { digest, .. } if *digest == blob.digest), "{error}");
    assert!(error.to_string().contains(&blob.digest.to_string()), "{error}");
    assert!(!target.has_blob(&blob.digest));
    assert!(ingest_names(&target).is_empty(), "{:?}", ingest_names(&target));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_copy_resumes_with_only_the_missing_bytes() {
    let (_a, source, blob) = source_with_blob(7 * PART + 1000, 5);
    let (_b, target) = new_store();
    // Nothing past 3 parts and 300 KiB arrives, retries included.
    let broken = Tap { fail_from: Some(3 * PART + (300 << 10)), ..Tap::new(&source) };
    let destination = StoreDestination::new(&target).unwrap();
    let error = destination.copy_blob(&broken, &blob, &NoTransferReporter).await.unwrap_err();
    drop(destination);
    assert!(error.is_transient(), "a broken stream is worth retrying, and was, until the attempts ran out: {error}");
    let shown = format!("{error}: {}", std::error::Error::source(&error).unwrap());
    assert!(shown.contains("tap") && shown.contains(&blob.digest.to_string()), "{shown}");
    assert!(!target.has_blob(&blob.digest));

    let hex = blob.digest.hex();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.root().join(format!("ingest/{hex}.state"))).unwrap()).unwrap();
    assert_eq!(state["size"], blob.size);
    let kept: u64 = state["completed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[1].as_u64().unwrap() - pair[0].as_u64().unwrap())
        .sum();
    assert!(kept >= 3 * PART, "only {kept} bytes kept");
    assert!(kept <= broken.served(), "kept {kept} of {} served", broken.served());

    let clean = Tap::new(&source);
    let destination = StoreDestination::new(&target).unwrap();
    let read_back = ReadBack::default();
    destination.copy_blob(&clean, &blob, &read_back).await.unwrap();
    assert_eq!(committed_digest(&target, &blob.digest), blob.digest);
    assert_eq!(read_back.bytes(), kept, "only what the first copy wrote is read back");
    let missing = blob.size - kept;
    assert_eq!(clean.served(), missing, "only the missing bytes are fetched");
    assert!(ingest_names(&target).is_empty(), "{:?}", ingest_names(&target));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_copies_of_one_blob_at_once_fetch_it_once() {
    let (_a, source, blob) = source_with_blob(64 * MIB, 6);
    let tap = Tap::new(&source);
    let (_b, target) = new_store();
    let one = StoreDestination::new(&target).unwrap().with_range_concurrency(2);
    let two = StoreDestination::new(&target).unwrap();
    let (a, b) =
        tokio::join!(one.copy_blob(&tap, &blob, &NoTransferReporter), two.copy_blob(&tap, &blob, &NoTransferReporter));
    a.unwrap();
    b.unwrap();
    assert_eq!(committed_digest(&target, &blob.digest), blob.digest);
    assert_eq!(tap.served(), blob.size, "the second copy waited for the first");
    assert!(ingest_names(&target).is_empty(), "{:?}", ingest_names(&target));
}
