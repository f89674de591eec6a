use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Descriptor, OciError, media_types};

/// An OCI image manifest: a config blob and an ordered list of layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ImageManifest {
    /// A schema-2 OCI manifest with the given config and layers.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.to_string()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Parses manifest bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<ImageManifest, OciError> {
        serde_json::from_slice(bytes).map_err(|cause| OciError::InvalidJson { what: "manifest", cause })
    }

    /// The manifest's bytes: compact JSON in a fixed field order, so equal
    /// manifests always have equal digests.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        canonical_json(self)
    }
}

/// An OCI image index: a list of manifests (an image layout's `index.json` too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ImageIndex {
    /// An empty schema-2 OCI index.
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.to_string()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Parses index bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<ImageIndex, OciError> {
        serde_json::from_slice(bytes).map_err(|cause| OciError::InvalidJson { what: "index", cause })
    }

    /// Compact JSON in a fixed field order.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        canonical_json(self)
    }
}

fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own plain structs and BTreeMaps cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    #[test]
    fn annotations_serialize_in_key_order_whatever_the_insert_order() {
        let config = Descriptor::for_bytes(media_types::OCI_EMPTY, b"{}");
        let mut a = ImageManifest::new(config.clone(), vec![]);
        a.annotations.insert("z".into(), "1".into());
        a.annotations.insert("a".into(), "2".into());
        let mut b = ImageManifest::new(config, vec![]);
        b.annotations.insert("a".into(), "2".into());
        b.annotations.insert("z".into(), "1".into());
        assert_eq!(Digest::of(&a.to_canonical_json()), Digest::of(&b.to_canonical_json()));
        let text = String::from_utf8(a.to_canonical_json()).unwrap();
        assert!(text.find("\"a\"").unwrap() < text.find("\"z\"").unwrap());
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"urls":["u"]},"layers":[],"future":true}"#;
        let manifest = ImageManifest::from_slice(text.as_bytes()).unwrap();
        let again = String::from_utf8(manifest.to_canonical_json()).unwrap();
        assert!(again.contains(r#""urls":["u"]"#), "{again}");
        assert!(again.contains(r#""future":true"#), "{again}");
    }
}
