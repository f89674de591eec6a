//! Shared by the integration tests: artifacts in a store, clients, copies.

#![allow(dead_code)] // each test binary uses a different part

use hoist_oci::{
    CopyOptions, CopyReport, Descriptor, Destination, ImageManifest, NoTransferReporter, Reference, Source, copy_graph,
    media_types,
};
use hoist_registry::{ClientOptions, RegistryClient, Repository};
use hoist_store::{Store, StoreDestination};
pub use hoist_testkit::pseudo_random;

pub const LAYER_TYPE: &str = "application/vnd.hoist.test.layer";

/// A config and one layer per entry of `layers`, a manifest, tagged `name` in the store.
pub fn artifact(store: &Store, name: &str, layers: &[Vec<u8>]) -> Descriptor {
    let session = store.write_session().unwrap();
    let config = format!(r#"{{"name":"{name}"}}"#);
    let (digest, size) = session.put_bytes(config.as_bytes()).unwrap();
    let config = Descriptor::new(media_types::OCI_IMAGE_CONFIG, digest, size);
    let layers = layers
        .iter()
        .map(|bytes| {
            let (digest, size) = session.put_bytes(bytes).unwrap();
            Descriptor::new(LAYER_TYPE, digest, size)
        })
        .collect();
    let manifest = ImageManifest::new(config, layers).to_canonical_json();
    let (digest, size) = session.put_bytes(&manifest).unwrap();
    let root = Descriptor::new(media_types::OCI_MANIFEST, digest, size);
    let reference: Reference = name.parse().unwrap();
    session.tag(&root, &reference).unwrap();
    root
}

pub fn client(options: ClientOptions) -> RegistryClient {
    RegistryClient::new(options).unwrap()
}

pub fn anonymous_client() -> RegistryClient {
    client(ClientOptions::default())
}

pub async fn copy(source: &dyn Source, destination: &dyn Destination, root: &Descriptor, tag: &str) -> CopyReport {
    copy_graph(source, destination, root, Some(tag), &CopyOptions::default(), &NoTransferReporter).await.unwrap()
}

/// Pushes the store's `root` to the repository, tagged `tag`.
pub async fn push(store: &Store, repository: &Repository, root: &Descriptor, tag: &str) -> CopyReport {
    copy(store, repository, root, tag).await
}

/// Pulls `tag` from the repository into a new store; returns it with the root.
pub async fn pull(repository: &Repository, tag: &str, into: &std::path::Path) -> (Store, Descriptor) {
    let store = Store::new(into);
    let root = repository.resolve(tag).await.unwrap();
    let destination = StoreDestination::new(&store).unwrap();
    let reference = format!("{}:{tag}", repository.repository());
    copy(repository, &destination, &root, &reference).await;
    drop(destination);
    (store, root)
}

pub fn blob(store: &Store, descriptor: &Descriptor) -> Vec<u8> {
    store.read_blob(&descriptor.digest, u64::MAX).unwrap()
}

pub fn load(report: &CopyReport) -> (usize, u64, usize, usize) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        report.blobs_copied.load(Relaxed),
        report.bytes_copied.load(Relaxed),
        report.blobs_skipped.load(Relaxed),
        report.blobs_mounted.load(Relaxed),
    )
}
