//! What a manifest or index refers to: the one definition every graph walker
//! (copy, gc, verify, partial pulls, describe, unpack) uses.

use serde::Deserialize;

use crate::{Descriptor, OciError, media_types};

/// How a node refers to a successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edge {
    /// An index's `manifests`: a manifest or a nested index.
    Manifest,
    /// A manifest's `config`.
    Config,
    /// A manifest's `layers`.
    Layer,
    /// An artifact manifest's `blobs` (the withdrawn artifact spec; still met in
    /// the wild).
    Blob,
    /// `subject`: the manifest this one is a referrer of (a signature, an SBOM).
    /// A referrer is complete without its subject, so walkers decide for
    /// themselves whether to follow it: gc keeps it, copy and completeness
    /// checks do not need it.
    Subject,
}

impl Edge {
    /// Whether the successor is itself a manifest or index (walked in turn)
    /// rather than a leaf blob.
    pub fn is_graph_node(self) -> bool {
        matches!(self, Edge::Manifest | Edge::Subject)
    }
}

/// One descriptor a node refers to, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Successor {
    pub edge: Edge,
    pub descriptor: Descriptor,
}

/// Whether a node of this media type has successors: an image manifest or an
/// index (OCI or Docker). Layers and configs are leaves.
pub fn has_successors(media_type: &str) -> bool {
    media_types::is_index(media_type) || media_types::is_manifest(media_type)
}

/// Every descriptor the manifest or index `bytes` refers to, in document
/// order: `manifests`, then `config`, `layers`, `blobs`, and `subject` last.
///
/// The fields are read whatever the document's media type says, so an index
/// that also carries a `subject` or an artifact manifest with `blobs` is walked
/// fully. Errors when the bytes are not a JSON object or a descriptor in them
/// is malformed: a walker that cannot see all of a node's successors must not
/// act as if it had.
pub fn successors(bytes: &[u8]) -> Result<Vec<Successor>, OciError> {
    let node: Node =
        serde_json::from_slice(bytes).map_err(|cause| OciError::InvalidJson { what: "manifest or index", cause })?;
    let tagged = |edge: Edge| move |descriptor: Descriptor| Successor { edge, descriptor };
    let mut found: Vec<Successor> = node.manifests.into_iter().map(tagged(Edge::Manifest)).collect();
    found.extend(node.config.map(tagged(Edge::Config)));
    found.extend(node.layers.into_iter().map(tagged(Edge::Layer)));
    found.extend(node.blobs.into_iter().map(tagged(Edge::Blob)));
    found.extend(node.subject.map(tagged(Edge::Subject)));
    Ok(found)
}

/// The fields of a manifest or index that hold descriptors; everything else is
/// ignored.
#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    blobs: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageIndex, ImageManifest};

    fn blob(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor::for_bytes(media_type, bytes)
    }

    #[test]
    fn a_manifest_refers_to_its_config_layers_and_subject() {
        let config = blob(media_types::OCI_EMPTY, b"{}");
        let layers = vec![blob(media_types::OCI_LAYER_TAR, b"a"), blob(media_types::OCI_LAYER_TAR, b"b")];
        let subject = blob(media_types::OCI_MANIFEST, b"{\"subject\":1}");
        let mut manifest = ImageManifest::new(config.clone(), layers.clone());
        manifest.subject = Some(subject.clone());
        let found = successors(&manifest.to_canonical_json()).unwrap();
        let edges: Vec<Edge> = found.iter().map(|s| s.edge).collect();
        assert_eq!(edges, [Edge::Config, Edge::Layer, Edge::Layer, Edge::Subject]);
        assert_eq!(found[0].descriptor, config);
        assert_eq!(found[2].descriptor, layers[1]);
        assert_eq!(found[3].descriptor, subject);
    }

    #[test]
    fn an_index_refers_to_its_manifests_and_only_they_are_graph_nodes() {
        let children = vec![blob(media_types::OCI_MANIFEST, b"1"), blob(media_types::OCI_INDEX, b"2")];
        let found = successors(&ImageIndex::new(children.clone()).to_canonical_json()).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|s| s.edge == Edge::Manifest && s.edge.is_graph_node()));
        assert_eq!(found[1].descriptor, children[1]);
        assert!(!Edge::Layer.is_graph_node() && !Edge::Config.is_graph_node());
    }

    #[test]
    fn artifact_manifest_blobs_are_successors() {
        let text = format!(
            r#"{{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[{}]}}"#,
            serde_json::to_string(&blob("application/octet-stream", b"x")).unwrap()
        );
        let found = successors(text.as_bytes()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].edge, Edge::Blob);
    }

    #[test]
    fn a_malformed_descriptor_is_an_error_not_a_shorter_list() {
        let text = r#"{"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[{"digest":"nope"}]}"#;
        assert!(successors(text.as_bytes()).is_err());
        assert!(successors(b"[1,2]").is_err());
    }
}
