//! Reading a model artifact back, whatever format wrote it: Docker config
//! v0.1/v0.2, CNCF ModelPack v1 and its legacy `cnai` names.

use std::fmt;

use hoist_oci::{Descriptor, Digest, ImageManifest, Source, media_types};
use serde_json::Value as Json;

use super::parts::Parts;
use crate::ModelError;
use crate::formats::layer_path::model_filepath;
use crate::util::media::{docker, modelpack};

/// The artifact format, recognised from the config media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactKind {
    DockerV01,
    DockerV02,
    ModelPack,
    /// ModelPack under its earlier `vnd.cnai` names.
    ModelPackLegacy,
    /// An OCI index (several manifests).
    Index,
    /// Any other OCI artifact or image, named by its config media type.
    Other(String),
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactKind::DockerV01 => f.write_str("Docker model (config v0.1)"),
            ArtifactKind::DockerV02 => f.write_str("Docker model (config v0.2)"),
            ArtifactKind::ModelPack => f.write_str("CNCF ModelPack v1"),
            ArtifactKind::ModelPackLegacy => f.write_str("CNCF ModelPack v1 (legacy cnai names)"),
            ArtifactKind::Index => f.write_str("OCI index"),
            ArtifactKind::Other(media_type) => write!(f, "OCI artifact (config {media_type})"),
        }
    }
}

/// One layer as users see it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// The file path the layer unpacks to, from its annotations.
    pub path: Option<String>,
}

/// A model as `list` and `inspect` show it, in any format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelInfo {
    pub kind: Option<ArtifactKind>,
    pub format: Option<String>,
    pub architecture: Option<String>,
    pub family: Option<String>,
    pub parameters: Option<String>,
    pub quantization: Option<String>,
    pub precision: Option<String>,
    pub context_size: Option<u64>,
    pub created: Option<String>,
    /// Bytes of what it refers to: an index's manifests, a manifest's config
    /// and layers ([`Parts::size`]).
    pub size: u64,
    pub layers: Vec<LayerInfo>,
}

/// A manifest read from a store or registry, with its config.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub descriptor: Descriptor,
    pub manifest_bytes: Vec<u8>,
    /// None for an index.
    pub manifest: Option<ImageManifest>,
    pub config_bytes: Vec<u8>,
    pub info: ModelInfo,
}

impl StoredModel {
    /// Reads the manifest (or index) a descriptor points at, and its config,
    /// from any source: the store, a registry, an image-layout directory.
    pub async fn fetch(source: &dyn Source, descriptor: &Descriptor) -> Result<StoredModel, ModelError> {
        let target_error = |source| ModelError::Target { source };
        let manifest_bytes = source.fetch_all(descriptor).await.map_err(target_error)?;
        let what = descriptor.digest.to_string();
        let parts = Parts::of(&what, &manifest_bytes)?;
        if media_types::is_index(&descriptor.media_type) {
            let info = ModelInfo { kind: Some(ArtifactKind::Index), size: parts.size, ..ModelInfo::default() };
            return Ok(StoredModel {
                descriptor: descriptor.clone(),
                manifest_bytes,
                manifest: None,
                config_bytes: Vec::new(),
                info,
            });
        }
        let manifest = ImageManifest::from_slice(&manifest_bytes)
            .map_err(|e| ModelError::InvalidArtifact { what: what.clone(), reason: e.to_string() })?;
        let config_bytes = source.fetch_all(parts.config(&what)?).await.map_err(target_error)?;
        let info = describe(&parts, &config_bytes);
        Ok(StoredModel { descriptor: descriptor.clone(), manifest_bytes, manifest: Some(manifest), config_bytes, info })
    }
}

/// What a manifest (its [`Parts`]) and its config say about the model.
/// Tolerant: a config it cannot parse leaves the facts empty rather than
/// failing a listing.
pub fn describe(manifest: &Parts, config_bytes: &[u8]) -> ModelInfo {
    let config: Json = serde_json::from_slice(config_bytes).unwrap_or(Json::Null);
    let kind = match manifest.config.as_ref().map_or("", |c| c.media_type.as_str()) {
        docker::CONFIG_V01 => ArtifactKind::DockerV01,
        docker::CONFIG_V02 => ArtifactKind::DockerV02,
        modelpack::CONFIG => ArtifactKind::ModelPack,
        modelpack::LEGACY_CONFIG => ArtifactKind::ModelPackLegacy,
        other => ArtifactKind::Other(other.to_string()),
    };
    let text = |value: &Json, key: &str| value.get(key).and_then(Json::as_str).map(str::to_string);
    let mut info = match kind {
        ArtifactKind::DockerV01 | ArtifactKind::DockerV02 => {
            let body = config.get("config").unwrap_or(&Json::Null);
            ModelInfo {
                format: text(body, "format"),
                architecture: text(body, "architecture"),
                parameters: text(body, "parameters"),
                quantization: text(body, "quantization"),
                context_size: body.get("context_size").and_then(Json::as_u64),
                created: config.get("descriptor").and_then(|d| text(d, "created")),
                ..ModelInfo::default()
            }
        }
        ArtifactKind::ModelPack | ArtifactKind::ModelPackLegacy => {
            let body = config.get("config").unwrap_or(&Json::Null);
            let descriptor = config.get("descriptor").unwrap_or(&Json::Null);
            ModelInfo {
                format: text(body, "format"),
                architecture: text(body, "architecture"),
                family: text(descriptor, "family"),
                parameters: text(body, "paramSize"),
                quantization: text(body, "quantization"),
                precision: text(body, "precision"),
                created: text(descriptor, "createdAt"),
                ..ModelInfo::default()
            }
        }
        _ => ModelInfo::default(),
    };
    info.kind = Some(kind);
    info.layers = manifest
        .layers
        .iter()
        .map(|layer| LayerInfo {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            path: model_filepath(layer).map(str::to_string),
        })
        .collect();
    info.size = manifest.size;
    info
}
