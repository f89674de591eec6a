//! Pulls through a fault-injecting proxy (hoist-testkit's `FaultProxy`) in front
//! of a real registry: error statuses, connections reset or cut short mid-blob,
//! flipped bytes, an interrupted pull resumed. Each pull either completes with
//! the right digests or fails with an error naming the blob, and the store never
//! holds a corrupt blob.

mod common;

use std::error::Error;
use std::time::{Duration, Instant};

use common::*;
use hoist_oci::{
    CopyOptions, CopyReport, Descriptor, ImageManifest, NoTransferReporter, Source, TargetError, copy_graph,
};
use hoist_registry::{ClientOptions, Repository};
use hoist_store::{NoVerifyReporter, Store, StoreDestination};
use hoist_testkit::{Fault, FaultProxy, RegistryServer};

/// The layer: large enough that a fault lands mid-stream, several MiB in.
const LAYER_SIZE: usize = 20 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// A registry behind a proxy, holding one artifact (config + a 20 MiB layer)
/// pushed through the proxy.
struct Fixture {
    /// Kept running for the proxy.
    _registry: RegistryServer,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    root: Descriptor,
    layer: Descriptor,
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::with_layer(LAYER_SIZE).await
    }

    async fn with_layer(layer_size: usize) -> Fixture {
        let registry = RegistryServer::anonymous();
        let proxy = FaultProxy::start(&registry);
        let dir = tempfile::tempdir().unwrap();
        let source = Store::new(dir.path().join("source"));
        let root = artifact(&source, "m:1", &[pseudo_random(layer_size, 42)]);
        let layer = ImageManifest::from_slice(&blob(&source, &root)).unwrap().layers[0].clone();
        let fixture = Fixture { _registry: registry, proxy, dir, root, layer };
        push(&source, &fixture.repository(), &fixture.root, "1").await;
        assert_eq!(fixture.proxy.body_bytes_served(), 0, "a push downloads nothing");
        fixture
    }

    /// The repository through the proxy, with a client of its own (no manifest
    /// cached from an earlier push or pull).
    fn repository(&self) -> Repository {
        client(ClientOptions { plain_http: true, ..Default::default() }).repository(&self.proxy.host(), "faults/m")
    }

    /// `/blobs/sha256:<hex>` of the layer: what its fault rules match.
    fn layer_path(&self) -> String {
        format!("/blobs/{}", self.layer.digest)
    }

    fn store(&self, name: &str) -> Store {
        Store::new(self.dir.path().join(name))
    }

    /// Resolves tag `1` and copies the artifact into `store`, tagging it `faults/m:1`.
    async fn pull(&self, store: &Store) -> Result<CopyReport, TargetError> {
        let repository = self.repository();
        let root = repository.resolve("1").await?;
        assert_eq!(root.digest, self.root.digest);
        let destination = StoreDestination::new(store).unwrap();
        copy_graph(&repository, &destination, &root, Some("faults/m:1"), &CopyOptions::default(), &NoTransferReporter)
            .await
    }

    /// A pull that must complete: the tag names the root, and every blob is whole.
    async fn pull_completes(&self, store: &Store) {
        if let Err(error) = self.pull(store).await {
            panic!("the pull failed: {}\nrequests through the proxy:\n{}", chain(&error), self.requests());
        }
        assert_eq!(store.resolve("faults/m:1").unwrap().descriptor.digest, self.root.digest);
        assert!(store.has_blob(&self.layer.digest));
        assert_sound(store);
        assert_eq!(ingest_entries(store), Vec::<String>::new(), "a complete pull leaves nothing in ingest/");
    }

    /// A pull that must fail; the store stays sound and without the layer.
    async fn pull_fails(&self, store: &Store) -> TargetError {
        let error = match self.pull(store).await {
            Ok(_) => panic!("the pull completed; requests through the proxy:\n{}", self.requests()),
            Err(error) => error,
        };
        assert!(!store.has_blob(&self.layer.digest), "a failed layer is in blobs/");
        assert!(store.resolve("faults/m:1").is_err(), "a failed pull tagged the artifact");
        assert_sound(store);
        error
    }

    /// The downloads through the proxy, one line each, for failure messages.
    fn requests(&self) -> String {
        let lines: Vec<String> = self
            .proxy
            .requests()
            .iter()
            .filter(|r| r.method == "GET" || r.method == "HEAD")
            .map(|r| {
                let fault = r.fault.as_ref().map(|f| format!(" {f:?}")).unwrap_or_default();
                let range = r.range.as_deref().unwrap_or("-");
                format!("  {} {} {range} -> {} {} bytes{fault}", r.method, r.path, r.status, r.body_bytes)
            })
            .collect();
        lines.join("\n")
    }

    /// How many of the proxy's answers for `path` were injected faults.
    fn faults_served(&self, path: &str) -> usize {
        self.proxy.requests().iter().filter(|r| r.path.contains(path) && r.fault.is_some()).count()
    }
}

/// Every blob in the store hashes to its name and has the size its descriptors give.
fn assert_sound(store: &Store) {
    let report = store.verify(&NoVerifyReporter).unwrap();
    assert!(report.is_ok(), "the store holds corrupt or missing blobs: {report:?}");
}

/// Names and sizes of what ingest/ holds.
fn ingest_entries(store: &Store) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(store.root().join("ingest")) else { return Vec::new() };
    entries
        .map(|e| {
            let e = e.unwrap();
            format!("{} ({} bytes)", e.file_name().to_string_lossy(), e.metadata().map_or(0, |m| m.len()))
        })
        .collect()
}

