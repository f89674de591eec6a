//! The bundle index (FORMATS.md §3): a runnable image's manifest and the
//! weights artifact side by side in one OCI index, and finding the two halves
//! of one.
//!
//! The index needs only the image manifest's descriptor and the platform its
//! config names, never a layer: [`image_entry`] reads those from any source,
//! so an image that is only in a registry is bundled without pulling it.

use std::collections::BTreeMap;

use hoist_oci::{Descriptor, ImageIndex, ImageManifest, Platform, Reference, Source, media_types};
use hoist_store::{MAX_MANIFEST_SIZE, Store};

use super::lock::{EMPTY_CONFIG, WeightsLock, weights_manifest};
use super::{ANNOTATION_REFERENCE_DIGEST, ANNOTATION_REFERENCE_TYPE, REFERENCE_TYPE_WEIGHTS, WEIGHTS_ARTIFACT_TYPE};
use crate::ModelError;

/// What `bundle` tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleFormat {
    /// The image manifest alone.
    Standalone,
    /// An index of the image manifest and the weights manifest.
    #[default]
    Bundle,
}

/// A bundle index written into the store (see [`store_index`]).
#[derive(Debug, Clone)]
pub struct BundleIndex {
    /// The index's descriptor.
    pub descriptor: Descriptor,
    /// The image's entry (with its platform).
    pub image: Descriptor,
    /// The weights manifest's entry.
    pub weights: Descriptor,
    pub index: ImageIndex,
}

/// What [`bundle`] made.
#[derive(Debug, Clone)]
pub struct BundleOutcome {
    /// What the reference now names: the index, or the image for a standalone.
    pub descriptor: Descriptor,
    /// The image's entry (with its platform).
    pub image: Descriptor,
    /// The index and its weights entry (bundle only).
    pub index: Option<BundleIndex>,
    /// What the reference named before, if anything.
    pub replaced: Option<Descriptor>,
}

/// Builds the bundle of the image manifest `image` (anything [`Store::resolve`]
/// finds) and the weights `lock` describes, and tags it `reference`. Every
/// layer blob must be in the store already ([`lock_weights`](super::lock_weights) put it there).
pub fn bundle(
    store: &Store,
    image: &str,
    lock: Option<&WeightsLock>,
    reference: &Reference,
    format: BundleFormat,
) -> Result<BundleOutcome, ModelError> {
    let session = store.write_session()?;
    let resolved = store.resolve(image)?.descriptor;
    check_image(image, &resolved)?;
    let manifest_bytes = store.read_blob(&resolved.digest, MAX_MANIFEST_SIZE)?;
    let manifest = parse_manifest(image, &manifest_bytes)?;
    let plain = Descriptor::new(resolved.media_type.clone(), resolved.digest.clone(), resolved.size);
    if format == BundleFormat::Standalone {
        let replaced = session.tag(&plain, reference)?;
        return Ok(BundleOutcome { descriptor: plain.clone(), image: plain, index: None, replaced });
    }
    let lock = lock.ok_or_else(|| ModelError::InvalidArtifact {
        what: reference.to_string(),
        reason: "a bundle needs a weights.lock".into(),
    })?;
    let config = store.read_blob(&manifest.config.digest, manifest.config.size.max(MAX_MANIFEST_SIZE))?;
    let entry = Descriptor { platform: Some(image_platform(image, &config)?), ..plain };
    let index = store_index(store, &entry, lock)?;
    let replaced = session.tag(&index.descriptor, reference)?;
    Ok(BundleOutcome { descriptor: index.descriptor.clone(), image: entry, index: Some(index), replaced })
}

/// The image's entry in a bundle index: the manifest's descriptor with the
/// platform its config names. Reads the manifest and its config from
/// `source`, never a layer. `what` names the image in errors.
pub async fn image_entry(source: &dyn Source, image: &Descriptor, what: &str) -> Result<Descriptor, ModelError> {
    check_image(what, image)?;
    let manifest = parse_manifest(what, &source.fetch_all(image).await?)?;
    let config = source.fetch_all(&manifest.config).await?;
    let plain = Descriptor::new(image.media_type.clone(), image.digest.clone(), image.size);
    Ok(Descriptor { platform: Some(image_platform(what, &config)?), ..plain })
}

