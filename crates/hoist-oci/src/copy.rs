//! `copy_graph`: push, pull and copy as one walk over an artifact's graph.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::sync::{OnceCell, Semaphore};

use crate::successors::{Edge, has_successors, successors};
use crate::target::{BlobOutcome, Destination, Source, TargetError, TransferReporter};
use crate::{Descriptor, Digest};

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Blobs transferred at once, across the whole graph.
    pub concurrency: usize,
    /// Which layers to copy; all when `None`. Configs and manifests are always
    /// copied, so a filtered copy leaves a manifest whose skipped layers the
    /// destination lacks: only a destination that knows it holds partial
    /// artifacts (the store, for `pull --include`) should be given one.
    pub layer_filter: Option<LayerFilter>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions { concurrency: 4, layer_filter: None }
    }
}

/// A predicate over layer descriptors: true copies the layer.
#[derive(Clone)]
pub struct LayerFilter(Arc<dyn Fn(&Descriptor) -> bool + Send + Sync>);

impl LayerFilter {
    pub fn new(keep: impl Fn(&Descriptor) -> bool + Send + Sync + 'static) -> LayerFilter {
        LayerFilter(Arc::new(keep))
    }

    pub fn keeps(&self, layer: &Descriptor) -> bool {
        (self.0)(layer)
    }
}

impl fmt::Debug for LayerFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LayerFilter")
    }
}

/// What a copy did.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub blobs_copied: AtomicUsize,
    pub bytes_copied: AtomicU64,
    pub blobs_skipped: AtomicUsize,
    pub blobs_mounted: AtomicUsize,
    pub manifests_pushed: AtomicUsize,
    pub manifests_skipped: AtomicUsize,
    /// Layers the layer filter left out.
    pub layers_filtered: AtomicUsize,
    /// Bytes the destination read back from its own disk to hash them: only
    /// what an interrupted earlier copy left, never what this one wrote.
    pub bytes_read_back: AtomicU64,
}

/// Forwards progress to the caller's reporter and adds up what the copy
/// report counts from it.
struct Counting<'a> {
    inner: &'a dyn TransferReporter,
    report: &'a CopyReport,
}

impl TransferReporter for Counting<'_> {
    fn blob_started(&self, descriptor: &Descriptor) {
        self.inner.blob_started(descriptor);
    }
    fn blob_progress(&self, descriptor: &Descriptor, bytes: u64) {
        self.inner.blob_progress(descriptor, bytes);
    }
    fn blob_read_back(&self, descriptor: &Descriptor, bytes: u64) {
        self.report.bytes_read_back.fetch_add(bytes, Ordering::Relaxed);
        self.inner.blob_read_back(descriptor, bytes);
    }
    fn blob_done(&self, descriptor: &Descriptor, outcome: BlobOutcome) {
        self.inner.blob_done(descriptor, outcome);
    }
}

/// Copies the graph under `root` (an index, its manifests, their configs and
/// layers) from `source` to `destination`, children before parents, so the
/// destination never holds a manifest whose blobs are missing. Sub-graphs the
/// destination already has are skipped, blobs are mounted where the destination
/// can, an index's manifests are copied side by side, and at most
/// `options.concurrency` blobs move at once across the whole graph. A blob or
/// manifest that several parents share is copied once. A referrer's `subject`
/// is not copied: the referrer is complete without it. Then `tag`, if given,
/// names the root.
pub async fn copy_graph(
    source: &dyn Source,
    destination: &dyn Destination,
    root: &Descriptor,
    tag: Option<&str>,
    options: &CopyOptions,
    reporter: &dyn TransferReporter,
) -> Result<CopyReport, TargetError> {
    let report = CopyReport::default();
    let reporter = Counting { inner: reporter, report: &report };
    let walk = Walk {
        source,
        destination,
        options,
        reporter: &reporter,
        report: &report,
        blob_slots: Semaphore::new(options.concurrency.max(1)),
        nodes: Mutex::new(HashMap::new()),
    };
    walk.copy_node(root, has_successors(&root.media_type)).await?;
    if let Some(tag) = tag {
        destination.tag(root, tag).await?;
    }
    Ok(report)
}

struct Walk<'a> {
    source: &'a dyn Source,
    destination: &'a dyn Destination,
    options: &'a CopyOptions,
    reporter: &'a dyn TransferReporter,
    report: &'a CopyReport,
    /// One bound on blobs in flight, however many manifests are walked at once.
    blob_slots: Semaphore,
    /// Each node copied once: later walkers of a shared node wait for the first.
    nodes: Mutex<HashMap<Digest, Arc<OnceCell<()>>>>,
}

impl Walk<'_> {
    /// Copies a manifest or index (`is_graph_node`) with everything under it,
    /// or one blob. The edge that led here decides which, not the media type: a
    /// config is a blob whatever its media type says.
    async fn copy_node(&self, node: &Descriptor, is_graph_node: bool) -> Result<(), TargetError> {
        let once = {
            // A poisoned map only means another walker panicked; its entries are intact.
            let mut nodes = self.nodes.lock().unwrap_or_else(|poison| poison.into_inner());
            Arc::clone(nodes.entry(node.digest.clone()).or_default())
        };
        once.get_or_try_init(|| async {
            if is_graph_node { self.copy_graph_node(node).await } else { self.copy_blob(node).await }
        })
        .await
        .map(|_| ())
    }

    async fn copy_graph_node(&self, node: &Descriptor) -> Result<(), TargetError> {
        if self.destination.exists(node).await? {
            // A manifest is only ever stored after everything under it.
            self.report.manifests_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let bytes = self.source.fetch_all(node).await?;
        let children = successors(&bytes).map_err(|e| TargetError::backend(self.source.name(), e))?;
        let filter = self.options.layer_filter.as_ref();
        let wanted = children.iter().filter(|child| match child.edge {
            Edge::Subject => false,
            Edge::Layer if filter.is_some_and(|f| !f.keeps(&child.descriptor)) => {
                self.report.layers_filtered.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => true,
        });
        stream::iter(wanted.map(|child| Box::pin(self.copy_node(&child.descriptor, child.edge.is_graph_node()))))
            .buffer_unordered(usize::MAX)
            .try_collect::<Vec<()>>()
            .await?;
        self.destination.push_manifest(node, &bytes).await?;
        self.report.manifests_pushed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn copy_blob(&self, blob: &Descriptor) -> Result<(), TargetError> {
        // The semaphore is never closed, so acquiring cannot fail.
        let _slot = self.blob_slots.acquire().await.ok();
        self.reporter.blob_started(blob);
        let outcome = if self.destination.exists(blob).await? {
            self.report.blobs_skipped.fetch_add(1, Ordering::Relaxed);
            BlobOutcome::Skipped
        } else if self.destination.mount(blob, self.source).await? {
            self.report.blobs_mounted.fetch_add(1, Ordering::Relaxed);
            BlobOutcome::Mounted
        } else {
            self.destination.copy_blob(self.source, blob, self.reporter).await?;
            self.report.blobs_copied.fetch_add(1, Ordering::Relaxed);
            self.report.bytes_copied.fetch_add(blob.size, Ordering::Relaxed);
            BlobOutcome::Copied
        };
        self.reporter.blob_done(blob, outcome);
        Ok(())
    }
}
