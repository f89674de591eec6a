//! What a manifest or index refers to, read by hoist-oci's one successor rule
//! ([`successors`]), so that describing and unpacking an artifact see the
//! same graph as copy, gc and verify.

use hoist_oci::{Descriptor, Edge, successors};

use crate::ModelError;

/// The parts a manifest or index refers to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    /// An index's manifests (and nested indexes).
    pub manifests: Vec<Descriptor>,
    /// A manifest's config.
    pub config: Option<Descriptor>,
    /// A manifest's layers, and an artifact manifest's blobs.
    pub layers: Vec<Descriptor>,
    /// Bytes of all of the above. A referrer's `subject` is another artifact
    /// and is not counted.
    pub size: u64,
}

impl Parts {
    /// The parts of the manifest or index `bytes`; `what` names it in errors.
    pub fn of(what: &str, bytes: &[u8]) -> Result<Parts, ModelError> {
        let found = successors(bytes)
            .map_err(|e| ModelError::InvalidArtifact { what: what.to_string(), reason: e.to_string() })?;
        let mut parts = Parts::default();
        for successor in found {
            let descriptor = successor.descriptor;
            match successor.edge {
                Edge::Subject => continue,
                Edge::Manifest => parts.manifests.push(descriptor.clone()),
                Edge::Config => parts.config = Some(descriptor.clone()),
                Edge::Layer | Edge::Blob => parts.layers.push(descriptor.clone()),
            }
            parts.size += descriptor.size;
        }
        Ok(parts)
    }

    /// The config, which an image manifest must have.
    pub fn config(&self, what: &str) -> Result<&Descriptor, ModelError> {
        self.config.as_ref().ok_or_else(|| ModelError::InvalidArtifact {
            what: what.to_string(),
            reason: "the manifest has no config".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use hoist_oci::{ImageIndex, ImageManifest, media_types};

    use super::*;

    #[test]
    fn a_referrer_counts_its_config_and_layers_not_its_subject() {
        let config = Descriptor::for_bytes(media_types::OCI_EMPTY, b"{}");
        let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"layer");
        let mut manifest = ImageManifest::new(config.clone(), vec![layer.clone()]);
        manifest.subject = Some(Descriptor::for_bytes(media_types::OCI_MANIFEST, &[b'x'; 1000]));
        let parts = Parts::of("m", &manifest.to_canonical_json()).unwrap();
        assert_eq!(parts, Parts { manifests: vec![], config: Some(config), layers: vec![layer], size: 2 + 5 });

        let index = ImageIndex::new(vec![Descriptor::for_bytes(media_types::OCI_MANIFEST, b"abc")]);
        let parts = Parts::of("i", &index.to_canonical_json()).unwrap();
        assert_eq!((parts.manifests.len(), parts.size), (1, 3));
        assert!(parts.config("i").unwrap_err().to_string().contains("no config"));
    }
}
