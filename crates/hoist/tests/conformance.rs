//! The target conformance suite: one set of checks, written once against the
//! `Source` and `Destination` traits only, run against every kind of target —
//! the local store, an `oci:` image-layout directory, and a registry repository
//! (CNCF distribution, started by hoist-testkit).
//!
//! Each run copies a small graph (an index of two manifests, each with a config
//! and two layers, one layer shared) from a seed store into the target with
//! `copy_graph` and a tag, then checks through the traits: resolving the tag and
//! the root digest, `exists`, exact bytes from `fetch_all`, `fetch` from an
//! offset, `fetch_range`, a second copy that moves nothing, a copy back out
//! that reproduces every digest, a missing tag, and a manifest whose bytes do
//! not match its descriptor.
//!
//! What the targets may differ in is declared per target in [`Abilities`]:
//! the store (and so an image layout) resolves only the digests its index
//! names (tagged roots), while a registry resolves any manifest digest.

use std::future::Future;
use std::pin::Pin;

use hoist_oci::{
    BlobStream, CopyOptions, CopyReport, Descriptor, Destination, ImageIndex, ImageManifest, NoTransferReporter,
    Platform, Source, TargetError, copy_graph, media_types,
};
use hoist_registry::{ClientOptions, RegistryClient};
use hoist_store::{Store, StoreDestination};
use hoist_testkit::{RegistryServer, pseudo_random};

const LAYER_TYPE: &str = "application/vnd.hoist.test.layer";

/// The graph every target receives, in a store of its own.
struct Seed {
    store: Store,
    root: Descriptor,
    /// Every blob and manifest under the root (the root included), with its bytes.
    contents: Vec<(Descriptor, Vec<u8>)>,
    /// A manifest under the root that no tag names.
    child: Descriptor,
    /// The layer both manifests share, and its bytes.
    shared: (Descriptor, Vec<u8>),
}

impl Seed {
    fn new(dir: &std::path::Path) -> Seed {
        let store = Store::new(dir);
        let session = store.write_session().unwrap();
        let mut contents = Vec::new();
        let mut put = |media_type: &str, bytes: Vec<u8>| {
            let (digest, size) = session.put_bytes(&bytes).unwrap();
            let descriptor = Descriptor::new(media_type, digest, size);
            contents.push((descriptor.clone(), bytes));
            descriptor
        };
        let shared_bytes = pseudo_random(300_000, 1);
        let shared = put(LAYER_TYPE, shared_bytes.clone());
        let mut manifests = Vec::new();
        for (arch, seed, size) in [("amd64", 2, 100_000), ("arm64", 3, 50_001)] {
            let config = put(media_types::OCI_IMAGE_CONFIG, format!(r#"{{"architecture":"{arch}"}}"#).into_bytes());
            let own = put(LAYER_TYPE, pseudo_random(size, seed));
            let manifest = ImageManifest::new(config, vec![shared.clone(), own]).to_canonical_json();
            let mut descriptor = put(media_types::OCI_MANIFEST, manifest);
            descriptor.platform = Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                os_version: None,
                os_features: Vec::new(),
                variant: None,
            });
            manifests.push(descriptor);
        }
        let child = manifests[1].clone();
        let index = ImageIndex::new(manifests).to_canonical_json();
        let root = put(media_types::OCI_INDEX, index);
        session.tag_name(&root, "seed").unwrap();
        drop(session);
        Seed { store, root, contents, child, shared: (shared, shared_bytes) }
    }
}

/// What a target may or may not do; everything else every target must.
struct Abilities {
    /// `resolve` of a manifest digest that no tag names.
    resolves_untagged_digests: bool,
}

fn load(report: &CopyReport) -> (usize, usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (report.blobs_copied.load(Relaxed), report.blobs_skipped.load(Relaxed), report.manifests_pushed.load(Relaxed))
}

