//! The file a layer holds, by its annotations in any format (the ModelPack
//! and Docker file path, the OCI title, a Cog weight's destination) or, for a
//! Docker layer without one, by its role.

use hoist_oci::Descriptor;

use super::cog::ANNOTATION_DEST;
use crate::util::media::{annotations, docker};

/// The ModelPack/Docker file path annotation of a layer (or its legacy name).
pub fn model_filepath(layer: &Descriptor) -> Option<&str> {
    layer.annotation(annotations::FILEPATH).or_else(|| layer.annotation(annotations::LEGACY_FILEPATH))
}

/// The path a layer's annotation gives it: the ModelPack/Docker file path (or
/// its legacy name), the OCI title, or a Cog weight's destination.
pub fn annotated_path(layer: &Descriptor) -> Option<&str> {
    model_filepath(layer)
        .or_else(|| layer.annotation("org.opencontainers.image.title"))
        .or_else(|| layer.annotation(ANNOTATION_DEST).map(|dest| dest.trim_start_matches('/')))
}

/// The file name of a layer without a path annotation, by its Docker role.
pub fn role_name(media_type: &str) -> Option<&'static str> {
    match media_type {
        docker::GGUF => Some("model.gguf"),
        docker::MMPROJ => Some("mmproj.gguf"),
        docker::LICENSE => Some("LICENSE"),
        docker::CHAT_TEMPLATE => Some("template.jinja"),
        docker::DDUF => Some("model.dduf"),
        _ => None,
    }
}
