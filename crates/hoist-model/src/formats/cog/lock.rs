//! `weights.lock` and the weights artifact it describes: each weight file
//! read once into a layer blob of the store, and the manifest of those layers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hoist_oci::{Descriptor, Digest, DigestWriter, ImageManifest, media_types};
use hoist_store::{StagedBlob, Store, WriteSession};
use serde::{Deserialize, Serialize};

use super::{
    ANNOTATION_DEST, ANNOTATION_DIGEST_ORIGINAL, ANNOTATION_NAME, ANNOTATION_SIZE_UNCOMPRESSED, DEFAULT_CONTENT_TYPE,
    DEFAULT_DEST_PREFIX, LOCK_VERSION, WEIGHTS_ARTIFACT_TYPE, WEIGHTS_LAYER, WEIGHTS_LAYER_GZIP, WEIGHTS_LAYER_ZSTD,
};
use crate::ModelError;
use crate::util::compression::Compression;

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
/// untagged until [`bundle`](super::bundle) references them (a `prune` in between removes them).
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
}
