//! The GGUF files inside a model artifact, and reading their headers from any
//! source. Over a registry only the header's byte ranges cross the network
//! (HTTP Range, driven by the incremental parser), never the tensor data.

use hoist_gguf::{GgufHeader, HeaderFetchPlan};
use hoist_oci::{Descriptor, ImageManifest, Source};

use crate::ModelError;
use crate::formats::layer_path::model_filepath;
use crate::util::media::{docker, modelpack};
use crate::util::stream::read_up_to;

/// A GGUF header and what reading it cost.
#[derive(Debug, Clone)]
pub struct LayerHeader {
    pub header: GgufHeader,
    /// Bytes fetched from the source (the whole header, a little more at most).
    pub bytes_read: u64,
    /// Requests made.
    pub round_trips: u32,
}

/// The model's GGUF weight layers in manifest order (shards in order); not
/// projectors, which are GGUF files too but not the model.
pub fn gguf_layers(manifest: &ImageManifest) -> Vec<&Descriptor> {
    manifest.layers.iter().filter(|layer| is_gguf_weight(layer)).collect()
}

fn is_gguf_weight(layer: &Descriptor) -> bool {
    if layer.media_type == docker::GGUF {
        return true;
    }
    let path = model_filepath(layer);
    let is_weight = [modelpack::LAYER_PREFIX, modelpack::LEGACY_LAYER_PREFIX]
        .iter()
        .any(|prefix| layer.media_type.strip_prefix(prefix).is_some_and(|rest| rest.starts_with("weight.v1.raw")));
    is_weight && path.is_some_and(|p| p.ends_with(".gguf") && !p.contains("mmproj"))
}

/// Reads a GGUF layer's header from `source`: ranged reads where the source
/// serves them, else the start of one stream, dropped once the header is in.
pub async fn read_layer_header(source: &dyn Source, layer: &Descriptor) -> Result<LayerHeader, ModelError> {
    let gguf_error = |error| ModelError::GgufLayer { layer: format!("{} in {}", layer.digest, source.name()), error };
    let mut plan = HeaderFetchPlan::new(Some(layer.size));
    while let Some(range) = plan.next_range() {
        let end = range.end.min(layer.size);
        let bytes = match source.fetch_range(layer, range.start, end).await? {
            Some(stream) => read_up_to(stream, end - range.start).await,
            None => read_up_to(source.fetch(layer, range.start).await?, end - range.start).await,
        }
        .map_err(|e| ModelError::Target { source: hoist_oci::TargetError::backend(source.name(), e) })?;
        plan.feed(&bytes).map_err(gguf_error)?;
    }
    let (bytes_read, round_trips) = (plan.bytes_read(), plan.round_trips());
    let header = plan.into_header().ok_or_else(|| ModelError::InvalidArtifact {
        what: layer.digest.to_string(),
        reason: "the GGUF header did not complete".into(),
    })?;
    Ok(LayerHeader { header, bytes_read, round_trips })
}
