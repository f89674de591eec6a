//! Cog-style OCI bundles (FORMATS.md §3): a runnable image and its weights side by
//! side in one OCI index.
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
//!   into an index and tags it (or, [`BundleFormat::Standalone`], tags the image).
//! - [`weights_entry`] and [`image_entries`] find the two halves of a pulled index
//!   ([`image_for_platform`](crate::read::image_for_platform) picks among the images).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hoist_oci::Digest;
use hoist_oci::{Descriptor, DigestWriter, ImageIndex, ImageManifest, Platform, Reference, media_types};
use hoist_store::{MAX_MANIFEST_SIZE, StagedBlob, Store, WriteSession};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::util::compression::Compression;

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

/// Read size, as in pack.
const CHUNK: usize = 4 * 1024 * 1024;

/// `weights.lock`: what each weight layer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightsLock {
    pub version: String,
    pub created: String,
    pub files: Vec<WeightFile>,
}

/// One file of a [`WeightsLock`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightFile {
    /// An identifier (a handle), not a file name.
    pub name: String,
    /// Where the file goes in the container.
    pub dest: String,
    /// The raw file's digest.
    pub digest_original: Digest,
    /// The layer blob's digest (equal to `digest_original` for raw layers).
    pub digest: Digest,
    /// The layer blob's size.
    pub size: u64,
    /// The raw file's size.
    pub size_uncompressed: u64,
    pub media_type: String,
    pub content_type: String,
}

impl WeightsLock {
    /// Parses `weights.lock` bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<WeightsLock, ModelError> {
        let lock: WeightsLock = serde_json::from_slice(bytes)
            .map_err(|e| ModelError::InvalidArtifact { what: "weights.lock".into(), reason: e.to_string() })?;
        if lock.version != LOCK_VERSION {
            return Err(ModelError::InvalidArtifact {
                what: "weights.lock".into(),
                reason: format!("version {:?} is not supported (expected {LOCK_VERSION:?})", lock.version),
            });
        }
        Ok(lock)
    }

    /// Reads and parses a `weights.lock` file.
    pub fn read(path: &Path) -> Result<WeightsLock, ModelError> {
        let bytes = std::fs::read(path).map_err(ModelError::io(path))?;
        WeightsLock::from_slice(&bytes)
            .map_err(|e| ModelError::BadInput { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// Indented JSON with a final newline, fields in the documented order.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

impl WeightFile {
    /// The layer descriptor, with the four `vnd.cog.weights.*` annotations.
    pub fn layer(&self) -> Descriptor {
        let mut layer = Descriptor::new(self.media_type.clone(), self.digest.clone(), self.size);
        layer.annotations = BTreeMap::from([
            (ANNOTATION_NAME.to_string(), self.name.clone()),
            (ANNOTATION_DEST.to_string(), self.dest.clone()),
            (ANNOTATION_DIGEST_ORIGINAL.to_string(), self.digest_original.to_string()),
            (ANNOTATION_SIZE_UNCOMPRESSED.to_string(), self.size_uncompressed.to_string()),
        ]);
        layer
    }
}

/// The weights layer media type of a compression.
pub fn weights_layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => WEIGHTS_LAYER,
        Compression::Gzip => WEIGHTS_LAYER_GZIP,
        Compression::Zstd => WEIGHTS_LAYER_ZSTD,
    }
}

/// The compression of a Cog weights layer media type; `None` for other media types.
pub fn weights_layer_compression(media_type: &str) -> Option<Compression> {
    [Compression::None, Compression::Gzip, Compression::Zstd]
        .into_iter()
        .find(|c| weights_layer_media_type(*c) == media_type)
}

/// How to lock weights.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// `dest` is this prefix, a `/`, and the file's name.
    pub dest_prefix: String,
    pub compression: Compression,
    pub created: SystemTime,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            dest_prefix: DEFAULT_DEST_PREFIX.to_string(),
            compression: Compression::None,
            created: SystemTime::UNIX_EPOCH,
        }
    }
}

