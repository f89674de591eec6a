//! Models made from stored models: a source artifact's weights turned into new
//! ones (quantized, converted) and packed with what of the source still holds
//! for them: its license, chat template, projector and other files, its
//! context size and its artifact format.
//!
//! [`DerivedSource::open`] unpacks the source into a scratch directory under
//! the store's `ingest/` (hardlinks to the blobs: no weight is copied) and
//! [`pack_derived`] packs the new weights with the source's files through
//! [`pack()`]. Carried files keep the content, path and file metadata they
//! had, so their layers keep their digests. The scratch directory goes when
//! the [`DerivedSource`] is dropped, and nothing is tagged before the last
//! blob is committed, so a failure at any point leaves the store as it was.
//!
//! ```no_run
//! use std::time::SystemTime;
//! use hoist_model::{Carry, DeriveOptions, DerivedSource, NoPackReporter, pack_derived};
//! use hoist_store::Store;
//!
//! let store = Store::new("/tmp/hoist-store");
//! let stored = store.resolve("qwen:f16")?.descriptor;
//! let source = DerivedSource::open(&store, &stored, None)?;
//! let output = source.output_dir()?.join("qwen-Q8_0.gguf");
//! // An engine writes `output` from `source.runtime_dir().gguf` here.
//! let options =
//!     DeriveOptions { format: None, carry: Carry::AllButWeights, created: SystemTime::now(), reproducible: false };
//! let outcome = pack_derived(&store, &source, &[output], &"qwen:q8".parse()?, &options, &NoPackReporter)?;
//! println!("{}", outcome.descriptor.digest);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hoist_oci::{Descriptor, Reference, media_types};
use hoist_store::{MAX_MANIFEST_SIZE, Store, WriteSession};
use serde_json::Value as Json;

use crate::formats::layer_path::{annotated_path, role_name};
use crate::pack::{FileRole, PackFormat, PackOptions, PackOutcome, PackReporter, PackSource, SourceFile, SourceLayout};
use crate::read::{ArtifactKind, Parts, PlatformSpec, describe, image_for_platform};
use crate::unpack::{MAX_CONFIG_SIZE, RuntimeDir, UnpackOptions, unpack};
use crate::util::media::{annotations, docker};
use crate::util::shards::shard_pattern;
use crate::{ModelError, classify, pack};

/// Which of the source's files the derived model keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Every file but the weights: license, chat template, projector (as it
    /// is: llama-quantize leaves it alone too), configs, docs. For a model
    /// whose new weights replace the old ones in the same format.
    AllButWeights,
    /// The license and chat template only: the new weights hold the rest
    /// (a GGUF converted from safetensors carries its tokenizer and config).
    LicenseAndTemplate,
}

impl Carry {
    fn keeps(self, role: FileRole) -> bool {
        match self {
            Carry::AllButWeights => !role.is_main_weight(),
            Carry::LicenseAndTemplate => matches!(role, FileRole::License | FileRole::ChatTemplate),
        }
    }
}

/// How to pack a derived model.
#[derive(Debug, Clone)]
pub struct DeriveOptions {
    /// The artifact format; by default the source's (ModelPack stays
    /// ModelPack, anything else becomes a Docker model artifact).
    pub format: Option<PackFormat>,
    pub carry: Carry,
    /// The creation time recorded in the config, and the file time of the new weights.
    pub created: SystemTime,
    /// As [`PackOptions::reproducible`].
    pub reproducible: bool,
}

/// A file of the unpacked source as its layer described it.
#[derive(Debug, Clone)]
struct LayerFile {
    /// Position among the source's layers: carried files keep their order.
    order: usize,
    media_type: String,
    mode: Option<u32>,
    modified: Option<SystemTime>,
}

/// A stored model unpacked for deriving another from it. Holds the store's gc
/// lock shared (a prune waits rather than emptying `ingest/` under it) and
/// removes its scratch directory when dropped.
pub struct DerivedSource {
    dir: RuntimeDir,
    kind: ArtifactKind,
    context_size: Option<u64>,
    layers: BTreeMap<String, LayerFile>,
    scratch: Scratch,
    _session: WriteSession,
}