/// Writes the weights manifest (with its empty config) and the index of it
/// and `image` (an entry from [`image_entry`]) into the store, untagged. The
/// image need not be in the store: a push of the index to the registry that
/// holds the image copies only the weights and the two manifests. Every
/// layer blob of `lock` must be in the store.
pub fn store_index(store: &Store, image: &Descriptor, lock: &WeightsLock) -> Result<BundleIndex, ModelError> {
    for file in &lock.files {
        let present = store.blob_path(&file.digest).metadata().is_ok_and(|m| m.len() == file.size);
        if !present {
            return Err(ModelError::InvalidArtifact {
                what: format!("weights.lock file {:?}", file.name),
                reason: format!(
                    "layer blob {} is not in the store {}; run `hoist weights lock` with this store again",
                    file.digest,
                    store.root().display()
                ),
            });
        }
    }
    let session = store.write_session()?;
    session.put_bytes(EMPTY_CONFIG)?;
    let (digest, size) = session.put_bytes(&weights_manifest(lock).to_canonical_json())?;
    let mut weights = Descriptor::new(media_types::OCI_MANIFEST, digest, size);
    weights.artifact_type = Some(WEIGHTS_ARTIFACT_TYPE.to_string());
    weights.platform = Some(unknown_platform());
    weights.annotations = BTreeMap::from([
        (ANNOTATION_REFERENCE_TYPE.to_string(), REFERENCE_TYPE_WEIGHTS.to_string()),
        (ANNOTATION_REFERENCE_DIGEST.to_string(), image.digest.to_string()),
    ]);
    let index = ImageIndex::new(vec![image.clone(), weights.clone()]);
    let (digest, size) = session.put_bytes(&index.to_canonical_json())?;
    let descriptor = Descriptor::new(media_types::OCI_INDEX, digest, size);
    Ok(BundleIndex { descriptor, image: image.clone(), weights, index })
}

fn check_image(what: &str, image: &Descriptor) -> Result<(), ModelError> {
    if media_types::is_manifest(&image.media_type) {
        return Ok(());
    }
    Err(ModelError::InvalidArtifact {
        what: what.to_string(),
        reason: format!("not an image manifest ({}); bundle wants a runnable image", image.media_type),
    })
}

fn parse_manifest(what: &str, bytes: &[u8]) -> Result<ImageManifest, ModelError> {
    ImageManifest::from_slice(bytes)
        .map_err(|e| ModelError::InvalidArtifact { what: what.to_string(), reason: e.to_string() })
}

/// The image's platform, from its config's `os`, `architecture` and `variant`.
fn image_platform(what: &str, config: &[u8]) -> Result<Platform, ModelError> {
    let value: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    let field = |key: &str| value.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
    match (field("os"), field("architecture")) {
        (Some(os), Some(architecture)) => Ok(Platform {
            architecture,
            os,
            os_version: field("os.version"),
            os_features: Vec::new(),
            variant: field("variant"),
        }),
        _ => Err(ModelError::InvalidArtifact {
            what: what.to_string(),
            reason: "its config names no os and architecture: not a runnable image".into(),
        }),
    }
}

fn unknown_platform() -> Platform {
    Platform {
        architecture: "unknown".into(),
        os: "unknown".into(),
        os_version: None,
        os_features: Vec::new(),
        variant: None,
    }
}

fn is_unknown_platform(entry: &Descriptor) -> bool {
    entry.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

fn is_weights(entry: &Descriptor) -> bool {
    entry.annotation(ANNOTATION_REFERENCE_TYPE) == Some(REFERENCE_TYPE_WEIGHTS)
}

/// Whether an index (its `manifests`) is a Cog bundle: it has a weights entry.
pub fn is_bundle(manifests: &[Descriptor]) -> bool {
    weights_entry(manifests).is_some()
}

/// The weights manifest among a Cog bundle's `manifests`: the entry whose
/// `vnd.cog.reference.type` is `weights`.
pub fn weights_entry(manifests: &[Descriptor]) -> Option<&Descriptor> {
    manifests.iter().find(|entry| is_weights(entry))
}

/// The entries of an index's `manifests` that are images: neither weights nor `unknown/unknown`
/// (attestations and other artifacts use that platform too).
pub fn image_entries(manifests: &[Descriptor]) -> impl Iterator<Item = &Descriptor> {
    manifests.iter().filter(|entry| !is_weights(entry) && !is_unknown_platform(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_annotation_and_platform_skipping_unknown() {
        let entry = |os: &str, arch: &str, weights: bool| {
            let mut d = Descriptor::for_bytes(media_types::OCI_MANIFEST, format!("{os}{arch}{weights}").as_bytes());
            d.platform = Some(Platform { os: os.into(), architecture: arch.into(), ..unknown_platform() });
            if weights {
                d.annotations.insert(ANNOTATION_REFERENCE_TYPE.into(), REFERENCE_TYPE_WEIGHTS.into());
            }
            d
        };
        let index = ImageIndex::new(vec![
            entry("unknown", "unknown", false),
            entry("unknown", "unknown", true),
            entry("linux", "arm64", false),
            entry("linux", "amd64", false),
        ]);
        assert!(is_bundle(&index.manifests));
        assert_eq!(weights_entry(&index.manifests), Some(&index.manifests[1]));
        let images: Vec<&Descriptor> = image_entries(&index.manifests).collect();
        assert_eq!(images, [&index.manifests[2], &index.manifests[3]]);
        assert!(!is_bundle(&[entry("linux", "amd64", false)]));
    }
}
