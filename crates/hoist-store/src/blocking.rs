//! Blocking file work (a write that waits for the disk, an fsync, a lock, a
//! walk over manifests) called from the async target methods.

/// Runs `work` without stalling the other tasks of a multi-threaded runtime
/// (the worker hands its tasks to others while it blocks); inline on a
/// current-thread runtime, where nothing else could run meanwhile anyway.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
