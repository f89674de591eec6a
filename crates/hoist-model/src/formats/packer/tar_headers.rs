//! GGUF headers inside an image's tar layers (gguf-packer images: the model
//! files in ordinary image layers, llama-server's `-m` in the image config),
//! read through any [`Source`] without fetching the model.
//!
//! Layers are read last to first: a file of a later layer replaces an earlier
//! one at its path, and a whiteout removes it, so the first copy found going
//! down is the image's, and once every wanted file is decided the earlier
//! layers are never touched.

mod layer;
mod stream;
mod ustar;

use std::collections::{BTreeMap, HashSet};

use hoist_gguf::GgufHeader;
use hoist_oci::{Digest, ImageManifest, Source};
use serde_json::Value as Json;

use self::layer::LayerWalk;
use self::ustar::Kind;
use super::command::{command_file, command_value, stored_command};
use crate::ModelError;
use crate::util::media::{is_image_layer, tar_compression};
use crate::util::shards::shard_pattern;

/// A GGUF file found in a tar layer.
#[derive(Debug, Clone)]
pub struct TarGguf {
    /// Its path in the image, without a leading `/` ("models/tiny.gguf").
    pub path: String,
    /// The layer that holds it.
    pub layer: Digest,
    pub header: GgufHeader,
}

/// The model's GGUF files found in tar layers, and what finding them cost.
#[derive(Debug, Clone)]
pub struct TarHeaders {
    /// The model's files: those the stored command names (the model and its
    /// sibling shards, in order), else every `.gguf` but projectors, by path.
    pub files: Vec<TarGguf>,
    /// Bytes received from the source: ranges of plain tars, the compressed
    /// prefix of compressed ones.
    pub bytes_read: u64,
    pub requests: u32,
}

/// Whether `manifest` has a layer that is a tar archive (plain, gzip or zstd).
pub fn has_tar_layers(manifest: &ImageManifest) -> bool {
    manifest.layers.iter().any(|l| tar_compression(&l.media_type).is_some())
}

/// Finds the model's GGUF files in the tar layers of `manifest` (its image
/// config `config`) and reads their headers from `source`.
///
/// The model is the file the stored command's `-m`/`--model` names (against
/// `WorkingDir`), with its sibling shards when it is one of a split model;
/// without such a command, every `.gguf` file that is not a projector. Plain
/// tars are walked by ranged reads that skip file data; gzip and zstd tars are
/// streamed from their start and dropped as soon as the named files are read
/// (without a command, the whole layer must be read to know it holds no other).
pub async fn read_tar_headers(
    source: &dyn Source,
    manifest: &ImageManifest,
    config: &Json,
) -> Result<TarHeaders, ModelError> {
    let wanted = Wanted::from_config(config);
    let layers: Vec<_> =
        manifest.layers.iter().filter_map(|l| tar_compression(&l.media_type).map(|c| (l, c))).collect();
    let mut found: BTreeMap<String, TarGguf> = BTreeMap::new();
    let mut hidden = Hidden::default();
    let (mut bytes_read, mut requests, mut entries) = (0, 0, 0);
    for (index, &(descriptor, compression)) in layers.iter().enumerate().rev() {
        let mut walk = LayerWalk::open(source, descriptor, compression).await?;
        // What this layer hides from the layers below it (not from itself).
        let mut below = Hidden::default();
        let keep_hidden = index > 0;
        let outcome = walk_layer(&mut walk, &wanted, &hidden, &mut below, keep_hidden, &mut found).await;
        let (bytes, count) = walk.cost();
        bytes_read += bytes;
        requests += count;
        entries += walk.entries;
        outcome?;
        hidden.merge(below);
        if wanted.decided(&found, &hidden) {
            break;
        }
    }
    let what = format!("the image with config {} in {}", manifest.config.digest, source.name());
    let files = match &wanted {
        Wanted::Named { value, paths } => {
            let mut files = Vec::new();
            for path in paths {
                let Some(file) = found.remove(path) else {
                    let missing = if paths.len() > 1 {
                        format!("shard {path} of the model its command names (-m {value}) is missing")
                    } else {
                        format!("the model its command names (-m {value}, {path}) is missing")
                    };
                    return Err(ModelError::NotInTarLayers { what, missing, layers: layers.len(), entries });
                };
                files.push(file);
            }
            files
        }
        Wanted::AnyGguf => found.into_values().collect(),
    };
    if files.is_empty() {
        let missing = "no GGUF file (other than projectors)".to_string();
        return Err(ModelError::NotInTarLayers { what, missing, layers: layers.len(), entries });
    }
    Ok(TarHeaders { files, bytes_read, requests })
}