/// An error with all its sources: what a user would see.
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_500_twice_then_ok_completes() {
    let fixture = Fixture::new().await;
    fixture.proxy.set_faults(vec![Fault::Status {
        path: "/manifests/".into(),
        status: 500,
        retry_after: None,
        times: 2,
    }]);
    fixture.pull_completes(&fixture.store("pulled")).await;
    assert_eq!(fixture.faults_served("/manifests/"), 2, "{}", fixture.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_with_retry_after_waits_and_completes() {
    let fixture = Fixture::new().await;
    let path = fixture.layer_path();
    fixture.proxy.set_faults(vec![Fault::Status { path: path.clone(), status: 429, retry_after: Some(1), times: 1 }]);
    let started = Instant::now();
    fixture.pull_completes(&fixture.store("pulled")).await;
    let took = started.elapsed();
    assert_eq!(fixture.faults_served(&path), 1);
    assert!(took >= Duration::from_secs(1), "Retry-After: 1 not honoured: the pull took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_reset_mid_blob_once_completes() {
    let fixture = Fixture::new().await;
    let path = fixture.layer_path();
    fixture.proxy.set_faults(vec![Fault::ResetMidBody { path: path.clone(), after: 8 * MIB, times: 1 }]);
    fixture.pull_completes(&fixture.store("pulled")).await;
    assert_eq!(fixture.faults_served(&path), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_body_once_completes() {
    let fixture = Fixture::new().await;
    let path = fixture.layer_path();
    fixture.proxy.set_faults(vec![Fault::Truncate { path: path.clone(), keep: 8 * MIB, times: 1 }]);
    fixture.pull_completes(&fixture.store("pulled")).await;
    assert_eq!(fixture.faults_served(&path), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn flipped_byte_fails_naming_the_blob_and_commits_nothing() {
    let fixture = Fixture::new().await;
    // Early in every response body, so that each ranged part of a parallel
    // download carries a flipped byte too.
    fixture.proxy.set_faults(vec![Fault::FlipByte { path: fixture.layer_path(), offset: 1000 }]);
    let store = fixture.store("pulled");
    let error = fixture.pull_fails(&store).await;
    match &error {
        TargetError::Verification { digest, .. } => assert_eq!(digest, &fixture.layer.digest, "{}", chain(&error)),
        other => panic!("expected a verification error, got {}", chain(other)),
    }
    assert!(error.to_string().contains(&fixture.layer.digest.to_string()), "{error}");
    // Bytes that failed verification are no state to resume from.
    assert_eq!(ingest_entries(&store), Vec::<String>::new(), "ingest/ keeps bytes that failed verification");

    // Nothing of the corrupt download stands in the way of a good one.
    fixture.proxy.set_faults(vec![]);
    fixture.pull_completes(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_that_never_arrives_fails_naming_it() {
    let fixture = Fixture::new().await;
    let digest = fixture.layer.digest.to_string();

    // Every attempt is cut off mid-body.
    fixture.proxy.set_faults(vec![Fault::ResetMidBody { path: fixture.layer_path(), after: MIB, times: usize::MAX }]);
    let error = fixture.pull_fails(&fixture.store("reset")).await;
    let shown = chain(&error);
    assert!(shown.contains(&digest), "the error does not name the blob: {shown}");

    // The registry keeps refusing.
    fixture.proxy.set_faults(vec![Fault::Status {
        path: fixture.layer_path(),
        status: 503,
        retry_after: None,
        times: usize::MAX,
    }]);
    let error = fixture.pull_fails(&fixture.store("refused")).await;
    let shown = chain(&error);
    assert!(shown.contains(&digest) && shown.contains("503"), "the error does not name the blob and status: {shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_pull_downloads_only_what_it_lacked() {
    // Large enough for ranged downloads, whose progress survives a failed pull.
    let fixture = Fixture::with_layer(80 * 1024 * 1024).await;
    let path = fixture.layer_path();
    let size = fixture.layer.size;
    // The first response is reset 6 MiB in, and every later request for the
    // layer (a retry, another ranged part) is refused, so the first pull fails
    // however the client retries, having received 6 MiB at most.
    fixture.proxy.set_faults(vec![
        Fault::ResetMidBody { path: path.clone(), after: 6 * MIB, times: 1 },
        Fault::Status { path: path.clone(), status: 500, retry_after: None, times: usize::MAX },
    ]);
    let store = fixture.store("pulled");
    let error = fixture.pull_fails(&store).await;
    let first = fixture.proxy.body_bytes_served_for(&path);
    assert!(first > 0, "the first pull got none of the layer: {}", chain(&error));
    let kept = ingest_entries(&store);

    fixture.proxy.set_faults(vec![]);
    fixture.pull_completes(&store).await;
    let second = fixture.proxy.body_bytes_served_for(&path) - first;
    // Bytes received but not yet on disk when the connection broke may be
    // fetched again: allow one write buffer (4 MiB).
    const SLACK: u64 = 4 * MIB;
    assert!(
        second < size && first + second <= size + SLACK,
        "the resumed pull downloaded {second} bytes of the {size}-byte layer after the first got {first} \
         (ingest/ held {kept:?}); requests:\n{}",
        fixture.requests()
    );
}
