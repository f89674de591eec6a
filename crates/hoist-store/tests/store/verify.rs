use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use hoist_oci::Digest;
use hoist_store::{NoVerifyReporter, VerifyReporter};

use crate::helpers::{new_store, put_model, reference};

#[derive(Default)]
struct Recorder {
    started: RefCell<Option<(usize, u64)>>,
    checked: RefCell<Vec<(Digest, u64)>>,
}

impl VerifyReporter for Recorder {
    fn started(&self, blobs: usize, bytes: u64) {
        *self.started.borrow_mut() = Some((blobs, bytes));
    }

    fn blob_checked(&self, digest: &Digest, size: u64) {
        self.checked.borrow_mut().push((digest.clone(), size));
    }
}

#[test]
fn verify_finds_flipped_bytes_and_missing_blobs() {
    let (_dir, store) = new_store();
    let session = store.write_session().unwrap();
    let model = put_model(&session, "a");
    session.tag(&model.manifest, &reference("a")).unwrap();
    drop(session);

    let recorder = Recorder::default();
    let report = store.verify(&recorder).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.blobs_checked, 3);
    assert_eq!(*recorder.started.borrow(), Some((3, report.bytes_checked)));
    assert_eq!(store.blobs_size().unwrap(), report.bytes_checked);
    assert_eq!(recorder.checked.borrow().len(), 3);
    assert_eq!(recorder.checked.borrow().iter().map(|(_, size)| size).sum::<u64>(), report.bytes_checked);

    // Flip one byte of the layer.
    let path = store.blob_path(&model.layer);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let report = store.verify(&NoVerifyReporter).unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert_eq!(report.corrupt[0].0, model.layer);
    assert!(report.corrupt[0].1.contains(&Digest::of(&bytes).to_string()), "{}", report.corrupt[0].1);
    assert!(report.missing.is_empty());

    // A size that differs from the descriptor is named too.
    fs::write(&path, b"short").unwrap();
    let report = store.verify(&NoVerifyReporter).unwrap();
    assert!(report.corrupt[0].1.contains("size 5, expected"), "{}", report.corrupt[0].1);

    // A referenced blob that is gone.
    fs::remove_file(&path).unwrap();
    fs::remove_file(store.blob_path(&model.config)).unwrap();
    let report = store.verify(&NoVerifyReporter).unwrap();
    assert!(report.corrupt.is_empty(), "{report:?}");
    let mut expected = vec![model.config.clone(), model.layer.clone()];
    expected.sort();
    assert_eq!(report.missing, expected);
    assert_eq!(report.blobs_checked, 1);
}
