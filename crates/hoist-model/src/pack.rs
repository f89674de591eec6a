//! Packing files into a model artifact in the store: each file is read once,
//! hashed while it is copied into `ingest/`, and inspected from the same bytes;
//! nothing is committed until every file has been read and checked.
//!
//! `source` finds the files, `classify` gives each a role, `inspect_stream`
//! reads GGUF and safetensors headers from the bytes being copied, `facts`
//! gathers what they say, and `config` writes the config in the chosen
//! [format](crate::formats).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::SystemTime;

use hoist_oci::{Descriptor, ImageManifest, Reference, media_types};
use hoist_store::{StagedBlob, Store, WriteSession};
use serde::Serialize;

mod classify;
mod config;
mod facts;
mod inspect_stream;
mod read_ahead;
mod safetensors;
mod source;

pub use self::classify::{ClassOverrides, FileKind, FileRole, classify};
pub use self::facts::{FileFacts, ModelFacts, ModelFormat};
pub use self::safetensors::SafetensorsHeader;
pub use self::source::{PackSource, SourceFile, SourceLayout, SourceOptions};

use self::config::{docker_config, modelpack_config};
use self::inspect_stream::StreamInspector;
use self::read_ahead::read_ahead;
use crate::ModelError;
use crate::util::media::{annotations, docker, modelpack};

/// Read size: large enough that per-call overhead vanishes next to hashing.
const CHUNK: usize = 4 * 1024 * 1024;

/// Which artifact format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackFormat {
    /// Docker model artifact (config v0.1 for GGUF files, v0.2 otherwise).
    #[default]
    Docker,
    /// CNCF ModelPack v1.
    ModelPack,
}

/// How to pack.
#[derive(Debug, Clone)]
pub struct PackOptions {
    pub format: PackFormat,
    /// Overrides the context size found in the files.
    pub context_size: Option<u64>,
    /// The creation time recorded in the config.
    pub created: SystemTime,
    /// When set (from `--created` or `SOURCE_DATE_EPOCH`), file times recorded in
    /// layer annotations are clamped to `created`, so that packing the same files
    /// again gives the same digest.
    pub reproducible: bool,
}

/// Progress of a pack, for the binary to draw.
pub trait PackReporter {
    fn file_started(&self, _file: &SourceFile) {}
    fn bytes_read(&self, _bytes: u64) {}
    fn file_finished(&self, _file: &SourceFile) {}
}

/// A reporter that reports nothing.
pub struct NoPackReporter;
impl PackReporter for NoPackReporter {}

/// What pack made.
#[derive(Debug, Clone)]
pub struct PackOutcome {
    /// The manifest's descriptor, as tagged in the store.
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub facts: ModelFacts,
    /// The model the reference pointed at before, if any.
    pub replaced: Option<Descriptor>,
}

/// Packs `source` into `store` and tags it `reference`.
pub fn pack(
    store: &Store,
    source: &PackSource,
    reference: &Reference,
    options: &PackOptions,
    reporter: &dyn PackReporter,
) -> Result<PackOutcome, ModelError> {
    let session = store.write_session()?;
    let mut staged = Vec::with_capacity(source.files.len());
    let mut facts = Vec::with_capacity(source.files.len());
    for file in &source.files {
        reporter.file_started(file);
        let (blob, file_facts) = stage_file(&session, file, reporter)?;
        reporter.file_finished(file);
        staged.push(blob);
        facts.push(file_facts);
    }
    let model = ModelFacts::gather(&source.files, &facts);
    let model = ModelFacts { context_size: options.context_size.or(model.context_size), ..model };

    let created = humantime::format_rfc3339_seconds(options.created).to_string();
    let mut layers = Vec::with_capacity(staged.len());
    for (file, blob) in source.files.iter().zip(staged) {
        let media_type = match options.format {
            PackFormat::Docker => file.role.docker_media_type().to_string(),
            PackFormat::ModelPack => file.role.kind().modelpack_media_type(),
        };
        let (digest, size) = blob.commit()?;
        let mut layer = Descriptor::new(media_type, digest, size);
        layer.annotations = layer_annotations(file, options);
        layers.push(layer);
    }
    let diff_ids = layers.iter().map(|l| l.digest.clone()).collect();
    let total_size = layers.iter().map(|l| l.size).sum();
    let (config_media_type, config_bytes) = match options.format {
        PackFormat::Docker => {
            let version = if source.layout == SourceLayout::Gguf { docker::CONFIG_V01 } else { docker::CONFIG_V02 };
            (version, to_json(&docker_config(&model, &created, diff_ids, total_size)))
        }
        PackFormat::ModelPack => {
            let name = reference.repository().rsplit('/').next().unwrap_or_default();
            (modelpack::CONFIG, to_json(&modelpack_config(&model, name, &created, diff_ids)))
        }
    };
    let (config_digest, config_size) = session.put_bytes(&config_bytes)?;
    let mut manifest = ImageManifest::new(Descriptor::new(config_media_type, config_digest, config_size), layers);
    if options.format == PackFormat::ModelPack {
        manifest.artifact_type = Some(modelpack::MANIFEST_ARTIFACT_TYPE.to_string());
    }
    let manifest_bytes = manifest.to_canonical_json();
    let (digest, size) = session.put_bytes(&manifest_bytes)?;
    let mut descriptor = Descriptor::new(media_types::OCI_MANIFEST, digest, size);
    descriptor.artifact_type = manifest.artifact_type.clone();
    let replaced = session.tag(&descriptor, reference)?;
    Ok(PackOutcome { descriptor, manifest, facts: model, replaced })
}

