use std::collections::BTreeSet;
use std::fs;

use hoist_oci::{Descriptor, ImageIndex, ImageManifest, media_types};
use hoist_store::{NoVerifyReporter, PruneReport, Store, StoreError};

use crate::helpers::{blob_names, ingest_names, new_store, put_model, reference};

#[test]
fn prune_keeps_everything_reachable_and_removes_the_rest() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let mut keep = BTreeSet::new();

    // A tagged model.
    let tagged = put_model(&session, "tagged");
    session.tag(&tagged.manifest, &reference("tagged")).unwrap();
    keep.extend([&tagged.manifest.digest, &tagged.config, &tagged.layer].map(|d| d.hex().to_string()));

    // A tagged index of two manifests, neither tagged itself.
    let inner: Vec<_> = ["inner-1", "inner-2"].map(|seed| put_model(&session, seed)).into();
    let index = ImageIndex::new(inner.iter().map(|m| m.manifest.clone()).collect());
    let (digest, size) = session.put_bytes(&index.to_canonical_json()).unwrap();
    session.tag(&Descriptor::new(media_types::OCI_INDEX, digest.clone(), size), &reference("nested")).unwrap();
    keep.insert(digest.hex().to_string());
    for model in &inner {
        keep.extend([&model.manifest.digest, &model.config, &model.layer].map(|d| d.hex().to_string()));
    }

    // A tagged referrer whose subject (an untagged model) must stay.
    let subject = put_model(&session, "subject");
    let mut referrer = ImageManifest::new(Descriptor::for_bytes(media_types::OCI_EMPTY, b"{}"), vec![]);
    session.put_bytes(b"{}").unwrap();
    referrer.subject = Some(subject.manifest.clone());
    let (digest, size) = session.put_bytes(&referrer.to_canonical_json()).unwrap();
    session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest.clone(), size), &reference("referrer")).unwrap();
    keep.extend([&digest, &subject.manifest.digest, &subject.config, &subject.layer].map(|d| d.hex().to_string()));
    keep.insert(hoist_oci::Digest::of(b"{}").hex().to_string());

    // A tagged blob that is not a manifest at all: kept, as a leaf.
    let (digest, size) = session.put_bytes(b"not json").unwrap();
    session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest.clone(), size), &reference("odd")).unwrap();
    keep.insert(digest.hex().to_string());

    // Garbage: an untagged model, an untagged blob, ingest leftovers.
    let untagged = put_model(&session, "untagged");
    session.tag(&untagged.manifest, &reference("gone")).unwrap();
    store.untag(&reference("gone")).unwrap();
    session.put_bytes(b"stray").unwrap();
    drop(session);
    fs::write(store.root().join("ingest/partial-download"), b"part").unwrap();
    fs::create_dir(store.root().join("ingest/chunks")).unwrap();
    fs::write(store.root().join("ingest/chunks/0"), b"chunk").unwrap();

    let garbage: BTreeSet<String> = blob_names(&store).difference(&keep).cloned().collect();
    assert_eq!(garbage.len(), 4);
    let garbage_bytes: u64 =
        garbage.iter().map(|hex| fs::metadata(store.root().join("blobs/sha256").join(hex)).unwrap().len()).sum();

    let report = store.prune().unwrap();
    assert_eq!(
        report,
        PruneReport { blobs_removed: 4, bytes_freed: garbage_bytes, ingest_files_removed: 2, cache_entries_dropped: 0 }
    );
    assert_eq!(blob_names(&store), keep);
    assert!(ingest_names(&store).is_empty());
    assert!(store.verify(&NoVerifyReporter).unwrap().is_ok());

    let again = store.prune().unwrap();
    assert_eq!(again, PruneReport::default(), "a second prune finds nothing");
    assert_eq!(store.list().unwrap().len(), 4);
}

#[test]
fn prune_drops_the_cache_entries_of_the_blobs_it_removes() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let tagged = put_model(&session, "tagged");
    session.tag(&tagged.manifest, &reference("tagged")).unwrap();
    let layer = Descriptor::new(media_types::OCI_LAYER_TAR, tagged.layer.clone(), 16);
    let (digest, size) = session.put_bytes(b"a layer of an image since removed").unwrap();
    let orphan = Descriptor::new(media_types::OCI_LAYER_TAR, digest, size);
    session.cache_insert("steps", "key-used", &layer).unwrap();
    session.cache_insert("steps", "key-orphan", &orphan).unwrap();
    session.cache_insert("steps", "key-orphan", &orphan).unwrap(); // replaces, not duplicates
    assert!(session.cache_insert("../escape", "k", &orphan).is_err());
    drop(session);
    assert_eq!(store.read_cache("steps").unwrap().len(), 2);
    assert_eq!(store.cache_lookup("steps", "key-orphan").unwrap().map(|d| d.digest), Some(orphan.digest.clone()));

    let report = store.prune().unwrap();
    assert_eq!((report.blobs_removed, report.cache_entries_dropped), (1, 1));
    assert_eq!(store.cache_lookup("steps", "key-orphan").unwrap(), None);
    let kept = store.cache_lookup("steps", "key-used").unwrap().unwrap();
    assert_eq!((&kept.digest, kept.annotation(hoist_store::ANNOTATION_CACHE_KEY)), (&tagged.layer, Some("key-used")));
    // The cache is an OCI index any tool reads.
    let bytes = fs::read(store.root().join("caches/steps.json")).unwrap();
    assert_eq!(ImageIndex::from_slice(&bytes).unwrap().manifests.len(), 1);
    assert_eq!(store.prune().unwrap(), PruneReport::default());
}

#[test]
fn try_prune_yields_to_a_live_write_session() {
    let (_dir, store) = new_store();
    let other = Store::new(store.root());
    let session = store.write_session().unwrap();
    session.put_bytes(b"committed, not yet tagged").unwrap();
    // flock locks belong to open files: a second handle, or the same one, conflicts
    // even inside this process.
    assert_eq!(other.try_prune().unwrap(), None);
    assert_eq!(store.try_prune().unwrap(), None);

    // Staged blobs share the session's lock: it lasts until they are gone too.
    let staged = session.ingest().unwrap().finish(None).unwrap();
    drop(session);
    assert_eq!(other.try_prune().unwrap(), None);
    drop(staged);

    let report = other.try_prune().unwrap().unwrap();
    assert_eq!(report.blobs_removed, 1);
    assert!(blob_names(&store).is_empty());
}

#[test]
fn prune_refuses_to_run_without_index_json() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let model = put_model(&session, "a");
    session.tag(&model.manifest, &reference("a")).unwrap();
    drop(session);
    fs::remove_file(store.root().join("index.json")).unwrap();
    let error = store.prune().unwrap_err();
    assert!(matches!(error, StoreError::Io { .. }), "{error}");
    assert!(error.to_string().contains("index.json"), "{error}");
    assert_eq!(blob_names(&store).len(), 3);
}