impl DerivedSource {
    /// Unpacks `descriptor` (a model in `store`; from an index, the image for
    /// `platform`) into a new scratch directory under the store's `ingest/`.
    pub fn open(
        store: &Store,
        descriptor: &Descriptor,
        platform: Option<&PlatformSpec>,
    ) -> Result<DerivedSource, ModelError> {
        let session = store.write_session()?;
        let scratch = Scratch::new(&store.root().join("ingest"))?;
        let (manifest_digest, parts) = image_parts(store, descriptor, platform)?;
        let config = parts.config(&manifest_digest)?;
        let config_bytes = store.read_blob(&config.digest, MAX_CONFIG_SIZE)?;
        let info = describe(&parts, &config_bytes);
        let options = UnpackOptions { dir: Some(scratch.path.join("source")), platform: platform.cloned() };
        let dir = unpack(store, descriptor, &options)?;
        Ok(DerivedSource {
            dir,
            kind: info.kind.unwrap_or(ArtifactKind::Other(String::new())),
            context_size: info.context_size,
            layers: layer_files(&parts.layers),
            scratch,
            _session: session,
        })
    }

    /// The unpacked source: its weights format, GGUF, safetensors directory ...
    pub fn runtime_dir(&self) -> &RuntimeDir {
        &self.dir
    }

    /// The source's weights format ("gguf", "safetensors" ...), if known.
    pub fn weights_format(&self) -> Option<&str> {
        self.dir.format.as_deref()
    }

    /// The format a derived model gets by default: the source's.
    pub fn pack_format(&self) -> PackFormat {
        match self.kind {
            ArtifactKind::ModelPack | ArtifactKind::ModelPackLegacy => PackFormat::ModelPack,
            _ => PackFormat::Docker,
        }
    }

    /// The directory for the new weights (made on the first call), inside the
    /// scratch directory and removed with it.
    pub fn output_dir(&self) -> Result<PathBuf, ModelError> {
        let dir = self.scratch.path.join("output");
        fs::create_dir_all(&dir).map_err(ModelError::io(&dir))?;
        Ok(dir)
    }

    /// The model's GGUF files: the one the runtime directory names, or all the
    /// shards of a split model.
    fn model_gguf_files(&self) -> Vec<PathBuf> {
        let Some(first) = &self.dir.gguf else { return Vec::new() };
        let name = first.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        match shard_pattern(name) {
            Some((prefix, count)) => {
                (1..=count).map(|n| first.with_file_name(format!("{prefix}-{n:05}-of-{count:05}.gguf"))).collect()
            }
            None => vec![first.clone()],
        }
    }

    /// The files of the source that `carry` keeps, in the source's layer order.
    fn carried_files(&self, carry: Carry) -> Result<Vec<SourceFile>, ModelError> {
        let model_dir = &self.dir.model_dir;
        let model_files = self.model_gguf_files();
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(model_dir).sort_by_file_name() {
            let entry = entry
                .map_err(|e| ModelError::Io { path: e.path().unwrap_or(model_dir).to_path_buf(), source: e.into() })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(model_dir).unwrap_or(entry.path());
            let Some(rel_path) = rel.to_str().map(str::to_string) else {
                return Err(ModelError::BadInput {
                    path: entry.path().to_path_buf(),
                    reason: "file names must be valid UTF-8".into(),
                });
            };
            let size =
                entry.metadata().map_err(|e| ModelError::Io { path: entry.path().into(), source: e.into() })?.len();
            let layer = self.layers.get(&rel_path);
            let role = match layer.and_then(|l| docker_role(&l.media_type)).unwrap_or_else(|| classify(&rel_path, size))
            {
                // ModelPack calls every GGUF a weight: a GGUF beside the model is its projector.
                FileRole::Gguf if !model_files.iter().any(|f| f == entry.path()) => FileRole::Mmproj,
                role => role,
            };
            if !carry.keeps(role) {
                continue;
            }
            let order = layer.map_or(usize::MAX, |l| l.order);
            files.push((
                order,
                SourceFile {
                    path: entry.path().to_path_buf(),
                    offset: None,
                    rel_path,
                    role,
                    size,
                    mode: layer.and_then(|l| l.mode).unwrap_or(0o644),
                    modified: layer.and_then(|l| l.modified).unwrap_or(UNIX_EPOCH),
                },
            ));
        }
        // Stable: files of one tar layer keep their walk order.
        files.sort_by_key(|(order, _)| *order);
        Ok(files.into_iter().map(|(_, file)| file).collect())
    }
}

