//! The config blob a pack writes, in the chosen format, from the facts the
//! files gave.

use std::collections::BTreeMap;

use hoist_oci::Digest;

use super::facts::{ModelFacts, ModelFormat};
use crate::formats::docker::{DockerConfigBody, DockerDescriptor, DockerModelConfig, RootFs};
use crate::formats::modelpack::{ModelFs, ModelPackConfig, ModelPackDescriptor, ModelPackModelConfig};
use crate::util::size::format_size;

/// The Docker config for a model with these facts and (uncompressed) layers.
pub(super) fn docker_config(
    facts: &ModelFacts,
    created: &str,
    layer_digests: Vec<Digest>,
    total_size: u64,
) -> DockerModelConfig {
    let metadata = || Some(facts.metadata.clone()).filter(|m| !m.is_empty());
    let body = DockerConfigBody {
        format: Some(facts.format.as_str().to_string()),
        quantization: facts.quantization.clone(),
        parameters: facts.parameters_display(),
        architecture: facts.architecture.clone(),
        size: Some(format_size(total_size)),
        gguf: if facts.format == ModelFormat::Gguf { metadata() } else { None },
        safetensors: if facts.format == ModelFormat::Safetensors { metadata() } else { None },
        diffusers: facts.dduf_file.as_ref().map(|file| {
            BTreeMap::from([("layout".to_string(), "dduf".to_string()), ("dduf_file".to_string(), file.clone())])
        }),
        context_size: facts.context_size,
        extra: BTreeMap::new(),
    };
    DockerModelConfig {
        config: body,
        descriptor: DockerDescriptor { created: Some(created.to_string()), extra: BTreeMap::new() },
        rootfs: RootFs { kind: "rootfs".into(), diff_ids: layer_digests },
        extra: BTreeMap::new(),
    }
}

/// The ModelPack config for a model with these facts and (uncompressed) layers.
pub(super) fn modelpack_config(
    facts: &ModelFacts,
    name: &str,
    created: &str,
    layer_digests: Vec<Digest>,
) -> ModelPackConfig {
    ModelPackConfig {
        descriptor: ModelPackDescriptor {
            created_at: Some(created.to_string()),
            family: facts.family.clone(),
            name: Some(facts.name.clone().unwrap_or_else(|| name.to_string())).filter(|n| !n.is_empty()),
            ..ModelPackDescriptor::default()
        },
        config: ModelPackModelConfig {
            architecture: facts.architecture.clone(),
            format: Some(facts.format.as_str().to_string()),
            param_size: facts.parameters_display(),
            precision: facts.precision.clone(),
            quantization: facts.quantization.as_ref().map(|q| q.to_ascii_lowercase()),
            capabilities: None,
        },
        modelfs: ModelFs { kind: "layers".into(), diff_ids: layer_digests },
    }
}
