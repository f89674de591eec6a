//! `--format docker|modelpack`: the target stage's files as a model artifact,
//! packed by hoist-model's `pack` exactly as `hoist pack` packs files, instead
//! of an image. CMD says which file is the model (a GGUF, so Docker's config
//! v0.1) and which the projector; `--chat-template-file` names the template;
//! every other file is classified by name as `hoist pack` does (licenses,
//! `*.jinja` templates, configs, docs). A GGUF that is not the model (a draft,
//! an adapter) is an other weight, not a second model. Directories and
//! symlinks have no place in an artifact. Files on disk and in layers are
//! read where they lie, each once (the target stage's COPY, ADD and CAT write
//! no layer of their own in such a build); files the build holds in memory are
//! written out to the scratch directory first.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use hoist_model::pack::{FileRole, PackSource, SourceFile, SourceLayout, classify};
use hoist_model::{NoPackReporter, PackFormat, PackOptions, PackOutcome};
use hoist_oci::Reference;
use hoist_store::Store;

use super::StageState;
use super::copy::clean;
use super::model_steps::write_out;
use super::tree::{Data, Node};

/// Packs the files of `stage` into `store`, tagged `reference`.
pub(super) fn pack(
    store: &Store,
    stage: &StageState,
    format: PackFormat,
    reference: &Reference,
    epoch: u64,
    scratch: &Path,
) -> Result<PackOutcome, String> {
    let (files, cmd) = (&stage.files, &stage.config.cmd);
    let named = stage.cmd.as_ref().map(|(_, _, named)| named).ok_or("the artifact's model: there is no CMD")?;
    let model = named.model.as_ref().map(|m| clean(&m.path)).ok_or("the artifact's model: CMD names none")?;
    let projector = named.projector.as_ref().map(|p| clean(&p.path));
    let template = cmd.iter().position(|a| a == "--chat-template-file").and_then(|i| cmd.get(i + 1)).map(|t| clean(t));
    let created = UNIX_EPOCH + Duration::from_secs(epoch);
    let mut sources = Vec::new();
    for (path, entry) in &files.entries {
        let Node::File { data, size } = &entry.node else { continue };
        let role = if *path == model {
            FileRole::Gguf
        } else if Some(path) == projector.as_ref() {
            FileRole::Mmproj
        } else if Some(path) == template.as_ref() {
            FileRole::ChatTemplate
        } else {
            match classify(path, *size) {
                FileRole::Gguf => FileRole::OtherWeight,
                role => role,
            }
        };
        // Files on disk and in layers are read where they lie, once, by pack.
        let (on_disk, offset) = match data {
            Data::Disk(p) => (p.clone(), None),
            Data::Slice { path, offset, .. } => (path.clone(), Some(*offset)),
            data => {
                let out = tempfile::Builder::new().prefix("artifact-").tempfile_in(scratch);
                let out =
                    out.and_then(|f| f.into_temp_path().keep().map_err(|e| e.error)).map_err(|e| e.to_string())?;
                write_out(data, &out).map_err(|e| format!("{path}: {e}"))?;
                (out, None)
            }
        };
        let file = SourceFile {
            path: on_disk,
            offset,
            rel_path: path.clone(),
            role,
            size: *size,
            mode: entry.mode,
            modified: created,
        };
        sources.push(file);
    }
    // The model first, as `hoist pack` orders it; the rest by path.
    sources.sort_by_key(|f| f.rel_path != model);
    let source = PackSource { layout: SourceLayout::Gguf, files: sources };
    let options = PackOptions { format, context_size: None, created, reproducible: true };
    hoist_model::pack(store, &source, reference, &options, &NoPackReporter).map_err(|e| e.to_string())
}
