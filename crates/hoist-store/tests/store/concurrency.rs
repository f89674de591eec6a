use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use hoist_store::{NoVerifyReporter, Store};

use crate::helpers::{new_store, put_model, reference};

const WRITERS: usize = 8;
const ROUNDS: usize = 4;

/// Counts a writer out when its thread ends, however it ends.
struct Finished<'a> {
    writers_left: &'a AtomicUsize,
    done: &'a AtomicBool,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        if self.writers_left.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.done.store(true, Ordering::SeqCst);
        }
    }
}

/// Writers (each with its own handle, racing even to initialise the store) tag
/// while another thread prunes in a loop: no tag is lost and no tagged blob is
/// pruned between its commit and its tag.
#[test]
fn concurrent_writers_and_prune_lose_nothing() {
    let (_dir, store) = new_store();
    let writers_left = AtomicUsize::new(WRITERS);
    let done = AtomicBool::new(false);
    let prunes = AtomicUsize::new(0);
    thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (root, writers_left, done) = (store.root().to_path_buf(), &writers_left, &done);
            scope.spawn(move || {
                // Even a panicking writer must stop the pruner, or the test hangs.
                let _finished = Finished { writers_left, done };
                let store = Store::new(root);
                for round in 0..ROUNDS {
                    let session = store.write_session().unwrap();
                    let model = put_model(&session, &format!("writer-{writer}-round-{round}"));
                    session.tag(&model.manifest, &reference(&format!("model-{writer}:r{round}"))).unwrap();
                }
            });
        }
        let (root, done, prunes) = (store.root().to_path_buf(), &done, &prunes);
        scope.spawn(move || {
            let store = Store::new(root);
            while !done.load(Ordering::SeqCst) {
                store.prune().unwrap();
                prunes.fetch_add(1, Ordering::SeqCst);
            }
        });
    });
    assert!(prunes.load(Ordering::SeqCst) > 0);

    let tagged = store.list().unwrap();
    assert_eq!(tagged.len(), WRITERS * ROUNDS);
    for writer in 0..WRITERS {
        for round in 0..ROUNDS {
            let name = format!("model-{writer}:r{round}");
            assert!(tagged.iter().any(|t| t.reference == name), "{name} lost");
        }
    }
    let report = store.verify(&NoVerifyReporter).unwrap();
    assert!(report.is_ok(), "{report:?}");
    // Three blobs per model, all reachable, none pruned.
    assert_eq!(report.blobs_checked, WRITERS * ROUNDS * 3);
    assert_eq!(store.prune().unwrap().blobs_removed, 0);
}