/// Walks one layer, reading the headers of the wanted files it holds that no
/// later layer hid, and noting in `below` what it hides from earlier layers.
async fn walk_layer(
    walk: &mut LayerWalk<'_>,
    wanted: &Wanted,
    hidden: &Hidden,
    below: &mut Hidden,
    keep_hidden: bool,
    found: &mut BTreeMap<String, TarGguf>,
) -> Result<(), ModelError> {
    let image_layer = is_image_layer(walk.media_type());
    while let Some(entry) = walk.next_entry().await? {
        let path = normalize(&entry.path);
        if path.is_empty() {
            continue; // "./"
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
        if image_layer && let Some(whited) = name.strip_prefix(".wh.") {
            if keep_hidden {
                if whited == ".wh..opq" {
                    below.opaque.insert(dir.to_string());
                } else {
                    below.gone.insert(if dir.is_empty() { whited.to_string() } else { format!("{dir}/{whited}") });
                }
            }
            continue;
        }
        if hidden.hides(&path) {
            continue;
        }
        if keep_hidden && entry.kind != Kind::Dir {
            below.gone.insert(path.clone());
        }
        let is_model = match wanted {
            Wanted::Named { paths, .. } => paths.contains(&path),
            Wanted::AnyGguf => {
                let name = name.to_ascii_lowercase();
                entry.kind == Kind::File && name.ends_with(".gguf") && !name.contains("mmproj")
            }
        };
        if !is_model {
            continue;
        }
        match entry.kind {
            Kind::File => {}
            Kind::Symlink | Kind::HardLink => {
                let reason = "the model file is a link, and links inside remote layers are not followed; \
                              pull the image to read it";
                return Err(walk.fail(&entry.path, reason));
            }
            _ => return Err(walk.fail(&entry.path, "the model path is not a regular file")),
        }
        let header = walk.gguf_header(&entry).await?;
        // A later entry of the same layer replaces an earlier one.
        found.insert(path.clone(), TarGguf { path, layer: walk.digest().clone(), header });
        // Named files: stop as soon as all are in (an archive holding one path
        // twice is not walked to its end for the second).
        if let Wanted::Named { paths, .. } = wanted
            && paths.iter().all(|p| found.contains_key(p))
        {
            break;
        }
    }
    Ok(())
}

/// Which files are the model.
enum Wanted {
    /// The file the stored command's `-m` names (`value`), or its shards, in order.
    Named { value: String, paths: Vec<String> },
    /// Every `.gguf` file but projectors.
    AnyGguf,
}

impl Wanted {
    fn from_config(config: &Json) -> Wanted {
        let command = stored_command(config);
        let Some(value) = command_value(&command, &["-m", "--model"]) else { return Wanted::AnyGguf };
        let Some(file) = command_file(config, &["-m", "--model"]) else { return Wanted::AnyGguf };
        let path = normalize(&file.to_string_lossy());
        let (dir, name) = path.rsplit_once('/').map_or(("", path.as_str()), |(d, n)| (d, n));
        let paths = match shard_pattern(name) {
            Some((stem, count)) => (1..=count)
                .map(|n| {
                    let shard = format!("{stem}-{n:05}-of-{count:05}.gguf");
                    if dir.is_empty() { shard } else { format!("{dir}/{shard}") }
                })
                .collect(),
            None => vec![path],
        };
        Wanted::Named { value: value.to_string(), paths }
    }

    /// Whether every named file is found or hidden, so earlier layers cannot matter.
    fn decided(&self, found: &BTreeMap<String, TarGguf>, hidden: &Hidden) -> bool {
        match self {
            Wanted::Named { paths, .. } => paths.iter().all(|p| found.contains_key(p) || hidden.hides(p)),
            Wanted::AnyGguf => false,
        }
    }
}

/// What later layers hide from earlier ones.
#[derive(Default)]
struct Hidden {
    /// Removed (whiteouts) or replaced (files, links): the path and all below it.
    gone: HashSet<String>,
    /// Directories emptied of what earlier layers put there (opaque whiteouts).
    opaque: HashSet<String>,
}

impl Hidden {
    fn hides(&self, path: &str) -> bool {
        if self.gone.contains(path) {
            return true;
        }
        let mut at = path;
        while let Some((parent, _)) = at.rsplit_once('/') {
            if self.gone.contains(parent) || self.opaque.contains(parent) {
                return true;
            }
            at = parent;
        }
        self.opaque.contains("")
    }

    fn merge(&mut self, other: Hidden) {
        self.gone.extend(other.gone);
        self.opaque.extend(other.opaque);
    }
}

/// A path in the image as a relative path: `/`, `.` and empty components
/// dropped, `..` resolved (at the root it stays at the root, as in a rootfs).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests;