/// Reads each `(name, path)` once, stores its layer blob in `store` and returns
/// the lock. Nothing is committed unless every file was read; the blobs are
/// untagged until [`bundle`] references them (a `prune` in between removes them).
pub fn lock_weights(
    store: &Store,
    files: &[(String, PathBuf)],
    options: &LockOptions,
) -> Result<WeightsLock, ModelError> {
    let mut seen = BTreeMap::new();
    for (name, path) in files {
        if name.is_empty() || name.contains(char::is_whitespace) {
            let reason = format!("invalid weight name {name:?}: a name is a non-empty identifier without spaces");
            return Err(ModelError::BadInput { path: path.clone(), reason });
        }
        if let Some(first) = seen.insert(name.as_str(), path) {
            let reason = format!("the name {name:?} is given twice (also for {})", first.display());
            return Err(ModelError::BadInput { path: path.clone(), reason });
        }
    }
    let session = store.write_session()?;
    let prefix = options.dest_prefix.trim_end_matches('/');
    let mut staged: Vec<(StagedBlob, WeightFile)> = Vec::with_capacity(files.len());
    for (name, path) in files {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ModelError::BadInput { path: path.clone(), reason: "not a file name in UTF-8".into() })?;
        let (blob, digest_original, size_uncompressed) = stage_weight(&session, path, options.compression)?;
        let file = WeightFile {
            name: name.clone(),
            dest: format!("{prefix}/{file_name}"),
            digest_original,
            digest: blob.digest().clone(),
            size: blob.size(),
            size_uncompressed,
            media_type: weights_layer_media_type(options.compression).to_string(),
            content_type: DEFAULT_CONTENT_TYPE.to_string(),
        };
        staged.push((blob, file));
    }
    let mut locked = Vec::with_capacity(staged.len());
    for (blob, file) in staged {
        blob.commit()?;
        locked.push(file);
    }
    Ok(WeightsLock {
        version: LOCK_VERSION.to_string(),
        created: humantime::format_rfc3339_seconds(options.created).to_string(),
        files: locked,
    })
}

/// Sends compressed output to the ingest in whole chunks.
struct Drain<'a> {
    ingest: &'a mut hoist_store::Ingest,
}

impl Drain<'_> {
    fn send(&mut self, buffer: &mut Vec<u8>) -> Result<(), ModelError> {
        if !buffer.is_empty() {
            let chunk = std::mem::take(buffer);
            *buffer = self.ingest.write_chunk(chunk)?;
            buffer.clear();
        }
        Ok(())
    }
}

/// Copies one file into `ingest/`: raw (one hash, which is both digests), or
/// compressed (the raw bytes hashed on their way into the encoder, the
/// compressed bytes hashed on their way into the store).
fn stage_weight(
    session: &WriteSession,
    path: &Path,
    compression: Compression,
) -> Result<(StagedBlob, Digest, u64), ModelError> {
    let mut reader = File::open(path).map_err(ModelError::io(path))?;
    let expected = reader.metadata().map_err(ModelError::io(path))?.len();
    let mut ingest = session.ingest()?;
    let mut original = DigestWriter::new(io::sink());
    let mut encoder = match compression {
        Compression::None => Encoder::None,
        Compression::Gzip => {
            Encoder::Gzip(flate2::write::GzEncoder::new(Vec::with_capacity(CHUNK), flate2::Compression::default()))
        }
        Compression::Zstd => Encoder::Zstd(
            zstd::stream::write::Encoder::new(Vec::with_capacity(CHUNK), 3).map_err(ModelError::io(path))?,
        ),
    };
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut read = 0u64;
    loop {
        let n = (&mut reader).take(CHUNK as u64).read_to_end(&mut chunk).map_err(ModelError::io(path))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        match &mut encoder {
            Encoder::None => {
                chunk = ingest.write_chunk(chunk)?;
                continue;
            }
            Encoder::Gzip(gz) => {
                let _ = original.write_all(&chunk);
                gz.write_all(&chunk).map_err(ModelError::io(path))?;
                Drain { ingest: &mut ingest }.send(gz.get_mut())?;
            }
            Encoder::Zstd(z) => {
                let _ = original.write_all(&chunk);
                z.write_all(&chunk).map_err(ModelError::io(path))?;
                Drain { ingest: &mut ingest }.send(z.get_mut())?;
            }
        }
        chunk.clear();
    }
    let mut tail = match encoder {
        Encoder::None => Vec::new(),
        Encoder::Gzip(gz) => gz.finish().map_err(ModelError::io(path))?,
        Encoder::Zstd(z) => z.finish().map_err(ModelError::io(path))?,
    };
    Drain { ingest: &mut ingest }.send(&mut tail)?;
    if read != expected {
        return Err(ModelError::ChangedWhileReading { path: path.to_path_buf(), expected, actual: read });
    }
    let blob = ingest.finish(None)?;
    let digest_original = match compression {
        Compression::None => blob.digest().clone(),
        _ => original.finish().0,
    };
    Ok((blob, digest_original, read))
}

enum Encoder {
    None,
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

/// The weights artifact for a lock: `artifactType` set in the manifest itself,
/// the OCI empty config (`{}`), one layer per file in lock order.
pub fn weights_manifest(lock: &WeightsLock) -> ImageManifest {
    let config = Descriptor::for_bytes(media_types::OCI_EMPTY, EMPTY_CONFIG);
    let mut manifest = ImageManifest::new(config, lock.files.iter().map(WeightFile::layer).collect());
    manifest.artifact_type = Some(WEIGHTS_ARTIFACT_TYPE.to_string());
    manifest
}

/// The OCI empty descriptor's content.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// What `bundle` tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleFormat {
    /// The image manifest alone.
    Standalone,
    /// An index of the image manifest and the weights manifest.
    #[default]
    Bundle,
}

