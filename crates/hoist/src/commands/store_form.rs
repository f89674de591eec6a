//! What the store forms of `quantize` and `convert` (`-t REF`) share: the new
//! name checked before any work, the source found in the store or pulled and
//! unpacked for the engine (hoist-model's `DerivedSource`), the result packed
//! with the source's files (`pack_derived`), and the summary. A source this
//! command pulled is untagged again when the command fails, so a failure
//! leaves the store's models as they were.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use hoist_model::{Carry, DeriveOptions, DerivedSource, PackFormat, PackOutcome, format_size, pack_derived};
use hoist_oci::Reference;
use hoist_store::Store;

use super::pack::creation_time;
use super::pull::find_or_pull;
use crate::cli::{Format, Progress, StoreFormArgs, TransferArgs};
use crate::progress::Drawer;

/// A store form under way: its source unpacked, its new name free.
pub struct StoreForm<'a> {
    store: &'a Store,
    /// The model as the user named it.
    pub model: String,
    pub target: Reference,
    pub source: DerivedSource,
    format: Option<PackFormat>,
    pulled: PulledGuard<'a>,
}

impl<'a> StoreForm<'a> {
    /// Checks `args.tag`, then finds `model` in the store (or pulls it) and unpacks it.
    pub fn open(store: &'a Store, model: &Path, args: StoreFormArgs, progress: Progress) -> Result<StoreForm<'a>> {
        let model = model.to_str().context("the model must be named in UTF-8")?.to_string();
        let target = free_reference(store, args.tag.as_deref().unwrap_or_default())?;
        if model.parse::<Reference>().is_ok_and(|source| source.to_string() == target.to_string()) {
            bail!("{model} would be pulled and then replaced by its own result: give REF a name of its own");
        }
        // Only a name with its registry is pulled: a typo of a stored name should not go to Docker Hub.
        let transfer = TransferArgs { connect: args.connect, concurrency: 4, progress };
        let (descriptor, pulled) = find_or_pull(store, &model, false, &transfer)?;
        let pulled = pulled.map(|name| name.parse()).transpose()?;
        let pulled = PulledGuard { store, reference: pulled };
        let source = DerivedSource::open(store, &descriptor, None).with_context(|| format!("reading {model}"))?;
        let format = args.format.map(|format| match format {
            Format::Docker => PackFormat::Docker,
            Format::Modelpack => PackFormat::ModelPack,
        });
        Ok(StoreForm { store, model, target, source, format, pulled })
    }

    /// Fails unless the source's weights are `wanted` ("gguf", "safetensors"); `hint` says what to do.
    pub fn require_weights(&self, wanted: &str, hint: &str) -> Result<()> {
        match self.source.weights_format() {
            Some(found) if found == wanted => Ok(()),
            found => bail!("{} is {} model, not {wanted}: {hint}", self.model, article(found.unwrap_or("an unknown"))),
        }
    }

    /// An engine's error about the unpacked source, its paths relative to the
    /// model ("converting st:1: config.json: ..."): the scratch directory
    /// they were in is gone by the time the user reads them.
    pub fn engine_error(&self, doing: &str, error: impl Into<anyhow::Error>) -> anyhow::Error {
        let text = format!("{:#}", error.into());
        let dir = format!("{}/", self.source.runtime_dir().model_dir.display());
        anyhow!("{doing} {}: {}", self.model, text.replace(&dir, ""))
    }

    /// Packs `weights` with what `carry` keeps of the source as the target name.
    pub fn pack(mut self, weights: &[PathBuf], carry: Carry, progress: Progress) -> Result<PackOutcome> {
        let (created, reproducible) = creation_time(None)?;
        let options = DeriveOptions { format: self.format, carry, created, reproducible };
        let size = weights.iter().filter_map(|w| w.metadata().ok()).map(|m| m.len()).sum();
        let drawer = Drawer::new(progress, size);
        let outcome = pack_derived(self.store, &self.source, weights, &self.target, &options, &drawer);
        drawer.finish();
        let outcome = outcome.with_context(|| format!("packing {}", self.target))?;
        self.pulled.keep();
        Ok(outcome)
    }
}

/// "a gguf", "an unknown" ...
fn article(word: &str) -> String {
    if word.starts_with("an ") { word.to_string() } else { format!("a {word}") }
}

/// `tag` as a name to give a new model: no digest (as `pack -t`), and not a
/// name the store already has.
fn free_reference(store: &Store, tag: &str) -> Result<Reference> {
    let reference: Reference = tag.parse()?;
    if reference.digest().is_some() {
        bail!("invalid reference {tag:?}: a name to tag cannot hold a digest");
    }
    let name = reference.to_string();
    if let Some(existing) = store.list()?.into_iter().find(|tagged| tagged.reference == name) {
        bail!(
            "{name} already names model {} in the store: `hoist rm {name}` first to replace it, or choose another name",
            existing.descriptor.digest.short()
        );
    }
    Ok(reference)
}

/// Untags, when dropped before [`keep`](Self::keep), the model this command
/// pulled: its blobs go at the next prune, as anything unreferenced does.
struct PulledGuard<'a> {
    store: &'a Store,
    reference: Option<Reference>,
}

impl PulledGuard<'_> {
    fn keep(&mut self) {
        self.reference = None;
    }
}

impl Drop for PulledGuard<'_> {
    fn drop(&mut self) {
        if let Some(reference) = self.reference.take() {
            let _ = self.store.untag(&reference);
        }
    }
}

/// The summary fields every store form prints in `--json`.
pub fn json_fields(
    model: &str,
    target: &Reference,
    outcome: &PackOutcome,
) -> serde_json::Map<String, serde_json::Value> {
    let value = serde_json::json!({
        "source": model,
        "reference": target.to_string(),
        "digest": outcome.descriptor.digest.to_string(),
        "format": artifact_format(outcome),
        "layers": outcome.manifest.layers.len(),
        "size": outcome.manifest.layers.iter().map(|l| l.size).sum::<u64>(),
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The line a store form prints: "REF DIGEST (docker, Q4_K_M, 4 layers, 1.20MB)".
pub fn text_line(target: &Reference, outcome: &PackOutcome) -> String {
    let facts = &outcome.facts;
    let details: Vec<String> = [
        Some(artifact_format(outcome).to_string()),
        facts.quantization.clone(),
        Some(format!("{} layers", outcome.manifest.layers.len())),
        Some(format_size(outcome.manifest.layers.iter().map(|l| l.size).sum())),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("{target} {} ({})", outcome.descriptor.digest, details.join(", "))
}

fn artifact_format(outcome: &PackOutcome) -> &'static str {
    if outcome.manifest.artifact_type.is_some() { "modelpack" } else { "docker" }
}
