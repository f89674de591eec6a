//! `hoist bundle`: a runnable image and its weights in one OCI index, Cog's
//! bundle format (FORMATS.md §3), tagged in the store and optionally pushed.
//!
//! The image may be only in a registry. Pushed, the bundle then never passes
//! through the store: the image is copied registry to registry (skipped in
//! its own repository, mounted in another of the same registry, streamed to
//! another registry), then the weights and the index are pushed from the
//! store. Tagged in the store, the image is pulled first, so that the bundle
//! there is whole and unpacks, runs and pushes like any other.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use hoist_model::LayerSelection;
use hoist_model::cog::{self, BundleFormat, WeightsLock};
use hoist_oci::{CopyReport, Descriptor, Digest, Reference, Source};
use hoist_registry::Repository;
use hoist_store::{Store, StoreError};

use super::pull::pull;
use super::remote::{block_on, client, remote_reference, summary, transfer, transfer_json};
use crate::cli::TransferArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BundleFormatArg {
    /// The plain image (the weights stay out)
    Standalone,
    /// An OCI index of the image and the weights artifact
    Bundle,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The runnable image: NAME[:TAG], NAME@DIGEST or ID in the store, or
    /// REGISTRY/REPO[:TAG|@DIGEST] when the store lacks it (with --push only
    /// its manifest and config are read; without, it is pulled first)
    pub image: String,
    /// The weights.lock made by `hoist weights lock` with this store
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// The name to give the result: NAME[:TAG] or REGISTRY/REPO[:TAG]
    #[arg(short, long, value_name = "REF")]
    pub tag: String,
    /// Push the result to the registry the tag names (blobs, then manifests, then the index)
    #[arg(long)]
    pub push: bool,
    /// What to tag (and push): the index of image and weights, or the plain image
    #[arg(long, value_enum, default_value_t = BundleFormatArg::Bundle)]
    pub format: BundleFormatArg,
    /// Print what was made and pushed as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

pub fn run(store: &Store, args: BundleArgs) -> Result<ExitCode> {
    let reference: Reference = if args.push { remote_reference(None, &args.tag)? } else { args.tag.parse()? };
    if reference.digest().is_some() {
        bail!("invalid reference {:?}: a name to tag cannot hold a digest", args.tag);
    }
    let format = match args.format {
        BundleFormatArg::Standalone => BundleFormat::Standalone,
        BundleFormatArg::Bundle => BundleFormat::Bundle,
    };
    let lock = match (&args.weights, format) {
        (Some(path), BundleFormat::Bundle) => Some(WeightsLock::read(path)?),
        (None, BundleFormat::Bundle) => bail!("--weights weights.lock is needed for --format bundle"),
        (_, BundleFormat::Standalone) => None,
    };
    let image = match registry_only(store, &args.image)? {
        Some(image) if args.push => {
            let made = push_remote(store, &args, &image, &reference, format, lock.as_ref())?;
            made.print(args.json);
            return Ok(ExitCode::SUCCESS);
        }
        Some(_) => {
            eprintln!("{} is not in the store; pulling it", args.image);
            let pulled = pull(store, &args.image, None, &LayerSelection::default(), 4, &args.transfer)?;
            eprintln!("Pulled {} {}: {}", pulled.name, pulled.root.digest, summary(&pulled.report));
            pulled.name
        }
        None => args.image.clone(),
    };
    let outcome = cog::bundle(store, &image, lock.as_ref(), &reference, format)?;
    let mut made = Made {
        reference: &reference,
        index: outcome.index.as_ref().map(|index| (index.image.digest.clone(), index.weights.digest.clone())),
        descriptor: outcome.descriptor,
        files: lock.as_ref().map_or(0, |l| l.files.len()),
        replaced: None,
        pushed: None,
        image_pushed: None,
    };
    made.replaced = outcome.replaced.map(|old| old.digest).filter(|old| *old != made.descriptor.digest);
    if args.push {
        let client = client(&args.transfer.connect, None)?;
        let repository = Repository::from_reference(&client, &reference)?;
        let tag = reference.tag().map(str::to_string);
        let started = Instant::now();
        let report = block_on(transfer(store, &repository, &made.descriptor, tag.as_deref(), &args.transfer, None))??;
        made.pushed = Some((report, started.elapsed()));
    }
    made.print(args.json);
    Ok(ExitCode::SUCCESS)
}

/// What a bundle run made and moved, printed once at the end.
struct Made<'a> {
    reference: &'a Reference,
    /// What the reference names: the index, or the image for a standalone.
    descriptor: Descriptor,
    /// The index's image and weights manifests (bundle only).
    index: Option<(Digest, Digest)>,
    files: usize,
    /// What the reference named before, when that was something else.
    replaced: Option<Digest>,
    /// The push of `descriptor`, and of the image when it went registry to registry.
    pushed: Option<(CopyReport, Duration)>,
    image_pushed: Option<(CopyReport, Duration)>,
}