/// What [`bundle`] made.
#[derive(Debug, Clone)]
pub struct BundleOutcome {
    /// What the reference now names: the index, or the image for a standalone.
    pub descriptor: Descriptor,
    /// The image's entry (with its platform).
    pub image: Descriptor,
    /// The weights manifest's index entry (bundle only).
    pub weights: Option<Descriptor>,
    /// The index (bundle only).
    pub index: Option<ImageIndex>,
    /// What the reference named before, if anything.
    pub replaced: Option<Descriptor>,
}

/// Builds the bundle of the image manifest `image` (anything [`Store::resolve`]
/// finds) and the weights `lock` describes, and tags it `reference`. Every
/// layer blob must be in the store already ([`lock_weights`] put it there).
pub fn bundle(
    store: &Store,
    image: &str,
    lock: Option<&WeightsLock>,
    reference: &Reference,
    format: BundleFormat,
) -> Result<BundleOutcome, ModelError> {
    let session = store.write_session()?;
    let resolved = store.resolve(image)?.descriptor;
    if !media_types::is_manifest(&resolved.media_type) {
        return Err(ModelError::InvalidArtifact {
            what: image.to_string(),
            reason: format!("not an image manifest ({}); bundle wants a runnable image", resolved.media_type),
        });
    }
    let manifest_bytes = store.read_blob(&resolved.digest, MAX_MANIFEST_SIZE)?;
    let manifest = ImageManifest::from_slice(&manifest_bytes)
        .map_err(|e| ModelError::InvalidArtifact { what: image.to_string(), reason: e.to_string() })?;
    let mut image_entry = Descriptor::new(resolved.media_type.clone(), resolved.digest.clone(), resolved.size);
    if format == BundleFormat::Standalone {
        let replaced = session.tag(&image_entry, reference)?;
        return Ok(BundleOutcome {
            descriptor: image_entry.clone(),
            image: image_entry,
            weights: None,
            index: None,
            replaced,
        });
    }
    let lock = lock.ok_or_else(|| ModelError::InvalidArtifact {
        what: reference.to_string(),
        reason: "a bundle needs a weights.lock".into(),
    })?;
    image_entry.platform = Some(image_platform(store, image, &manifest)?);

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
    session.put_bytes(EMPTY_CONFIG)?;
    let weights = weights_manifest(lock);
    let (digest, size) = session.put_bytes(&weights.to_canonical_json())?;
    let mut weights_entry = Descriptor::new(media_types::OCI_MANIFEST, digest, size);
    weights_entry.artifact_type = Some(WEIGHTS_ARTIFACT_TYPE.to_string());
    weights_entry.platform = Some(unknown_platform());
    weights_entry.annotations = BTreeMap::from([
        (ANNOTATION_REFERENCE_TYPE.to_string(), REFERENCE_TYPE_WEIGHTS.to_string()),
        (ANNOTATION_REFERENCE_DIGEST.to_string(), image_entry.digest.to_string()),
    ]);
    let index = ImageIndex::new(vec![image_entry.clone(), weights_entry.clone()]);
    let (digest, size) = session.put_bytes(&index.to_canonical_json())?;
    let descriptor = Descriptor::new(media_types::OCI_INDEX, digest, size);
    let replaced = session.tag(&descriptor, reference)?;
    Ok(BundleOutcome { descriptor, image: image_entry, weights: Some(weights_entry), index: Some(index), replaced })
}

