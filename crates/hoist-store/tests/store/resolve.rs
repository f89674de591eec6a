use std::collections::BTreeMap;

use hoist_oci::{Descriptor, Digest, ImageManifest, media_types};
use hoist_store::{Store, StoreError};

use crate::helpers::{Model, new_store, put_model, reference};

/// Two tagged models: `qwen2:latest`, and one tagged twice.
fn two_models(store: &Store) -> (Model, Model) {
    let session = store.write_session().unwrap();
    let a = put_model(&session, "a");
    let b = put_model(&session, "b");
    session.tag(&a.manifest, &reference("qwen2")).unwrap();
    session.tag(&b.manifest, &reference("registry.example.com/team/llama:8b")).unwrap();
    session.tag(&b.manifest, &reference("llama:8b")).unwrap();
    (a, b)
}

#[test]
fn resolves_exact_and_normalised_references() {
    let (_dir, store) = new_store();
    let (a, b) = two_models(&store);
    let found = store.resolve("qwen2:latest").unwrap();
    assert_eq!(found.descriptor.digest, a.manifest.digest);
    assert_eq!(found.references, ["qwen2:latest"]);
    assert_eq!(store.resolve("qwen2").unwrap().descriptor.digest, a.manifest.digest);

    let found = store.resolve("registry.example.com/team/llama:8b").unwrap();
    assert_eq!(found.descriptor.digest, b.manifest.digest);
    assert_eq!(found.references, ["llama:8b", "registry.example.com/team/llama:8b"]);
}

#[test]
fn resolves_digests_and_id_prefixes() {
    let (_dir, store) = new_store();
    let (a, b) = two_models(&store);
    let digest = b.manifest.digest.to_string();
    assert_eq!(store.resolve(&digest).unwrap().descriptor.digest, b.manifest.digest);
    assert_eq!(store.resolve(&format!("llama@{digest}")).unwrap().descriptor.digest, b.manifest.digest);
    assert_eq!(store.resolve(a.manifest.digest.short()).unwrap().descriptor.digest, a.manifest.digest);
    let prefixed = format!("sha256:{}", &a.manifest.digest.hex()[..6]);
    assert_eq!(store.resolve(&prefixed).unwrap().references, ["qwen2:latest"]);
    // A digest in the store but not tagged is not a model.
    assert!(matches!(store.resolve(&a.config.to_string()), Err(StoreError::NotFound { .. })));
    // Too short to be an ID.
    assert!(matches!(store.resolve(&a.manifest.digest.hex()[..3]), Err(StoreError::NotFound { .. })));
}

#[test]
fn an_ambiguous_id_prefix_is_an_error_listing_the_candidates() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let config = Descriptor::for_bytes(media_types::OCI_EMPTY, b"{}");
    session.put_bytes(b"{}").unwrap();
    // Find two manifests whose digests share their first 4 hex characters
    // (about 300 tries by the birthday bound).
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let (first, second) = (0..1_000_000)
        .find_map(|i| {
            let mut manifest = ImageManifest::new(config.clone(), vec![]);
            manifest.annotations.insert("n".into(), i.to_string());
            let bytes = manifest.to_canonical_json();
            let prefix = Digest::of(&bytes).hex()[..4].to_string();
            seen.insert(prefix, bytes.clone()).map(|other| (other, bytes))
        })
        .unwrap();
    let mut digests = Vec::new();
    for (name, bytes) in [("one", &first), ("two", &second)] {
        let (digest, size) = session.put_bytes(bytes).unwrap();
        session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest.clone(), size), &reference(name)).unwrap();
        digests.push(digest.to_string());
    }
    digests.sort();
    let prefix = &digests[0]["sha256:".len()..][..4];
    match store.resolve(prefix) {
        Err(StoreError::Ambiguous { query, candidates }) => {
            assert_eq!(query, prefix);
            assert_eq!(candidates, digests);
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    // A longer prefix picks one.
    let longer = &digests[0]["sha256:".len()..][..20];
    assert_eq!(store.resolve(longer).unwrap().descriptor.digest.to_string(), digests[0]);
}

#[test]
fn not_found_names_the_query_and_the_store() {
    let (_dir, store) = new_store();
    two_models(&store);
    for query in ["mistral", "qwen2:other", "UPPER::x", "", "ffffffff", &format!("sha256:{}", "0".repeat(64))] {
        let error = store.resolve(query).unwrap_err();
        assert!(matches!(&error, StoreError::NotFound { query: q, .. } if q == query), "{query}: {error}");
        let text = error.to_string();
        assert!(text.contains(&format!("no model named {query} in store")), "{text}");
        assert!(text.contains(&store.root().display().to_string()), "{text}");
    }
}
