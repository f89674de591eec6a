//! `copy_graph`: push, pull and copy as one walk over an artifact's graph.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::target::{BlobOutcome, Destination, Source, TargetError, TransferReporter};
use crate::{Descriptor, ImageIndex, ImageManifest, media_types};

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Blobs transferred at once.
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
}

/// Copies the graph under `root` (an index, its manifests, their configs and
/// layers) from `source` to `destination`, children before parents, so the
/// destination never holds a manifest whose blobs are missing. Sub-graphs the
/// destination already has are skipped, blobs are mounted where the destination
/// can, and up to `options.concurrency` blobs move at once. Then `tag`, if given,
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
    let walk = Walk { source, destination, options, reporter, report: &report };
    walk.copy_node(root).await?;
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
}

impl Walk<'_> {
    async fn copy_node(&self, node: &Descriptor) -> Result<(), TargetError> {
        let is_index = media_types::is_index(&node.media_type);
        if !is_index && !media_types::is_manifest(&node.media_type) {
            return self.copy_blob(node).await;
        }
        if self.destination.exists(node).await? {
            // A manifest is only ever stored after everything under it.
            self.report.manifests_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let bytes = self.source.fetch_all(node).await?;
        let invalid = |e: crate::OciError| TargetError::backend(self.source.name(), e);
        if is_index {
            let index = ImageIndex::from_slice(&bytes).map_err(invalid)?;
            for child in &index.manifests {
                Box::pin(self.copy_node(child)).await?;
            }
        } else {
            let manifest = ImageManifest::from_slice(&bytes).map_err(invalid)?;
            let mut seen = BTreeSet::new();
            let filter = self.options.layer_filter.as_ref();
            let layers = manifest.layers.iter().filter(|layer| {
                let keep = filter.is_none_or(|f| f.keeps(layer));
                if !keep {
                    self.report.layers_filtered.fetch_add(1, Ordering::Relaxed);
                }
                keep
            });
            let blobs: Vec<&Descriptor> = std::iter::once(&manifest.config)
                .chain(layers)
                .filter(|blob| seen.insert(blob.digest.clone()))
                .collect();
            stream::iter(blobs.into_iter().map(|blob| self.copy_blob(blob)))
                .buffer_unordered(self.options.concurrency.max(1))
                .try_collect::<Vec<()>>()
                .await?;
        }
        self.destination.push_manifest(node, &bytes).await?;
        self.report.manifests_pushed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn copy_blob(&self, blob: &Descriptor) -> Result<(), TargetError> {
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