/// The image's platform, from its config's `os`, `architecture` and `variant`.
fn image_platform(store: &Store, image: &str, manifest: &ImageManifest) -> Result<Platform, ModelError> {
    let config = store.read_blob(&manifest.config.digest, manifest.config.size.max(MAX_MANIFEST_SIZE))?;
    let value: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
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
            what: image.to_string(),
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

/// Whether an index is a Cog bundle: it has a weights entry.
pub fn is_bundle(index: &ImageIndex) -> bool {
    weights_entry(index).is_some()
}

/// The weights manifest of a Cog bundle: the entry whose
/// `vnd.cog.reference.type` is `weights`.
pub fn weights_entry(index: &ImageIndex) -> Option<&Descriptor> {
    index.manifests.iter().find(|entry| is_weights(entry))
}

/// The entries that are images: neither weights nor `unknown/unknown`
/// (attestations and other artifacts use that platform too).
pub fn image_entries(index: &ImageIndex) -> impl Iterator<Item = &Descriptor> {
    index.manifests.iter().filter(|entry| !is_weights(entry) && !is_unknown_platform(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("store"));
        (dir, store)
    }

    fn lock_one(compression: Compression, content: &[u8]) -> (tempfile::TempDir, Store, WeightsLock) {
        let (dir, store) = temp_store();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, content).unwrap();
        let options = LockOptions { compression, ..LockOptions::default() };
        let lock = lock_weights(&store, &[("llama".into(), path)], &options).unwrap();
        (dir, store, lock)
    }

    #[test]
    fn a_raw_layer_is_the_file_and_both_digests_agree() {
        let content = b"weights weights weights".repeat(1000);
        let (_dir, store, lock) = lock_one(Compression::None, &content);
        let file = &lock.files[0];
        assert_eq!(file.digest_original, Digest::of(&content));
        assert_eq!(file.digest, file.digest_original);
        assert_eq!((file.size, file.size_uncompressed), (content.len() as u64, content.len() as u64));
        assert_eq!(file.media_type, WEIGHTS_LAYER);
        assert_eq!(file.dest, "/src/weights/model.safetensors");
        assert_eq!(lock.created, "1970-01-01T00:00:00Z");
        assert_eq!(std::fs::read(store.blob_path(&file.digest)).unwrap(), content);
    }

    #[test]
    fn compressed_layers_decompress_to_the_file_and_hash_what_is_stored() {
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for (compression, media_type) in
            [(Compression::Gzip, WEIGHTS_LAYER_GZIP), (Compression::Zstd, WEIGHTS_LAYER_ZSTD)]
        {
            let (_dir, store, lock) = lock_one(compression, &content);
            let file = &lock.files[0];
            assert_eq!(file.media_type, media_type);
            assert_eq!(file.digest_original, Digest::of(&content));
            assert_ne!(file.digest, file.digest_original);
            let blob = std::fs::read(store.blob_path(&file.digest)).unwrap();
            assert_eq!(Digest::of(&blob), file.digest);
            assert_eq!(blob.len() as u64, file.size);
            assert_eq!(file.size_uncompressed, content.len() as u64);
            let mut raw = Vec::new();
            match compression {
                Compression::Gzip => flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut raw).unwrap(),
                _ => zstd::stream::read::Decoder::new(&blob[..]).unwrap().read_to_end(&mut raw).unwrap(),
            };
            assert_eq!(raw, content);
        }
    }

    #[test]
    fn duplicate_names_are_refused_and_nothing_is_stored() {
        let (dir, store) = temp_store();
        let a = dir.path().join("a.bin");
        std::fs::write(&a, b"a").unwrap();
        let files = [("x".to_string(), a.clone()), ("x".to_string(), a)];
        let error = lock_weights(&store, &files, &LockOptions::default()).unwrap_err();
        assert!(error.to_string().contains("given twice"), "{error}");
        assert!(!store.root().join("blobs").exists());
    }

    #[test]
    fn the_lock_serializes_with_the_documented_field_names_and_reads_back() {
        let (_dir, _store, lock) = lock_one(Compression::Gzip, b"abc");
        let value: serde_json::Value = serde_json::from_slice(&lock.to_json()).unwrap();
        let keys: Vec<&str> = value["files"][0].as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected =
            ["name", "dest", "digestOriginal", "digest", "size", "sizeUncompressed", "mediaType", "contentType"];
        expected.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(keys, expected);
        assert_eq!(WeightsLock::from_slice(&lock.to_json()).unwrap(), lock);
    }

    #[test]
    fn the_weights_manifest_carries_its_artifact_type_and_annotated_layers() {
        let (_dir, _store, lock) = lock_one(Compression::None, b"abc");
        let manifest = weights_manifest(&lock);
        let value: serde_json::Value = serde_json::from_slice(&manifest.to_canonical_json()).unwrap();
        assert_eq!(value["artifactType"], WEIGHTS_ARTIFACT_TYPE);
        assert_eq!(value["config"]["mediaType"], media_types::OCI_EMPTY);
        assert_eq!(value["config"]["size"], 2);
        let annotations = &value["layers"][0]["annotations"];
        assert_eq!(annotations[ANNOTATION_NAME], "llama");
        assert_eq!(annotations[ANNOTATION_DEST], "/src/weights/model.safetensors");
        assert_eq!(annotations[ANNOTATION_DIGEST_ORIGINAL], Digest::of(b"abc").to_string());
        assert_eq!(annotations[ANNOTATION_SIZE_UNCOMPRESSED], "3");
    }

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
        assert!(is_bundle(&index));
        assert_eq!(weights_entry(&index), Some(&index.manifests[1]));
        let images: Vec<&Descriptor> = image_entries(&index).collect();
        assert_eq!(images, [&index.manifests[2], &index.manifests[3]]);
        assert!(!is_bundle(&ImageIndex::new(vec![entry("linux", "amd64", false)])));
    }
}
