//! Cog bundles (FORMATS.md §3): a runnable image and its weights side by side
//! in one OCI index. "Bundle" is Cog's word, and in hoist it means only this.
//!
//! - [`lock_weights`] reads each weight file once: it hashes the raw bytes
//!   (`digestOriginal`) and, in the same pass, writes the layer blob (the file
//!   itself, or its gzip/zstd compression, hashed while compressing) into the
//!   store. Blobs are committed only after every file was read, and the
//!   [`WeightsLock`] records what was made.
//! - [`weights_manifest`] turns a lock into the weights artifact: an image
//!   manifest with `artifactType` `application/vnd.cog.weights.v1`, the OCI empty
//!   config and one annotated layer per file.
//! - [`bundle`] puts an image manifest from the store and that weights manifest
//!   into an index and tags it (or, [`BundleFormat::Standalone`], tags the image);
//!   [`image_entry`] and [`store_index`] do the same for an image read from any
//!   source (a registry), reading its manifest and config only.
//! - [`weights_entry`] and [`image_entries`] find the two halves of a pulled index
//!   ([`image_for_platform`](crate::read::image_for_platform) picks among the images).

mod index;
mod lock;

pub use self::index::{
    BundleFormat, BundleIndex, BundleOutcome, bundle, image_entries, image_entry, is_bundle, store_index, weights_entry,
};
pub use self::lock::{
    EMPTY_CONFIG, LockOptions, WeightFile, WeightsLock, lock_weights, weights_layer_compression,
    weights_layer_media_type, weights_manifest,
};

/// The weights artifact's `artifactType`, in its manifest and on its index entry.
pub const WEIGHTS_ARTIFACT_TYPE: &str = "application/vnd.cog.weights.v1";
/// A raw weights layer: the file itself.
pub const WEIGHTS_LAYER: &str = "application/vnd.cog.weights.layer.v1";
pub const WEIGHTS_LAYER_GZIP: &str = "application/vnd.cog.weights.layer.v1+gzip";
pub const WEIGHTS_LAYER_ZSTD: &str = "application/vnd.cog.weights.layer.v1+zstd";
/// Layer annotations.
pub const ANNOTATION_NAME: &str = "vnd.cog.weights.name";
pub const ANNOTATION_DEST: &str = "vnd.cog.weights.dest";
pub const ANNOTATION_DIGEST_ORIGINAL: &str = "vnd.cog.weights.digest.original";
pub const ANNOTATION_SIZE_UNCOMPRESSED: &str = "vnd.cog.weights.size.uncompressed";
/// Index entry annotations of the weights manifest.
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.cog.reference.type";
pub const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.cog.reference.digest";
pub const REFERENCE_TYPE_WEIGHTS: &str = "weights";
/// The lock format's version.
pub const LOCK_VERSION: &str = "1";
/// The `contentType` recorded for every file.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// Where files land in the container unless told otherwise.
pub const DEFAULT_DEST_PREFIX: &str = "/src/weights";