/// Copies one file into `ingest/`, hashing and inspecting it on the way.
fn stage_file(
    session: &WriteSession,
    file: &SourceFile,
    reporter: &dyn PackReporter,
) -> Result<(StagedBlob, FileFacts), ModelError> {
    let mut reader = File::open(&file.path).map_err(ModelError::io(&file.path))?;
    // A file of its own is read to its end, so one that grew is caught; one
    // inside another ends at its size.
    let limit = match file.offset {
        Some(at) => reader.seek(SeekFrom::Start(at)).map(|_| file.size).map_err(ModelError::io(&file.path))?,
        None => u64::MAX,
    };
    let mut ingest = session.ingest()?;
    let mut inspector = StreamInspector::for_file(file);
    read_ahead(reader.take(limit), CHUNK, ModelError::io(&file.path), |chunk| {
        inspector.feed(file, &chunk)?;
        reporter.bytes_read(chunk.len() as u64);
        Ok(ingest.write_chunk(chunk)?)
    })?;
    if ingest.written() != file.size {
        return Err(ModelError::ChangedWhileReading {
            path: file.path.clone(),
            expected: file.size,
            actual: ingest.written(),
        });
    }
    let facts = inspector.finish(file)?;
    Ok((ingest.finish(None)?, facts))
}

/// The file metadata annotation, with modctl's field names.
#[derive(Serialize)]
struct FileMetadata<'a> {
    name: &'a str,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: String,
    typeflag: u8,
}

fn layer_annotations(file: &SourceFile, options: &PackOptions) -> BTreeMap<String, String> {
    let mtime = if options.reproducible { file.modified.min(options.created) } else { file.modified };
    let metadata = FileMetadata {
        name: file.rel_path.rsplit('/').next().unwrap_or(&file.rel_path),
        mode: file.mode,
        // Owner ids of the packing machine mean nothing elsewhere and would make
        // the same files pack differently on two machines.
        uid: 0,
        gid: 0,
        size: file.size,
        mtime: humantime::format_rfc3339_seconds(mtime).to_string(),
        typeflag: b'0',
    };
    BTreeMap::from([
        (annotations::FILEPATH.to_string(), file.rel_path.clone()),
        (annotations::FILE_METADATA.to_string(), to_json_string(&metadata)),
        (annotations::MEDIATYPE_UNTESTED.to_string(), "false".to_string()),
    ])
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs and BTreeMaps always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

fn to_json_string<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use hoist_gguf::synth::TinyModel;

    use super::*;

    /// A file read where it lies inside another (a build's layer) packs as
    /// the same file on its own does, byte for byte.
    #[test]
    fn a_file_inside_another_packs_as_the_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let alone = dir.path().join("model.gguf");
        TinyModel::default().write_to_path(&alone).unwrap();
        let bytes = std::fs::read(&alone).unwrap();
        let within = dir.path().join("layer.tar");
        std::fs::write(&within, [&[1u8; 700][..], &bytes, &[2u8; 300]].concat()).unwrap();
        let created = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let file = |path: &std::path::Path, offset| SourceFile {
            path: path.to_path_buf(),
            offset,
            rel_path: "model.gguf".into(),
            role: FileRole::Gguf,
            size: bytes.len() as u64,
            mode: 0o644,
            modified: created,
        };
        let store = Store::new(dir.path().join("store"));
        let options = PackOptions { format: PackFormat::Docker, context_size: None, created, reproducible: true };
        let pack_one = |f: SourceFile, tag: &str| {
            let source = PackSource { layout: SourceLayout::Gguf, files: vec![f] };
            pack(&store, &source, &tag.parse().unwrap(), &options, &NoPackReporter).unwrap()
        };
        let by_itself = pack_one(file(&alone, None), "alone:1");
        let inside = pack_one(file(&within, Some(700)), "inside:1");
        assert_eq!(inside.descriptor, by_itself.descriptor);
        assert_eq!(inside.manifest.layers[0].size, bytes.len() as u64);
        // A file of its own that is not the size it was said to be is refused.
        let grown = dir.path().join("grown.gguf");
        std::fs::write(&grown, [&bytes[..], &[0u8; 32]].concat()).unwrap();
        let source = PackSource { layout: SourceLayout::Gguf, files: vec![file(&grown, None)] };
        let err = pack(&store, &source, &"grown:1".parse().unwrap(), &options, &NoPackReporter).unwrap_err();
        assert!(matches!(err, ModelError::ChangedWhileReading { .. }), "{err}");
    }
}
