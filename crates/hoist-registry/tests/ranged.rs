//! Ranged reads from a real registry (CNCF distribution, started by
//! hoist-testkit), and pulls of large blobs in parallel ranges that resume
//! after a failure; plus the checks on a server's ranged answers, against a
//! minimal HTTP server that answers what each test needs.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use common::*;
use futures_util::StreamExt;
use hoist_oci::{
    BlobStream, CopyOptions, Descriptor, Digest, ImageManifest, NoTransferReporter, Source, TargetError, copy_graph,
};
use hoist_registry::{ClientOptions, Repository};
use hoist_store::{Store, StoreDestination};
use hoist_testkit::{Fault, FaultProxy, RegistryAuth, RegistryOptions, RegistryServer};

const MIB: u64 = 1 << 20;
const PART: u64 = 16 * MIB;

/// A repository whose ranged reads are counted, and on request broken: bytes
/// at or past `fail_from` never arrive (a range breaks at the first chunk
/// that reaches them).
struct Counting {
    inner: Repository,
    ranges: AtomicUsize,
    served: Arc<AtomicU64>,
    fail_from: Option<u64>,
}

impl Counting {
    fn new(inner: &Repository, fail_from: Option<u64>) -> Counting {
        Counting { inner: inner.clone(), ranges: AtomicUsize::new(0), served: Arc::default(), fail_from }
    }

    fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Source for Counting {
    fn name(&self) -> String {
        self.inner.name()
    }

    async fn resolve(&self, reference: &str) -> Result<Descriptor, TargetError> {
        self.inner.resolve(reference).await
    }

    async fn fetch_all(&self, descriptor: &Descriptor) -> Result<Vec<u8>, TargetError> {
        self.inner.fetch_all(descriptor).await
    }

    async fn fetch(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, TargetError> {
        self.inner.fetch(descriptor, offset).await
    }

    async fn fetch_range(
        &self,
        descriptor: &Descriptor,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, TargetError> {
        self.ranges.fetch_add(1, Ordering::SeqCst);
        let Some(stream) = self.inner.fetch_range(descriptor, start, end).await? else { return Ok(None) };
        let limit = match self.fail_from {
            Some(offset) => offset.saturating_sub(start),
            None => u64::MAX,
        };
        let served = Arc::clone(&self.served);
        let mut sent = 0u64;
        // Pass whole chunks until the limit, then break the stream.
        let stream = stream.map(move |chunk| {
            let chunk = chunk?;
            if sent + chunk.len() as u64 > limit {
                return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by the test"));
            }
            sent += chunk.len() as u64;
            served.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            Ok(chunk)
        });
        Ok(Some(Box::pin(stream)))
    }
}

/// Pushes one layer of `len` pseudo-random bytes as `name:1`; returns the
/// repository, the root and the layer's descriptor.
async fn pushed_layer(
    registry: &RegistryServer,
    dir: &std::path::Path,
    len: u64,
) -> (Repository, Descriptor, Descriptor) {
    let store = Store::new(dir.join("source"));
    let root = artifact(&store, "m:1", &[pseudo_random(len as usize, 42)]);
    let repository = anonymous_client().repository(&registry.host(), "team/big");
    push(&store, &repository, &root, "1").await;
    let layer = ImageManifest::from_slice(&blob(&store, &root)).unwrap().layers[0].clone();
    (repository, root, layer)
}

async fn pull_from(source: &dyn Source, root: &Descriptor, into: &Store) -> Result<(), TargetError> {
    let destination = StoreDestination::new(into).unwrap();
    copy_graph(source, &destination, root, Some("team/big:1"), &CopyOptions::default(), &NoTransferReporter)
        .await
        .map(drop)
}

fn committed_digest(store: &Store, digest: &Digest) -> Digest {
    let mut writer = hoist_oci::DigestWriter::new(std::io::sink());
    std::io::copy(&mut store.open_blob(digest).unwrap(), &mut writer).unwrap();
    writer.finish().0
}

async fn collect(stream: BlobStream) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_mb_blob_is_pulled_in_ranges_without_waste() {
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let size = 200_000_000;
    let (repository, root, layer) = pushed_layer(&registry, dir.path(), size).await;

    let counting = Counting::new(&repository, None);
    let target = Store::new(dir.path().join("pulled"));
    pull_from(&counting, &root, &target).await.unwrap();
    assert_eq!(committed_digest(&target, &layer.digest), layer.digest);
    // How many requests depends on the pace (each asks for about half a second
    // of it); how many bytes does not: a split takes only bytes not yet asked for.
    let ranges = counting.ranges.load(Ordering::SeqCst);
    assert!(ranges >= 2, "{ranges} ranged requests: the first one is never the whole blob");
    assert_eq!(counting.served(), size, "every byte is fetched once");
    assert!(std::fs::read_dir(target.root().join("ingest")).unwrap().next().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pull_resumes_with_only_the_missing_bytes() {
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let size = 5 * PART + 4321;
    let (repository, root, layer) = pushed_layer(&registry, dir.path(), size).await;
    let target = Store::new(dir.path().join("pulled"));

    // Nothing past 2 parts and 256 KiB arrives, retries included.
    let broken = Counting::new(&repository, Some(2 * PART + (256 << 10)));
    let error = pull_from(&broken, &root, &target).await.unwrap_err();
    let shown = format!("{error}: {}", std::error::Error::source(&error).map(|s| s.to_string()).unwrap_or_default());
    assert!(shown.contains(&repository.name()) && shown.contains(&layer.digest.to_string()), "{shown}");
    assert!(!target.has_blob(&layer.digest));
    assert!(target.list().unwrap().is_empty(), "nothing tagged");

    let state = target.root().join(format!("ingest/{}.state", layer.digest.hex()));
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    let kept: u64 = state["completed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[1].as_u64().unwrap() - pair[0].as_u64().unwrap())
        .sum();
    assert!(kept >= 2 * PART && kept <= broken.served(), "kept {kept} of {} served", broken.served());

    let clean = Counting::new(&repository, None);
    pull_from(&clean, &root, &target).await.unwrap();
    assert_eq!(committed_digest(&target, &layer.digest), layer.digest);
    let missing = size - kept;
    assert_eq!(clean.served(), missing, "only the missing bytes are fetched");
    assert_eq!(target.resolve("team/big:1").unwrap().descriptor.digest, root.digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn ranges_from_the_registry_are_exact() {
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("source"));
    let bytes = pseudo_random(300_000, 3);
    let root = artifact(&store, "m:1", std::slice::from_ref(&bytes));
    let repository = anonymous_client().repository(&registry.host(), "team/m");
    push(&store, &repository, &root, "1").await;
    let layer = ImageManifest::from_slice(&blob(&store, &root)).unwrap().layers[0].clone();

    for (start, end) in [(0, 1), (1000, 250_000), (299_999, 300_000), (0, 300_000)] {
        let stream = repository.fetch_range(&layer, start, end).await.unwrap().expect("a ranged answer");
        assert!(collect(stream).await.unwrap() == bytes[start as usize..end as usize], "{start}..{end}");
    }
    let empty = repository.fetch_range(&layer, 5, 5).await.unwrap().unwrap();
    assert!(collect(empty).await.unwrap().is_empty());
    assert!(repository.fetch_range(&layer, 0, 300_001).await.is_err(), "past the end");
}

/// A server that answers every connection with `response` and closes it.
fn answering(response: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut connection in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match connection.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = connection.write_all(response);
        }
    });
    host
}

async fn range_from(response: &'static [u8]) -> Result<Option<Vec<u8>>, String> {
    let client = client(ClientOptions { plain_http: true, ..Default::default() });
    let repository = client.repository(&answering(response), "team/m");
    let layer = Descriptor::new(LAYER_TYPE, Digest::of(b"x"), 100);
    match repository.fetch_range(&layer, 10, 20).await {
        Ok(None) => Ok(None),
        Ok(Some(stream)) => collect(stream).await.map(Some).map_err(|e| e.to_string()),
        Err(e) => Err(format!("{e}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default())),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ranged_answers_are_checked() {
    let good = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/100\r\nContent-Length: 10\r\n\
        Connection: close\r\n\r\n0123456789";
    assert_eq!(range_from(good).await.unwrap().unwrap(), b"0123456789");

    let ignored = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n";
    assert_eq!(range_from(ignored).await.unwrap(), None, "a 200 means the server ignores Range");

    let shifted = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Length: 10\r\n\
        Connection: close\r\n\r\n0123456789";
    let error = range_from(shifted).await.unwrap_err();
    assert!(error.contains("0-9"), "{error}");

    let longer = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/100\r\n\
        Connection: close\r\n\r\n0123456789abcdef";
    let error = range_from(longer).await.unwrap_err();
    assert!(error.contains("more than"), "{error}");

    let short = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/100\r\n\
        Connection: close\r\n\r\n01234";
    let error = range_from(short).await.unwrap_err();
    assert!(error.contains("short"), "{error}");
}

/// A registry that sends blob reads to its storage (as one backed by S3 or a
/// CDN does): the ranged requests follow the redirect with their `Range`, and
/// the registry's credentials stay behind.
#[tokio::test(flavor = "multi_thread")]
async fn redirected_ranges_keep_their_range_and_leave_credentials_behind() {
    let auth = RegistryAuth::Basic { user: "alice".into(), password: "correct-horse".into() };
    let private = RegistryServer::start(RegistryOptions { auth, tls: false });
    // Stands in for the storage: it holds the same blob and needs no credentials.
    let storage = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("source"));
    let root = artifact(&store, "m:1", &[pseudo_random(70 * MIB as usize, 7)]);
    let layer = ImageManifest::from_slice(&blob(&store, &root)).unwrap().layers[0].clone();
    let alice =
        client(ClientOptions { credentials: Some(("alice".into(), "correct-horse".into())), ..Default::default() });
    push(&store, &alice.repository(&private.host(), "team/m"), &root, "1").await;
    push(&store, &anonymous_client().repository(&storage.host(), "team/m"), &root, "1").await;

    let front = FaultProxy::start(&private);
    let cdn = FaultProxy::start(&storage);
    let blob_path = format!("/blobs/{}", layer.digest);
    front.set_faults(vec![Fault::Redirect { path: blob_path.clone(), to: cdn.host(), times: usize::MAX }]);
    let target = Store::new(dir.path().join("pulled"));
    pull_from(&alice.repository(&front.host(), "team/m"), &root, &target).await.unwrap();
    assert_eq!(committed_digest(&target, &layer.digest), layer.digest);

    let asked: Vec<_> = front.requests().into_iter().filter(|r| r.path.contains(&blob_path)).collect();
    assert!(!asked.is_empty() && asked.iter().all(|r| r.status == 307 && r.authorization), "{asked:?}");
    let followed: Vec<_> = cdn.requests().into_iter().filter(|r| r.path.contains(&blob_path)).collect();
    assert_eq!(followed.len(), asked.len(), "{followed:?}");
    for request in &followed {
        assert!(request.range.as_deref().is_some_and(|r| r.starts_with("bytes=")), "{request:?}");
        assert!(!request.authorization, "credentials followed the redirect: {request:?}");
        assert_eq!(request.status, 206, "{request:?}");
    }
    // A split takes only bytes not yet asked for: the CDN sends each byte once.
    assert_eq!(cdn.body_bytes_served_for(&blob_path), layer.size);
}
