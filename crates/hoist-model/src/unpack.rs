//! Runtime directories: a model artifact in the store unpacked into a directory a
//! runtime (llama-server, vLLM) starts from.
//!
//! A runtime directory is `config.json` (the artifact's config blob) and `model/`, where
//! every raw layer is a hardlink to its read-only blob (zero copy; a copy only
//! across file systems) at the path its annotation names, and every tar layer
//! (ModelPack `.tar`/`.tar+gzip`/`.tar+zstd`, Docker vLLM config and directory
//! archives, OCI and Docker image layers) is extracted, streaming.
//!
//! Every path is checked component by component and written without ever
//! following a symbolic link; `..`, absolute paths and links that would leave
//! the runtime directory are refused with an error naming the layer and the entry. A
//! runtime directory is built in a temp directory beside its target and renamed into
//! place, with `.hoist-bundle.json` written last: it is complete or absent,
//! and the second unpack only reads that marker.

mod paths;
mod roles;
mod tar;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hoist_oci::{Descriptor, Digest, media_types};
use hoist_store::{ANNOTATION_PARTIAL, MAX_MANIFEST_SIZE, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use self::paths::{Fail, link_or_copy, prepare_parent, rel_components, remove_existing, write_read_only};
use self::roles::{ModelFile, Roles};
use crate::ModelError;
use crate::formats::cog;
use crate::formats::layer_path::{annotated_path, role_name};
use crate::formats::packer::stored_command;
use crate::read::{Parts, PlatformSpec, describe, image_for_platform};
use crate::util::compression::{Compression, decompressed};
use crate::util::media::{docker, is_image_layer, tar_compression};

/// The file written last into a runtime directory: its manifest and roles.
/// (Named from when these directories were called bundles; kept so that
/// directories written before are still recognised.)
pub const RUNTIME_DIR_MARKER: &str = ".hoist-bundle.json";

/// Configs larger than this are refused (GGUF metadata makes them large, never this large).
pub(crate) const MAX_CONFIG_SIZE: u64 = 64 << 20;

/// A runtime directory: a directory a runtime can start from.
#[derive(Debug, Clone)]
pub struct RuntimeDir {
    /// The directory.
    pub root: PathBuf,
    /// `root/config.json`: the artifact's config blob (hardlink).
    pub config_path: PathBuf,
    /// `root/model`: every file of the model at its relative path.
    pub model_dir: PathBuf,
    /// "gguf" | "safetensors" | "dduf" | other.
    pub format: Option<String>,
    /// The model GGUF (the first shard of a split model; the others beside it).
    pub gguf: Option<PathBuf>,
    pub mmproj: Option<PathBuf>,
    pub chat_template: Option<PathBuf>,
    /// The directory holding the safetensors files and their config.json (usually model_dir).
    pub safetensors_dir: Option<PathBuf>,
    pub dduf: Option<PathBuf>,
    /// From the config.
    pub context_size: Option<u64>,
    /// The stored command, if the artifact has one (gguf-packer images: the
    /// image config's Entrypoint + Cmd), else empty.
    pub command: Vec<String>,
}

/// `.hoist-bundle.json`: the manifest digest and the RuntimeDir's fields, paths
/// relative to the runtime directory root.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    manifest: String,
    /// A Cog bundle's weights manifest, placed over the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<String>,
    /// Layers of a partial model that were not in the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    absent: Vec<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    gguf: Option<String>,
    #[serde(default)]
    mmproj: Option<String>,
    #[serde(default)]
    chat_template: Option<String>,
    #[serde(default)]
    safetensors_dir: Option<String>,
    #[serde(default)]
    dduf: Option<String>,
    #[serde(default)]
    context_size: Option<u64>,
    #[serde(default)]
    command: Vec<String>,
}

