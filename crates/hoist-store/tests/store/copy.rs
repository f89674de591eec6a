//! The store as a copy source and destination (`copy_graph`), including an OCI
//! image layout directory that skopeo reads.

use std::process::Command;

use hoist_oci::{
    CopyOptions, Descriptor, Destination, ImageIndex, ImageManifest, NoTransferReporter, Source, TargetError,
    copy_graph, media_types,
};
use hoist_store::{Store, StoreDestination};

use crate::helpers::{Model, blob_names, ingest_names, new_store, put_model, reference};

/// A model committed in `store` and tagged `name`.
fn tagged_model(store: &Store, name: &str) -> Model {
    let session = store.write_session().unwrap();
    let model = put_model(&session, name);
    session.tag(&model.manifest, &reference(name)).unwrap();
    model
}

#[tokio::test]
async fn copy_graph_between_stores_copies_then_skips() {
    let (_a, source) = new_store();
    let (_b, target) = new_store();
    let model = tagged_model(&source, "m:1");
    let root = Source::resolve(&source, "m:1").await.unwrap();
    assert_eq!(root.digest, model.manifest.digest);
    let destination = StoreDestination::new(&target).unwrap();
    let report = copy_graph(&source, &destination, &root, Some("m:1"), &CopyOptions::default(), &NoTransferReporter)
        .await
        .unwrap();
    assert_eq!(report.blobs_copied.into_inner(), 2);
    assert_eq!(report.manifests_pushed.into_inner(), 1);
    assert_eq!(blob_names(&source), blob_names(&target));
    assert_eq!(target.resolve("m:1").unwrap().descriptor.digest, model.manifest.digest);

    let again = copy_graph(&source, &destination, &root, Some("m:2"), &CopyOptions::default(), &NoTransferReporter)
        .await
        .unwrap();
    assert_eq!(again.blobs_copied.into_inner(), 0, "the manifest is there: nothing under it moves");
    assert_eq!(again.manifests_skipped.into_inner(), 1);
    assert_eq!(target.resolve("m:2").unwrap().descriptor.digest, model.manifest.digest);
}

#[tokio::test]
async fn an_index_is_copied_children_first() {
    let (_a, source) = new_store();
    let (_b, target) = new_store();
    let index_descriptor = {
        let session = source.write_session().unwrap();
        let one = put_model(&session, "one");
        let two = put_model(&session, "two");
        let index = ImageIndex::new(vec![one.manifest, two.manifest]);
        let (digest, size) = session.put_bytes(&index.to_canonical_json()).unwrap();
        let descriptor = Descriptor::new(media_types::OCI_INDEX, digest, size);
        session.tag(&descriptor, &reference("both:1")).unwrap();
        descriptor
    };
    let destination = StoreDestination::new(&target).unwrap();
    let report = copy_graph(
        &source,
        &destination,
        &index_descriptor,
        Some("both:1"),
        &CopyOptions::default(),
        &NoTransferReporter,
    )
    .await
    .unwrap();
    assert_eq!(report.manifests_pushed.into_inner(), 3);
    assert_eq!(report.blobs_copied.into_inner(), 4);
    assert_eq!(blob_names(&source), blob_names(&target));
}

/// A referrer (a signature, an SBOM) that points at its subject with `subject`.
fn put_referrer(store: &Store, subject: &Descriptor, name: &str) -> Descriptor {
    let session = store.write_session().unwrap();
    let (layer, layer_size) = session.put_bytes(b"signature bytes").unwrap();
    let (config, config_size) = session.put_bytes(b"{}").unwrap();
    let mut manifest = ImageManifest::new(
        Descriptor::new(media_types::OCI_EMPTY, config, config_size),
        vec![Descriptor::new("application/vnd.example.signature", layer, layer_size)],
    );
    manifest.subject = Some(subject.clone());
    let (digest, size) = session.put_bytes(&manifest.to_canonical_json()).unwrap();
    let descriptor = Descriptor::new(media_types::OCI_MANIFEST, digest, size);
    session.tag(&descriptor, &reference(name)).unwrap();
    descriptor
}

