use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use hoist_oci::{ANNOTATION_REF_NAME, ImageIndex};
use hoist_store::{NoVerifyReporter, Store, StoreError};

use crate::helpers::{new_store, put_model, reference};

#[test]
fn the_layout_written_is_an_oci_image_layout() {
    let (_dir, store) = new_store();
    assert!(!store.is_initialized());
    let session = store.write_session().unwrap();
    assert!(store.is_initialized());
    assert_eq!(fs::read_to_string(store.root().join("oci-layout")).unwrap(), r#"{"imageLayoutVersion":"1.0.0"}"#);
    assert!(ImageIndex::from_slice(&fs::read(store.root().join("index.json")).unwrap()).unwrap().manifests.is_empty());

    let model = put_model(&session, "a");
    assert_eq!(session.tag(&model.manifest, &reference("qwen2:0.5b-q5")).unwrap(), None);

    let bytes = fs::read(store.root().join("index.json")).unwrap();
    let index = ImageIndex::from_slice(&bytes).unwrap();
    assert_eq!(index.to_canonical_json(), bytes, "index.json is written canonically");
    assert_eq!(index.manifests.len(), 1);
    assert_eq!(index.manifests[0].digest, model.manifest.digest);
    assert_eq!(index.manifests[0].annotation(ANNOTATION_REF_NAME), Some("qwen2:0.5b-q5"));

    for digest in [&model.manifest.digest, &model.config, &model.layer] {
        let path = store.blob_path(digest);
        assert_eq!(path, store.root().join("blobs/sha256").join(digest.hex()));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444, "{}", path.display());
        assert_eq!(hoist_oci::Digest::of(&fs::read(&path).unwrap()), *digest);
    }
}

#[test]
fn tag_replaces_untag_removes_and_list_is_sorted() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let a = put_model(&session, "a");
    let b = put_model(&session, "b");
    for name in ["zeta:1", "registry.example.com/team/qwen2:latest", "alpha:2"] {
        session.tag(&a.manifest, &reference(name)).unwrap();
    }
    let listed: Vec<String> = store.list().unwrap().into_iter().map(|t| t.reference).collect();
    assert_eq!(listed, ["alpha:2", "registry.example.com/team/qwen2:latest", "zeta:1"]);

    let replaced = session.tag(&b.manifest, &reference("zeta:1")).unwrap().unwrap();
    assert_eq!(replaced.digest, a.manifest.digest);
    assert_eq!(replaced.annotation(ANNOTATION_REF_NAME), Some("zeta:1"));
    let list = store.list().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[2].descriptor.digest, b.manifest.digest);
    assert_eq!(list[2].descriptor.annotation(ANNOTATION_REF_NAME), Some("zeta:1"));

    let removed = store.untag(&reference("alpha:2")).unwrap();
    assert_eq!(removed.digest, a.manifest.digest);
    let listed: Vec<String> = store.list().unwrap().into_iter().map(|t| t.reference).collect();
    assert_eq!(listed, ["registry.example.com/team/qwen2:latest", "zeta:1"]);
    let error = store.untag(&reference("alpha:2")).unwrap_err();
    assert!(matches!(&error, StoreError::NotFound { query, .. } if query == "alpha:2"), "{error}");
}

#[test]
fn tag_refuses_a_reference_pinning_another_digest() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let a = put_model(&session, "a");
    let b = put_model(&session, "b");
    let pinned = reference(&format!("x@{}", b.manifest.digest));
    let error = session.tag(&a.manifest, &pinned).unwrap_err();
    assert!(matches!(error, StoreError::TagDigestMismatch { .. }), "{error}");
    assert!(store.list().unwrap().is_empty());
    session.tag(&b.manifest, &pinned).unwrap();
    assert_eq!(store.list().unwrap()[0].reference, pinned.to_string());
}

#[test]
fn init_is_idempotent_and_refuses_foreign_directories() {
    let (dir, store) = new_store();
    store.init().unwrap();
    let session = store.write_session().unwrap();
    session.tag(&put_model(&session, "a").manifest, &reference("a")).unwrap();
    drop(session);
    store.init().unwrap();
    assert_eq!(store.list().unwrap().len(), 1, "a second init keeps the index");

    let foreign = Store::new(dir.path().join("foreign"));
    fs::create_dir(foreign.root()).unwrap();
    fs::write(foreign.root().join("notes.txt"), "mine").unwrap();
    let error = foreign.init().unwrap_err();
    assert!(matches!(error, StoreError::NotALayout { .. }), "{error}");
    assert!(error.to_string().contains("foreign"), "{error}");
    assert!(!foreign.root().join("blobs").exists());

    let file = Store::new(dir.path().join("a-file"));
    fs::write(file.root(), "x").unwrap();
    assert!(matches!(file.init(), Err(StoreError::NotALayout { .. })));

    let future = Store::new(dir.path().join("future"));
    fs::create_dir(future.root()).unwrap();
    fs::write(future.root().join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
    let error = future.init().unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedLayout { .. }), "{error}");
    assert!(error.to_string().contains("2.0.0"), "{error}");
}

#[test]
fn a_missing_store_reads_as_empty_and_is_not_created() {
    let (_dir, store) = new_store();
    assert!(store.list().unwrap().is_empty());
    assert!(matches!(store.resolve("qwen2"), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.untag(&reference("qwen2")), Err(StoreError::NotFound { .. })));
    assert_eq!(store.prune().unwrap().blobs_removed, 0);
    assert!(store.try_prune().unwrap().is_some());
    assert!(store.verify(&NoVerifyReporter).unwrap().is_ok());
    assert_eq!(store.blobs_size().unwrap(), 0);
    assert!(!store.is_initialized());
    assert!(!store.root().exists(), "reading must not create the store");
}

/// Another OCI tool reads the store as it is.
#[test]
fn skopeo_reads_a_tagged_manifest() {
    assert!(
        Command::new("skopeo").arg("--version").output().is_ok(),
        "skopeo is needed by this test: apt-get install -y skopeo (scripts/test.sh installs it)"
    );
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let model = put_model(&session, "a");
    session.tag(&model.manifest, &reference("qwen2:0.5b-q5")).unwrap();
    let output = Command::new("skopeo")
        .args(["inspect", "--raw", &format!("oci:{}:qwen2:0.5b-q5", store.root().display())])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, store.read_blob(&model.manifest.digest, 1 << 20).unwrap());
}
