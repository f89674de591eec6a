use std::collections::BTreeSet;
use std::fs;

use hoist_oci::{Descriptor, Digest, ImageManifest, Reference, media_types};
use hoist_store::{Store, WriteSession};
use tempfile::TempDir;

/// A store in a fresh temp directory (not yet initialised).
pub fn new_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("store"));
    (dir, store)
}

pub fn reference(text: &str) -> Reference {
    text.parse().unwrap()
}

/// A committed model: config + one layer + manifest, all distinct per `seed`.
pub struct Model {
    pub manifest: Descriptor,
    pub config: Digest,
    pub layer: Digest,
}

pub fn put_model(session: &WriteSession, seed: &str) -> Model {
    let (layer, layer_size) = session.put_bytes(format!("weights of {seed}").as_bytes()).unwrap();
    let (config, config_size) = session.put_bytes(format!(r#"{{"model":"{seed}"}}"#).as_bytes()).unwrap();
    let manifest = ImageManifest::new(
        Descriptor::new(media_types::OCI_IMAGE_CONFIG, config.clone(), config_size),
        vec![Descriptor::new("application/vnd.example.weights", layer.clone(), layer_size)],
    );
    let (digest, size) = session.put_bytes(&manifest.to_canonical_json()).unwrap();
    Model { manifest: Descriptor::new(media_types::OCI_MANIFEST, digest, size), config, layer }
}

/// Names of the files in blobs/sha256.
pub fn blob_names(store: &Store) -> BTreeSet<String> {
    dir_names(&store.root().join("blobs/sha256"))
}

/// Names of the entries in ingest/.
pub fn ingest_names(store: &Store) -> BTreeSet<String> {
    dir_names(&store.root().join("ingest"))
}

fn dir_names(dir: &std::path::Path) -> BTreeSet<String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}