#[tokio::test]
async fn a_referrer_copied_without_its_subject_is_complete_and_survives_prune() {
    let (_a, source) = new_store();
    let (_b, target) = new_store();
    let model = tagged_model(&source, "m:1");
    let referrer = put_referrer(&source, &model.manifest, "sig:1");
    let destination = StoreDestination::new(&target).unwrap();
    let report =
        copy_graph(&source, &destination, &referrer, Some("sig:1"), &CopyOptions::default(), &NoTransferReporter)
            .await
            .unwrap();
    assert_eq!(report.manifests_pushed.into_inner(), 1, "the subject is not copied");
    assert_eq!(report.blobs_copied.into_inner(), 2);
    assert!(!target.has_blob(&model.manifest.digest));
    assert!(target.missing_blobs(&referrer).is_empty(), "a referrer is complete without its subject");
    assert!(destination.exists(&referrer).await.unwrap(), "so a push from here would not refuse it");
    drop(destination); // its write session holds the gc lock that prune takes
    assert!(target.verify(&hoist_store::NoVerifyReporter).unwrap().is_ok());
    assert_eq!(target.prune().unwrap().blobs_removed, 0);

    // In the source, the subject is kept alive by its referrer after its own name goes.
    source.untag(&reference("m:1")).unwrap();
    let before = blob_names(&source);
    assert_eq!(source.prune().unwrap().blobs_removed, 0);
    assert_eq!(blob_names(&source), before);
}

#[tokio::test]
async fn manifests_of_an_index_that_share_a_blob_copy_it_once() {
    let (_a, source) = new_store();
    let (_b, target) = new_store();
    let index_descriptor = {
        let session = source.write_session().unwrap();
        // Same seed, different configs: two manifests sharing one layer.
        let one = put_model(&session, "shared");
        let (config, config_size) = session.put_bytes(b"{\"other\":true}").unwrap();
        let (layer, layer_size) = session.put_bytes(b"weights of shared").unwrap();
        let two = ImageManifest::new(
            Descriptor::new(media_types::OCI_IMAGE_CONFIG, config, config_size),
            vec![Descriptor::new("application/vnd.example.weights", layer, layer_size)],
        );
        let (digest, size) = session.put_bytes(&two.to_canonical_json()).unwrap();
        let index = ImageIndex::new(vec![one.manifest, Descriptor::new(media_types::OCI_MANIFEST, digest, size)]);
        let (digest, size) = session.put_bytes(&index.to_canonical_json()).unwrap();
        Descriptor::new(media_types::OCI_INDEX, digest, size)
    };
    let destination = StoreDestination::new(&target).unwrap();
    let options = CopyOptions { concurrency: 1, ..CopyOptions::default() };
    let report =
        copy_graph(&source, &destination, &index_descriptor, Some("i:1"), &options, &NoTransferReporter).await.unwrap();
    assert_eq!(report.manifests_pushed.into_inner(), 3);
    assert_eq!(report.blobs_copied.into_inner(), 3, "two configs and the one shared layer");
    assert_eq!(report.blobs_skipped.into_inner(), 0, "the shared layer is neither copied twice nor re-checked");
    assert_eq!(blob_names(&source), blob_names(&target));
}

#[tokio::test]
async fn a_blob_that_does_not_match_its_digest_is_never_committed() {
    let (_a, source) = new_store();
    let (_b, target) = new_store();
    let model = tagged_model(&source, "m:1");
    // Flip a byte of the layer in the source.
    let path = source.blob_path(&model.layer);
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&path, permissions).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();

    let destination = StoreDestination::new(&target).unwrap();
    let error =
        copy_graph(&source, &destination, &model.manifest, Some("m:1"), &CopyOptions::default(), &NoTransferReporter)
            .await
            .unwrap_err();
    assert!(matches!(&error, TargetError::Verification { digest, .. } if *digest == model.layer), "{error}");
    assert!(!target.has_blob(&model.layer));
    assert!(!target.has_blob(&model.manifest.digest), "no manifest without its blobs");
    assert!(ingest_names(&target).is_empty());
    assert!(target.list().unwrap().is_empty());
}

#[tokio::test]
async fn an_image_layout_directory_is_named_the_way_skopeo_reads_it() {
    assert!(
        Command::new("skopeo").arg("--version").output().is_ok(),
        "skopeo is needed by this test: apt-get install -y skopeo (scripts/test.sh installs it)"
    );
    let (_a, source) = new_store();
    let (dir, layout) = new_store();
    let model = tagged_model(&source, "m:1");
    let destination = StoreDestination::image_layout(&layout).unwrap();
    copy_graph(&source, &destination, &model.manifest, Some("v1"), &CopyOptions::default(), &NoTransferReporter)
        .await
        .unwrap();
    drop(destination);
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:v1", layout.root().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, source.read_blob(&model.manifest.digest, 1 << 20).unwrap());
    drop(dir);
}