/// Packs `weights` (the new model files: a GGUF, or the shards of a split one,
/// in order) with the files of `source` that `options.carry` keeps, into
/// `store` as `reference`, with the source's context size and, unless
/// `options.format` says otherwise, its artifact format.
pub fn pack_derived(
    store: &Store,
    source: &DerivedSource,
    weights: &[PathBuf],
    reference: &Reference,
    options: &DeriveOptions,
    reporter: &dyn PackReporter,
) -> Result<PackOutcome, ModelError> {
    let mut files = weights.iter().map(|path| new_weight(path, options.created)).collect::<Result<Vec<_>, _>>()?;
    if files.is_empty() {
        return Err(ModelError::NoModelFiles { path: source.scratch.path.join("output") });
    }
    let layout =
        if files.iter().all(|f| f.role == FileRole::Gguf) { SourceLayout::Gguf } else { SourceLayout::Directory };
    for carried in source.carried_files(options.carry)? {
        if let Some(clash) = files.iter().find(|f| f.rel_path == carried.rel_path) {
            return Err(ModelError::DuplicatePath {
                rel_path: carried.rel_path.clone(),
                first: clash.path.clone(),
                second: carried.path.clone(),
            });
        }
        files.push(carried);
    }
    let pack_options = PackOptions {
        format: options.format.unwrap_or_else(|| source.pack_format()),
        context_size: source.context_size,
        created: options.created,
        reproducible: options.reproducible,
    };
    pack(store, &PackSource { layout, files }, reference, &pack_options, reporter)
}

/// A new weights file: stored under its file name, as `pack` stores a file given alone.
fn new_weight(path: &Path, created: SystemTime) -> Result<SourceFile, ModelError> {
    let metadata = fs::metadata(path).map_err(ModelError::io(path))?;
    let rel_path = path.file_name().and_then(|n| n.to_str()).map(str::to_string).ok_or_else(|| {
        ModelError::BadInput { path: path.to_path_buf(), reason: "expected a file with a UTF-8 name".into() }
    })?;
    let role = match classify(&rel_path, metadata.len()) {
        // The new weights are the model, whatever their name says.
        FileRole::Mmproj => FileRole::Gguf,
        role => role,
    };
    let size = metadata.len();
    Ok(SourceFile { path: path.to_path_buf(), offset: None, rel_path, role, size, mode: 0o644, modified: created })
}

/// The manifest `descriptor` names (from an index, the image for `platform`) and its parts.
fn image_parts(
    store: &Store,
    descriptor: &Descriptor,
    platform: Option<&PlatformSpec>,
) -> Result<(String, Parts), ModelError> {
    let what = descriptor.digest.to_string();
    let parts = Parts::of(&what, &store.read_blob(&descriptor.digest, MAX_MANIFEST_SIZE)?)?;
    if !media_types::is_index(&descriptor.media_type) {
        return Ok((what, parts));
    }
    let image = image_for_platform(&parts.manifests, &what, platform)?;
    let image_parts = Parts::of(&image.digest.to_string(), &store.read_blob(&image.digest, MAX_MANIFEST_SIZE)?)?;
    Ok((image.digest.to_string(), image_parts))
}

/// The raw layers by the path unpack gives their file, with their file metadata.
fn layer_files(layers: &[Descriptor]) -> BTreeMap<String, LayerFile> {
    let mut files = BTreeMap::new();
    for (order, layer) in layers.iter().enumerate() {
        let Some(rel) = annotated_path(layer).or_else(|| role_name(&layer.media_type)) else { continue };
        let metadata: Json = layer
            .annotation(annotations::FILE_METADATA)
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Json::Null);
        let mode = metadata.get("mode").and_then(Json::as_u64).and_then(|m| u32::try_from(m).ok());
        let modified =
            metadata.get("mtime").and_then(Json::as_str).and_then(|text| humantime::parse_rfc3339_weak(text).ok());
        files.entry(rel.to_string()).or_insert(LayerFile {
            order,
            media_type: layer.media_type.clone(),
            mode,
            modified,
        });
    }
    files
}

/// The role a Docker layer media type gives its file; None for the generic ones.
fn docker_role(media_type: &str) -> Option<FileRole> {
    Some(match media_type {
        docker::GGUF => FileRole::Gguf,
        docker::SAFETENSORS => FileRole::Safetensors,
        docker::DDUF => FileRole::Dduf,
        docker::MMPROJ => FileRole::Mmproj,
        docker::LICENSE => FileRole::License,
        docker::CHAT_TEMPLATE => FileRole::ChatTemplate,
        _ => return None,
    })
}

/// A directory removed, with all it holds, when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(parent: &Path) -> Result<Scratch, ModelError> {
        fs::create_dir_all(parent).map_err(ModelError::io(parent))?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path = parent.join(format!("derive-{}-{nanos}", std::process::id()));
        fs::create_dir(&path).map_err(ModelError::io(&path))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests;