impl Marker {
    fn runtime_dir(&self, root: &Path) -> RuntimeDir {
        let at =
            |rel: &Option<String>| rel.as_ref().map(|r| if r.is_empty() { root.to_path_buf() } else { root.join(r) });
        RuntimeDir {
            root: root.to_path_buf(),
            config_path: root.join("config.json"),
            model_dir: root.join("model"),
            format: self.format.clone(),
            gguf: at(&self.gguf),
            mmproj: at(&self.mmproj),
            chat_template: at(&self.chat_template),
            safetensors_dir: at(&self.safetensors_dir),
            dduf: at(&self.dduf),
            context_size: self.context_size,
            command: self.command.clone(),
        }
    }
}

/// How to unpack.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Where to write the runtime directory (new, empty, or one hoist wrote, which is
    /// replaced); by default `<store root>/bundles/<manifest hex>`.
    pub dir: Option<PathBuf>,
    /// From an index, the image for this platform [default: the host's, or
    /// the index's only image].
    pub platform: Option<PlatformSpec>,
}

/// What one unpack writes: a manifest's layers, and for a Cog bundle the
/// weights placed over the image at their destinations.
struct Plan {
    manifest_digest: Digest,
    manifest: Parts,
    weights: Option<(Digest, Parts)>,
    /// The default directory's name: the index for a Cog bundle (image and
    /// weights together), else the manifest.
    key: Digest,
    /// Layers absent from the store are left out (a `pull --include` model).
    partial: bool,
}

impl Plan {
    fn new(store: &Store, descriptor: &Descriptor, platform: Option<&PlatformSpec>) -> Result<Plan, ModelError> {
        let partial = descriptor.annotation(ANNOTATION_PARTIAL).is_some();
        let parts = read_parts(store, &descriptor.digest)?;
        if !media_types::is_index(&descriptor.media_type) {
            return Ok(Plan {
                manifest_digest: descriptor.digest.clone(),
                manifest: parts,
                weights: None,
                key: descriptor.digest.clone(),
                partial,
            });
        }
        let image = image_for_platform(&parts.manifests, &descriptor.digest.to_string(), platform)?;
        let weights = match cog::weights_entry(&parts.manifests) {
            Some(entry) => Some((entry.digest.clone(), read_parts(store, &entry.digest)?)),
            None => None,
        };
        let key = if weights.is_some() { descriptor.digest.clone() } else { image.digest.clone() };
        let manifest = read_parts(store, &image.digest)?;
        Ok(Plan { manifest_digest: image.digest.clone(), manifest, weights, key, partial })
    }

    /// Whether an existing runtime directory's marker is this plan's, with no layer it
    /// left out now in the store.
    fn is_built_by(&self, store: &Store, marker: &Marker) -> bool {
        marker.manifest == self.manifest_digest.to_string()
            && marker.weights == self.weights.as_ref().map(|(digest, _)| digest.to_string())
            && marker.absent.iter().all(|d| d.parse::<Digest>().is_ok_and(|d| !store.has_blob(&d)))
    }
}

fn read_parts(store: &Store, digest: &Digest) -> Result<Parts, ModelError> {
    Parts::of(&digest.to_string(), &store.read_blob(digest, MAX_MANIFEST_SIZE)?)
}

