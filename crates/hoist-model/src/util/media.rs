//! Media types and annotation keys of the model artifact formats (FORMATS.md §1-2),
//! and which layer media types are tar archives. At the bottom of the crate
//! because packing, reading and unpacking all ask what a layer is.

use super::compression::Compression;

/// Docker model artifacts (Docker Model Runner, `docker model package`).
pub mod docker {
    pub const CONFIG_V01: &str = "application/vnd.docker.ai.model.config.v0.1+json";
    pub const CONFIG_V02: &str = "application/vnd.docker.ai.model.config.v0.2+json";
    pub const GGUF: &str = "application/vnd.docker.ai.gguf.v3";
    pub const SAFETENSORS: &str = "application/vnd.docker.ai.safetensors";
    pub const DDUF: &str = "application/vnd.docker.ai.dduf";
    pub const LICENSE: &str = "application/vnd.docker.ai.license";
    pub const MMPROJ: &str = "application/vnd.docker.ai.mmproj";
    pub const CHAT_TEMPLATE: &str = "application/vnd.docker.ai.chat.template.jinja";
    pub const VLLM_CONFIG_TAR: &str = "application/vnd.docker.ai.vllm.config.tar";
    pub const DIR_TAR: &str = "application/vnd.docker.ai.dir.tar";
    pub const MODEL_FILE: &str = "application/vnd.docker.ai.model.file";
}

/// CNCF ModelPack v1, and the `cnai` names it had before.
pub mod modelpack {
    pub const MANIFEST_ARTIFACT_TYPE: &str = "application/vnd.cncf.model.manifest.v1+json";
    pub const CONFIG: &str = "application/vnd.cncf.model.config.v1+json";
    pub const LAYER_PREFIX: &str = "application/vnd.cncf.model.";
    pub const LEGACY_MANIFEST_ARTIFACT_TYPE: &str = "application/vnd.cnai.model.manifest.v1+json";
    pub const LEGACY_CONFIG: &str = "application/vnd.cnai.model.config.v1+json";
    pub const LEGACY_LAYER_PREFIX: &str = "application/vnd.cnai.model.";
}

/// Layer annotations (shared by ModelPack and current Docker tooling).
pub mod annotations {
    pub const FILEPATH: &str = "org.cncf.model.filepath";
    pub const FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
    pub const MEDIATYPE_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";
    pub const LEGACY_FILEPATH: &str = "org.cnai.model.filepath";
}

/// Whether a layer media type is a tar archive, and how it is compressed.
pub fn tar_compression(media_type: &str) -> Option<Compression> {
    if media_type == docker::VLLM_CONFIG_TAR || media_type == docker::DIR_TAR || media_type.ends_with(".tar") {
        Some(Compression::None)
    } else if media_type.ends_with(".tar+gzip") || media_type.ends_with(".tar.gzip") {
        Some(Compression::Gzip)
    } else if media_type.ends_with(".tar+zstd") || media_type.ends_with(".tar.zstd") {
        Some(Compression::Zstd)
    } else {
        None
    }
}

/// Whether a layer is a container image layer (whiteouts apply).
pub fn is_image_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_media_types() {
        assert_eq!(tar_compression("application/vnd.cncf.model.weight.v1.tar+gzip"), Some(Compression::Gzip));
        assert_eq!(tar_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"), Some(Compression::Gzip));
        assert_eq!(tar_compression("application/vnd.oci.image.layer.v1.tar+zstd"), Some(Compression::Zstd));
        assert_eq!(tar_compression(docker::VLLM_CONFIG_TAR), Some(Compression::None));
        assert_eq!(tar_compression("application/vnd.cncf.model.weight.v1.raw"), None);
        assert_eq!(tar_compression(docker::GGUF), None);
    }
}