impl Made<'_> {
    /// "REF DIGEST (bundle: image X, weights Y, N files)" or "(standalone
    /// image)", then what moved; with `json`, one object (README: bundle --json).
    fn print(&self, json: bool) {
        let reference = self.reference;
        let digest = &self.descriptor.digest;
        if json {
            let transfer = |pushed: &Option<(CopyReport, Duration)>| {
                pushed.as_ref().map(|(report, took)| transfer_json(report, *took))
            };
            let object = serde_json::json!({
                "reference": reference.to_string(),
                "digest": digest.to_string(),
                "media_type": self.descriptor.media_type,
                "format": if self.index.is_some() { "bundle" } else { "standalone" },
                "image": self.index.as_ref().map(|(image, _)| image.to_string()),
                "weights": self.index.as_ref().map(|(_, weights)| weights.to_string()),
                "files": self.files,
                "replaced": self.replaced.as_ref().map(Digest::to_string),
                "pushed": transfer(&self.pushed),
                "image_pushed": transfer(&self.image_pushed),
            });
            println!("{object:#}");
            return;
        }
        match &self.index {
            Some((image, weights)) => println!(
                "{reference} {digest} (bundle: image {}, weights {}, {} files)",
                image.short(),
                weights.short(),
                self.files
            ),
            None => println!("{reference} {digest} (standalone image)"),
        }
        if let Some(old) = &self.replaced {
            println!("{reference} moved from {}", old.short());
        }
        match (&self.pushed, &self.image_pushed, &self.index) {
            (Some((report, _)), Some((image_report, _)), Some((image, _))) => println!(
                "Pushed {reference} {digest}: {}; image {}: {}",
                summary(report),
                image.short(),
                summary(image_report)
            ),
            (Some((report, _)), _, _) => println!("Pushed {reference} {digest}: {}", summary(report)),
            _ => {}
        }
    }
}

/// The image's reference when the store lacks it and it names a registry.
fn registry_only(store: &Store, image: &str) -> Result<Option<Reference>> {
    match store.resolve(image) {
        Ok(_) => Ok(None),
        Err(StoreError::NotFound { .. }) if image.parse::<Reference>().is_ok_and(|r| r.registry().is_some()) => {
            Ok(Some(image.parse()?))
        }
        Err(error) => Err(error.into()),
    }
}

/// Pushes the bundle of an image that is only in a registry: the image
/// first, registry to registry, so the index never names a manifest the
/// destination lacks; then the weights and the index, from the store, where
/// they stay untagged (the store does not hold the image).
fn push_remote<'a>(
    store: &Store,
    args: &BundleArgs,
    image: &Reference,
    reference: &'a Reference,
    format: BundleFormat,
    lock: Option<&WeightsLock>,
) -> Result<Made<'a>> {
    let client = client(&args.transfer.connect, None)?;
    let source = Repository::from_reference(&client, image)?;
    let destination = Repository::from_reference(&client, reference)?;
    let tag = reference.tag();
    let wanted = image.tag().map(str::to_string).or_else(|| image.digest().map(|d| d.to_string()));
    let root = block_on(source.resolve(wanted.as_deref().unwrap_or("latest")))??;
    let started = Instant::now();
    let (BundleFormat::Bundle, Some(lock)) = (format, lock) else {
        // Standalone: the plain image, copied as `hoist copy` would.
        let report = block_on(transfer(&source, &destination, &root, tag, &args.transfer, None))??;
        let pushed = Some((report, started.elapsed()));
        return Ok(Made {
            reference,
            descriptor: root,
            index: None,
            files: 0,
            replaced: None,
            pushed,
            image_pushed: None,
        });
    };
    let entry = block_on(cog::image_entry(&source, &root, &args.image))??;
    let made = cog::store_index(store, &entry, lock)?;
    let (image_pushed, pushed) = block_on(async {
        let image_report = transfer(&source, &destination, &root, None, &args.transfer, None).await?;
        let image_pushed = (image_report, started.elapsed());
        let started = Instant::now();
        let report = transfer(store, &destination, &made.descriptor, tag, &args.transfer, None).await?;
        anyhow::Ok((image_pushed, (report, started.elapsed())))
    })??;
    Ok(Made {
        reference,
        index: Some((made.image.digest.clone(), made.weights.digest.clone())),
        descriptor: made.descriptor,
        files: lock.files.len(),
        replaced: None,
        pushed: Some(pushed),
        image_pushed: Some(image_pushed),
    })
}