/// Unpacks the model `descriptor` (a manifest in `store`, or an index: see
/// [`UnpackOptions::platform`]; a Cog bundle's weights land at their
/// destinations inside the image) into a runtime directory.
///
/// The second call with the same manifest reads the marker and touches no file.
pub fn unpack(store: &Store, descriptor: &Descriptor, options: &UnpackOptions) -> Result<RuntimeDir, ModelError> {
    let plan = Plan::new(store, descriptor, options.platform.as_ref())?;
    let target = match &options.dir {
        Some(dir) => std::path::absolute(dir).map_err(ModelError::io(dir))?,
        None => {
            let root = std::path::absolute(store.root()).map_err(ModelError::io(store.root()))?;
            root.join("bundles").join(plan.key.hex())
        }
    };
    let dir = options.dir.as_deref();
    let existing = read_marker(&target);
    if let Some(marker) = &existing
        && plan.is_built_by(store, marker)
    {
        return Ok(marker.runtime_dir(&target));
    }
    let config = plan.manifest.config(&plan.manifest_digest.to_string())?;
    let config_bytes = store.read_blob(&config.digest, MAX_CONFIG_SIZE)?;

    // Whatever is at the target must be ours to replace.
    let replace = match fs::symlink_metadata(&target) {
        Ok(_) if existing.is_some() => true,
        Ok(meta) if meta.is_dir() && dir_is_empty(&target)? => true,
        Ok(_) if dir.is_none() => true, // a leftover inside the store
        Ok(_) => {
            return Err(ModelError::BadInput {
                path: target,
                reason: "exists and is not a hoist runtime directory; choose a new or empty directory".into(),
            });
        }
        Err(_) => false,
    };

    let parent = target.parent().unwrap_or(Path::new("/")).to_path_buf();
    fs::create_dir_all(&parent).map_err(ModelError::io(&parent))?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "runtime".into());
    let temp = TempDir(Some(parent.join(format!(".{name}.partial-{}-{nanos}", std::process::id()))));
    let temp_path = temp.path().to_path_buf();
    fs::create_dir(&temp_path).map_err(ModelError::io(&temp_path))?;

    let marker = build(store, &plan, &config_bytes, &temp_path)?;
    let marker_path = temp_path.join(RUNTIME_DIR_MARKER);
    let json = serde_json::to_vec_pretty(&marker).expect("the marker serialises");
    fs::write(&marker_path, json).map_err(ModelError::io(&marker_path))?;

    if replace {
        paths_remove(&target)?;
    }
    if let Err(e) = fs::rename(&temp_path, &target) {
        // Another unpack of the same model may have won the race.
        if let Some(theirs) = read_marker(&target)
            && plan.is_built_by(store, &theirs)
        {
            return Ok(theirs.runtime_dir(&target));
        }
        return Err(ModelError::io(&target)(e));
    }
    temp.keep();
    Ok(marker.runtime_dir(&target))
}

fn paths_remove(path: &Path) -> Result<(), ModelError> {
    remove_existing(path).map_err(|fail| fail_error(None, path.display().to_string(), fail))
}

fn dir_is_empty(path: &Path) -> Result<bool, ModelError> {
    Ok(fs::read_dir(path).map_err(ModelError::io(path))?.next().is_none())
}

fn read_marker(root: &Path) -> Option<Marker> {
    let bytes = fs::read(root.join(RUNTIME_DIR_MARKER)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A temp directory removed on drop unless kept.
struct TempDir(Option<PathBuf>);

impl TempDir {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("not kept yet")
    }
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = fs::remove_dir_all(path);
        }
    }
}

fn fail_error(layer: Option<&Digest>, entry: String, fail: Fail) -> ModelError {
    match fail {
        Fail::Unsafe(reason) => ModelError::InvalidArtifact {
            what: match layer {
                Some(digest) => format!("layer {digest}"),
                None => entry.clone(),
            },
            reason: format!("entry {entry:?}: {reason}; refused"),
        },
        Fail::Io(path, source) => ModelError::Io { path, source },
    }
}