/// The suite. `source` and `destination` are the same target seen through
/// each trait; `tag` is a tag in the target's own syntax.
async fn conformance(label: &str, source: &dyn Source, destination: &dyn Destination, tag: &str, abilities: Abilities) {
    let scratch = tempfile::tempdir().unwrap();
    let seed = Seed::new(&scratch.path().join("seed"));
    let options = CopyOptions::default();

    // Copy in: every blob once (the layer both manifests share is copied once, not skipped the second time).
    let report = copy_graph(&seed.store, destination, &seed.root, Some(tag), &options, &NoTransferReporter)
        .await
        .unwrap_or_else(|e| panic!("{label}: copy into the target: {e:?}"));
    assert_eq!(load(&report), (5, 0, 3), "{label}: (blobs copied, blobs skipped, manifests pushed)");

    // Resolve: the tag, the root's digest, a child's digest.
    let resolved = source.resolve(tag).await.unwrap_or_else(|e| panic!("{label}: resolve {tag}: {e:?}"));
    assert_eq!(
        (&resolved.digest, resolved.size, resolved.media_type.as_str()),
        (&seed.root.digest, seed.root.size, media_types::OCI_INDEX),
        "{label}: resolve {tag}"
    );
    let by_digest = source.resolve(&seed.root.digest.to_string()).await;
    assert_eq!(by_digest.unwrap_or_else(|e| panic!("{label}: resolve root digest: {e:?}")).digest, seed.root.digest);
    let child = source.resolve(&seed.child.digest.to_string()).await;
    if abilities.resolves_untagged_digests {
        let child = child.unwrap_or_else(|e| panic!("{label}: resolve an untagged manifest digest: {e:?}"));
        assert_eq!((child.digest, child.size), (seed.child.digest.clone(), seed.child.size), "{label}");
    } else {
        assert!(matches!(child, Err(TargetError::NotFound { .. })), "{label}: untagged digest: {child:?}");
    }
    let missing = source.resolve("missing-tag").await;
    assert!(matches!(missing, Err(TargetError::NotFound { .. })), "{label}: resolve missing-tag: {missing:?}");

    // Exists and exact bytes, for every blob and manifest.
    for (descriptor, bytes) in &seed.contents {
        let what = format!("{label}: {} {}", descriptor.media_type, descriptor.digest);
        assert!(destination.exists(descriptor).await.unwrap(), "{what}: exists");
        let fetched = source.fetch_all(descriptor).await.unwrap_or_else(|e| panic!("{what}: fetch_all: {e:?}"));
        assert!(fetched == *bytes, "{what}: fetch_all returned other bytes ({} of {})", fetched.len(), bytes.len());
    }
    let unknown = Descriptor::for_bytes(LAYER_TYPE, b"not in any target");
    assert!(!destination.exists(&unknown).await.unwrap(), "{label}: exists(unknown)");
    let unknown_manifest = Descriptor::for_bytes(media_types::OCI_MANIFEST, b"{}");
    assert!(!destination.exists(&unknown_manifest).await.unwrap(), "{label}: exists(unknown manifest)");

    // fetch from an offset gives the tail; fetch_range the range, or None.
    let (layer, bytes) = &seed.shared;
    let size = bytes.len() as u64;
    for offset in [0, 1, 123_457, size - 1, size] {
        read_exactly(source, layer, Window::Tail(offset), &bytes[offset as usize..])
            .await
            .unwrap_or_else(|e| panic!("{label}: fetch from {offset}: {e:?}"));
    }
    let mut ranges = "none";
    for (start, end) in [(0, 1), (1000, 70_000), (size - 10, size)] {
        match source.fetch_range(layer, start, end).await.unwrap() {
            None => continue,
            Some(_) => ranges = "served",
        }
        read_exactly(source, layer, Window::Range(start, end), &bytes[start as usize..end as usize])
            .await
            .unwrap_or_else(|e| panic!("{label}: fetch_range {start}..{end}: {e:?}"));
    }
    eprintln!("{label}: fetch_range {ranges}");

    // A second copy finds everything there.
    let again = copy_graph(&seed.store, destination, &seed.root, Some(tag), &options, &NoTransferReporter)
        .await
        .unwrap_or_else(|e| panic!("{label}: second copy: {e:?}"));
    assert_eq!(load(&again).0, 0, "{label}: blobs copied on the second copy");
    assert_eq!(load(&again).2, 0, "{label}: manifests pushed on the second copy");

    // A copy back out reproduces every digest.
    let out = Store::new(scratch.path().join("out"));
    {
        let out_destination = StoreDestination::new(&out).unwrap();
        let root = source.resolve(tag).await.unwrap();
        let report = copy_graph(source, &out_destination, &root, Some("out:1"), &options, &NoTransferReporter)
            .await
            .unwrap_or_else(|e| panic!("{label}: copy out of the target: {e:?}"));
        assert_eq!(load(&report), (5, 0, 3), "{label}: copy out");
    }
    assert_eq!(out.resolve("out:1").unwrap().descriptor.digest, seed.root.digest, "{label}: copied-out root");
    for (descriptor, bytes) in &seed.contents {
        assert!(out.read_blob(&descriptor.digest, u64::MAX).unwrap() == *bytes, "{label}: copied-out {descriptor:?}");
    }

    // A manifest whose bytes are not the descriptor's is refused.
    let manifest = &seed.contents.iter().find(|(d, _)| d.digest == seed.child.digest).unwrap().1;
    let mut tampered = manifest.clone();
    tampered.push(b'\n');
    let refused = destination.push_manifest(&seed.child, &tampered).await;
    assert!(matches!(refused, Err(TargetError::Verification { .. })), "{label}: tampered manifest: {refused:?}");
    let wrong_size = Descriptor { size: seed.child.size + 1, ..seed.child.clone() };
    let refused = destination.push_manifest(&wrong_size, manifest).await;
    assert!(matches!(refused, Err(TargetError::Verification { .. })), "{label}: wrong size: {refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("store"));
    let destination = StoreDestination::new(&store).unwrap();
    let abilities = Abilities { resolves_untagged_digests: false };
    conformance("store", &store, &destination, "conformance/m:v1", abilities).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_layout_directory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Store::new(dir.path().join("layout"));
    let destination = StoreDestination::image_layout(&layout).unwrap();
    let abilities = Abilities { resolves_untagged_digests: false };
    conformance("oci: layout", &layout, &destination, "v1", abilities).await;
    // Named as other tools expect: the bare tag.
    let index = std::fs::read_to_string(dir.path().join("layout/index.json")).unwrap();
    assert!(index.contains(r#""org.opencontainers.image.ref.name":"v1""#), "{index}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_repository_conforms() {
    let registry = RegistryServer::anonymous();
    let client = RegistryClient::new(ClientOptions::default()).unwrap();
    let repository = client.repository(&registry.host(), "conformance/m");
    let abilities = Abilities { resolves_untagged_digests: true };
    conformance("registry", &repository, &repository, "v1", abilities).await;
}

/// Which bytes of a blob to read.
#[derive(Clone, Copy)]
enum Window {
    /// `fetch(descriptor, offset)`.
    Tail(u64),
    /// `fetch_range(descriptor, start, end)`.
    Range(u64, u64),
}

/// Reads a window of `blob` from `source` and checks that it is exactly
/// `expected`. The window is read through the traits only: a scratch store
/// copies it as a blob of its own whose descriptor is that of `expected`, so
/// the store's own size and digest checks do the comparing.
async fn read_exactly(
    source: &dyn Source,
    blob: &Descriptor,
    window: Window,
    expected: &[u8],
) -> Result<(), TargetError> {
    let dir = tempfile::tempdir().unwrap();
    let scratch = Store::new(dir.path());
    let destination = StoreDestination::new(&scratch).unwrap();
    let reader = WindowSource { inner: source, blob: blob.clone(), window };
    let expected_descriptor = Descriptor::for_bytes(LAYER_TYPE, expected);
    destination.copy_blob(&reader, &expected_descriptor, &NoTransferReporter).await?;
    assert!(scratch.read_blob(&expected_descriptor.digest, u64::MAX).unwrap() == expected);
    Ok(())
}

/// A source whose only blob is a window of another source's blob.
struct WindowSource<'a> {
    inner: &'a dyn Source,
    blob: Descriptor,
    window: Window,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, TargetError>> + Send + 'a>>;

// Written out by hand: this crate does not depend on async-trait.
impl Source for WindowSource<'_> {
    fn name(&self) -> String {
        format!("{} (window)", self.inner.name())
    }

    fn resolve<'a, 'b, 'c>(&'a self, _reference: &'b str) -> Boxed<'c, Descriptor>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move { Err(TargetError::Unsupported { target: self.name(), what: "resolve".into() }) })
    }

    fn fetch_all<'a, 'b, 'c>(&'a self, _descriptor: &'b Descriptor) -> Boxed<'c, Vec<u8>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move { Err(TargetError::Unsupported { target: self.name(), what: "fetch_all".into() }) })
    }

    fn fetch<'a, 'b, 'c>(&'a self, _descriptor: &'b Descriptor, offset: u64) -> Boxed<'c, BlobStream>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            assert_eq!(offset, 0, "a window is read from its start");
            match self.window {
                Window::Tail(offset) => self.inner.fetch(&self.blob, offset).await,
                Window::Range(start, end) => self
                    .inner
                    .fetch_range(&self.blob, start, end)
                    .await?
                    .ok_or_else(|| TargetError::Unsupported { target: self.inner.name(), what: "fetch_range".into() }),
            }
        })
    }
}
