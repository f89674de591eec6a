use std::fs;
use std::io::Write;

use hoist_oci::Digest;
use hoist_store::StoreError;

use crate::helpers::{blob_names, ingest_names, new_store, put_model};

#[test]
fn dropped_ingests_and_staged_blobs_leave_nothing_behind() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    put_model(&session, "existing");
    let blobs_before = blob_names(&store);

    let mut ingest = session.ingest().unwrap();
    ingest.write_all(b"half a file").unwrap();
    assert_eq!(ingest.written(), 11);
    assert_eq!(ingest_names(&store).len(), 1);
    drop(ingest);
    assert!(ingest_names(&store).is_empty());

    let mut ingest = session.ingest().unwrap();
    ingest.write_all(b"a whole file").unwrap();
    let staged = ingest.finish(None).unwrap();
    assert_eq!(*staged.digest(), Digest::of(b"a whole file"));
    assert_eq!(staged.size(), 12);
    assert!(!store.has_blob(staged.digest()), "staged is not committed");
    drop(staged);
    assert!(ingest_names(&store).is_empty());
    assert_eq!(blob_names(&store), blobs_before);
}

#[test]
fn finish_checks_the_expected_digest_and_size() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let expected = Digest::of(b"the right bytes");

    let mut ingest = session.ingest().unwrap();
    ingest.write_all(b"the wrong bytes").unwrap();
    let error = ingest.finish(Some((&expected, 15))).err().unwrap();
    assert!(matches!(&error, StoreError::Corrupt { digest, .. } if *digest == expected), "{error}");
    let text = error.to_string();
    assert!(
        text.contains(&expected.to_string()) && text.contains(&Digest::of(b"the wrong bytes").to_string()),
        "{text}"
    );

    let mut ingest = session.ingest().unwrap();
    ingest.write_all(b"the right bytes").unwrap();
    let error = ingest.finish(Some((&expected, 16))).err().unwrap();
    assert!(error.to_string().contains("size 15, expected 16"), "{error}");

    assert!(ingest_names(&store).is_empty());
    assert!(blob_names(&store).is_empty());

    let mut ingest = session.ingest().unwrap();
    ingest.write_all(b"the right bytes").unwrap();
    assert_eq!(ingest.finish(Some((&expected, 15))).unwrap().commit().unwrap(), (expected.clone(), 15));
    assert!(store.has_blob(&expected));
}

#[test]
fn committing_an_existing_blob_keeps_one_copy() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let first = session.put_bytes(b"same").unwrap();
    let second = session.put_bytes(b"same").unwrap();
    assert_eq!(first, second);
    assert_eq!(blob_names(&store).len(), 1);
    assert!(ingest_names(&store).is_empty());
    assert_eq!(fs::read(store.blob_path(&first.0)).unwrap(), b"same");
}

#[test]
fn reads_refuse_missing_oversized_and_corrupt_blobs() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let (digest, _) = session.put_bytes(b"0123456789").unwrap();
    assert_eq!(store.read_blob(&digest, 10).unwrap(), b"0123456789");

    let error = store.read_blob(&digest, 9).unwrap_err();
    assert!(matches!(error, StoreError::BlobTooLarge { size: 10, max: 9, .. }), "{error}");

    let absent = Digest::of(b"absent");
    let error = store.open_blob(&absent).unwrap_err();
    assert!(matches!(&error, StoreError::BlobNotFound { digest, .. } if *digest == absent), "{error}");
    assert!(!store.has_blob(&absent));

    // Content that no longer matches its name is refused, naming the blob.
    let path = store.blob_path(&digest);
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"0123456780").unwrap();
    let error = store.read_blob(&digest, 10).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
}