/// Fills `root` (a fresh directory) and returns the marker describing it.
fn build(store: &Store, plan: &Plan, config_bytes: &[u8], root: &Path) -> Result<Marker, ModelError> {
    let manifest = &plan.manifest;
    let config = manifest.config(&plan.manifest_digest.to_string())?;
    let config_path = root.join("config.json");
    link_or_copy(&store.blob_path(&config.digest), &config_path)
        .map_err(|fail| fail_error(Some(&config.digest), "config.json".into(), fail))?;
    let model_dir = root.join("model");
    fs::create_dir(&model_dir).map_err(ModelError::io(&model_dir))?;

    let mut files: Vec<ModelFile> = Vec::new();
    let gguf_layers =
        manifest.layers.iter().filter(|l| annotated_path(l).is_none() && l.media_type == docker::GGUF).count();
    let mut unnamed_gguf = 0;
    let mut absent = Vec::new();
    let weights_layers = plan.weights.iter().flat_map(|(_, weights)| &weights.layers);
    for layer in manifest.layers.iter().chain(weights_layers) {
        if plan.partial && !store.has_blob(&layer.digest) {
            absent.push(layer.digest.to_string());
            continue;
        }
        if let Some(compression) = tar_compression(&layer.media_type) {
            let blob = store.open_blob(&layer.digest)?;
            let mut extracted = Vec::new();
            tar::extract(blob, compression, is_image_layer(&layer.media_type), &model_dir, &mut extracted)
                .map_err(|e| fail_error(Some(&layer.digest), e.entry, e.fail))?;
            files.extend(extracted.into_iter().map(|rel| ModelFile { rel, media_type: None }));
            continue;
        }
        let rel = match annotated_path(layer) {
            Some(path) => path.to_string(),
            None if layer.media_type == docker::GGUF => {
                unnamed_gguf += 1;
                if gguf_layers > 1 {
                    format!("model-{unnamed_gguf:05}-of-{gguf_layers:05}.gguf")
                } else {
                    "model.gguf".into()
                }
            }
            None => role_name(&layer.media_type)
                .filter(|name| !files.iter().any(|f| f.rel == Path::new(name)))
                .map(str::to_string)
                .unwrap_or_else(|| layer.digest.hex().to_string()),
        };
        let fail = |fail| fail_error(Some(&layer.digest), rel.clone(), fail);
        let parts = rel_components(Path::new(&rel)).map_err(fail)?;
        if parts.is_empty() {
            return Err(fail(Fail::Unsafe("an empty path".into())));
        }
        let dst = prepare_parent(&model_dir, &parts).map_err(fail)?;
        remove_existing(&dst).map_err(fail)?;
        match cog::weights_layer_compression(&layer.media_type) {
            Some(compression @ (Compression::Gzip | Compression::Zstd)) => {
                let mut content = decompressed(store.open_blob(&layer.digest)?, compression)
                    .map_err(|e| fail(Fail::Io(dst.clone(), e)))?;
                write_read_only(&mut content, &dst).map_err(fail)?;
            }
            _ => {
                let blob = store.blob_path(&layer.digest);
                if !blob.is_file() {
                    store.open_blob(&layer.digest)?; // the store's "blob not found" error
                }
                link_or_copy(&blob, &dst).map_err(fail)?;
            }
        }
        files.push(ModelFile { rel: parts.iter().collect(), media_type: Some(layer.media_type.clone()) });
    }
    // Whiteouts and later layers may have removed files.
    files.retain(|f| fs::symlink_metadata(model_dir.join(&f.rel)).is_ok());

    let info = describe(manifest, config_bytes);
    let config: Json = serde_json::from_slice(config_bytes).unwrap_or(Json::Null);
    let roles = Roles::find(&files, &config, &model_dir);
    let rel = |path: PathBuf| Some(Path::new("model").join(path).to_string_lossy().into_owned());
    Ok(Marker {
        manifest: plan.manifest_digest.to_string(),
        weights: plan.weights.as_ref().map(|(digest, _)| digest.to_string()),
        absent,
        format: info.format.clone().or_else(|| roles.format().map(str::to_string)),
        gguf: roles.gguf.and_then(rel),
        mmproj: roles.mmproj.and_then(rel),
        chat_template: roles.chat_template.and_then(rel),
        safetensors_dir: roles
            .safetensors_dir
            .map(|dir| Path::new("model").join(dir).to_string_lossy().trim_end_matches('/').to_string()),
        dduf: roles.dduf.and_then(rel),
        context_size: info.context_size,
        command: stored_command(&config),
    })
}
