//! Interoperability with skopeo, an independent client: each side reads what the
//! other pushed, and the digests are identical.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use hoist_oci::{Descriptor, Digest, ImageManifest, Source, media_types};
use hoist_store::Store;
use hoist_testkit::{RegistryServer, require_tool};

fn skopeo(args: &[&str]) {
    let output = Command::new(require_tool("skopeo")).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "skopeo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The manifest digest an OCI layout's index.json names first.
fn layout_root(dir: &Path) -> Digest {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_copies_what_hoist_pushed() {
    require_tool("skopeo");
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("store"));
    let root = artifact(&store, "x:1", &[pseudo_random(20_000, 1), pseudo_random(300, 2)]);
    push(&store, &anonymous_client().repository(&registry.host(), "x"), &root, "1").await;

    let layout = dir.path().join("layout");
    let source = format!("docker://{}/x:1", registry.host());
    let destination = format!("oci:{}:x", layout.display());
    skopeo(&["copy", "--preserve-digests", "--src-tls-verify=false", &source, &destination]);
    assert_eq!(layout_root(&layout), root.digest);
    let manifest = ImageManifest::from_slice(&blob(&store, &root)).unwrap();
    for layer in &manifest.layers {
        let copied = std::fs::read(layout.join("blobs/sha256").join(layer.digest.hex())).unwrap();
        assert_eq!(copied, blob(&store, layer));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hoist_pulls_what_skopeo_pushed() {
    require_tool("skopeo");
    let registry = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();

    // A tiny OCI layout written by hand, so nothing of hoist is on this side.
    let layout = dir.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let write_blob = |media_type: &str, bytes: &[u8]| {
        let descriptor = Descriptor::for_bytes(media_type, bytes);
        std::fs::write(blobs.join(descriptor.digest.hex()), bytes).unwrap();
        descriptor
    };
    let layer = write_blob(media_types::OCI_LAYER_TAR, &pseudo_random(4096, 3));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        layer.digest
    );
    let config = write_blob(media_types::OCI_IMAGE_CONFIG, config.as_bytes());
    let manifest = ImageManifest::new(config, vec![layer.clone()]).to_canonical_json();
    let root = write_blob(media_types::OCI_MANIFEST, &manifest);
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"t"}}}}]}}"#,
        root.media_type, root.digest, root.size
    );
    std::fs::write(layout.join("index.json"), index).unwrap();

    let source = format!("oci:{}:t", layout.display());
    let destination = format!("docker://{}/y:1", registry.host());
    skopeo(&["copy", "--preserve-digests", "--dest-tls-verify=false", &source, &destination]);

    let repository = anonymous_client().repository(&registry.host(), "y");
    assert_eq!(repository.resolve("1").await.unwrap().digest, root.digest);
    let (pulled, pulled_root) = pull(&repository, "1", &dir.path().join("store")).await;
    assert_eq!(pulled_root.digest, root.digest);
    assert_eq!(blob(&pulled, &pulled_root), manifest);
    assert_eq!(blob(&pulled, &layer), std::fs::read(blobs.join(layer.digest.hex())).unwrap());
}
