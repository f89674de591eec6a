//! Which of an unpacked model's files a runtime needs: the model GGUF (the
//! first shard of a split one), projector, chat template, safetensors
//! directory, DDUF; found by media type or name, and a stored command's
//! files win over both.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::paths::rel_components;
use crate::formats::packer::command_file;
use crate::util::media::docker;
use crate::util::shards::shard_pattern;

/// A file of the model and the media type of the raw layer it came from.
pub(super) struct ModelFile {
    pub rel: PathBuf,
    pub media_type: Option<String>,
}

/// The files a runtime needs, relative to `model/`.
pub(super) struct Roles {
    pub gguf: Option<PathBuf>,
    pub mmproj: Option<PathBuf>,
    pub chat_template: Option<PathBuf>,
    pub safetensors_dir: Option<PathBuf>,
    pub dduf: Option<PathBuf>,
}

impl Roles {
    /// The roles among `files` (written under `model_dir`), the artifact's
    /// config naming any stored command.
    pub fn find(files: &[ModelFile], config: &Json, model_dir: &Path) -> Roles {
        let is_mmproj = |f: &ModelFile| {
            f.media_type.as_deref() == Some(docker::MMPROJ) || {
                let name = file_name(&f.rel).to_ascii_lowercase();
                name.contains("mmproj") && name.ends_with(".gguf")
            }
        };
        let ggufs: Vec<&ModelFile> = files
            .iter()
            .filter(|f| {
                !is_mmproj(f) && (f.media_type.as_deref() == Some(docker::GGUF) || has_extension(&f.rel, "gguf"))
            })
            .collect();
        let of_type = |media_type: &str, extension: &str| {
            files.iter().find(|f| f.media_type.as_deref() == Some(media_type) || has_extension(&f.rel, extension))
        };
        // A stored command names the files inside the image: they win.
        let in_image = |flags: &[&str]| -> Option<PathBuf> {
            let path = command_file(config, flags)?;
            let parts = rel_components(path.strip_prefix("/").unwrap_or(&path)).ok()?;
            let rel: PathBuf = parts.iter().collect();
            (!parts.is_empty() && fs::symlink_metadata(model_dir.join(&rel)).is_ok()).then_some(rel)
        };
        Roles {
            gguf: in_image(&["-m", "--model"]).or_else(|| first_shard(&ggufs).map(|f| f.rel.clone())),
            mmproj: in_image(&["--mmproj"]).or_else(|| files.iter().find(|f| is_mmproj(f)).map(|f| f.rel.clone())),
            chat_template: in_image(&["--chat-template-file"])
                .or_else(|| of_type(docker::CHAT_TEMPLATE, "jinja").map(|f| f.rel.clone())),
            safetensors_dir: of_type(docker::SAFETENSORS, "safetensors")
                .map(|f| f.rel.parent().map(Path::to_path_buf).unwrap_or_default()),
            dduf: of_type(docker::DDUF, "dduf").map(|f| f.rel.clone()),
        }
    }

    /// The weight format the files show (for a config that names none).
    pub fn format(&self) -> Option<&'static str> {
        if self.gguf.is_some() {
            Some("gguf")
        } else if self.safetensors_dir.is_some() {
            Some("safetensors")
        } else if self.dduf.is_some() {
            Some("dduf")
        } else {
            None
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

/// The first GGUF, or for a split model (`name-0000k-of-0000N.gguf`) its first shard.
fn first_shard<'a>(ggufs: &[&'a ModelFile]) -> Option<&'a ModelFile> {
    let first = *ggufs.first()?;
    let name = file_name(&first.rel);
    let Some((stem, total)) = shard_pattern(&name) else { return Some(first) };
    let wanted = format!("{stem}-00001-of-{total:05}.gguf");
    Some(
        ggufs
            .iter()
            .copied()
            .find(|f| file_name(&f.rel) == wanted && f.rel.parent() == first.rel.parent())
            .unwrap_or(first),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_shard_is_found() {
        let file = |rel: &str| ModelFile { rel: rel.into(), media_type: None };
        let files = [file("a/m-00002-of-00002.gguf"), file("a/m-00001-of-00002.gguf")];
        let refs: Vec<&ModelFile> = files.iter().collect();
        assert_eq!(first_shard(&refs).unwrap().rel, Path::new("a/m-00001-of-00002.gguf"));
    }
}
