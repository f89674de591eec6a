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

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use hoist_model::LayerSelection;
use hoist_model::cog::{self, BundleFormat, BundleIndex, WeightsLock};
use hoist_oci::{Descriptor, Reference, Source};
use hoist_registry::Repository;
use hoist_store::{Store, StoreError};

use super::pull::pull;
use super::remote::{block_on, client, remote_reference, summary, transfer};
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
        Some(image) if args.push => return push_remote(store, &args, &image, &reference, format, lock.as_ref()),
        Some(_) => {
            eprintln!("{} is not in the store; pulling it", args.image);
            let pulled = pull(store, &args.image, None, &LayerSelection::default(), 4, &args.transfer)?;
            eprintln!("Pulled {} {}: {}", pulled.name, pulled.root.digest, summary(&pulled.report));
            pulled.name
        }
        None => args.image.clone(),
    };
    let outcome = cog::bundle(store, &image, lock.as_ref(), &reference, format)?;
    print_made(&reference, &outcome.descriptor, outcome.index.as_ref(), lock.as_ref().map_or(0, |l| l.files.len()));
    if let Some(old) = outcome.replaced.filter(|old| old.digest != outcome.descriptor.digest) {
        println!("{reference} moved from {}", old.digest.short());
    }
    if args.push {
        let client = client(&args.transfer.connect, None)?;
        let repository = Repository::from_reference(&client, &reference)?;
        let tag = reference.tag().map(str::to_string);
        let report =
            block_on(transfer(store, &repository, &outcome.descriptor, tag.as_deref(), &args.transfer, None))??;
        println!("Pushed {reference} {}: {}", outcome.descriptor.digest, summary(&report));
    }
    Ok(ExitCode::SUCCESS)
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
fn push_remote(
    store: &Store,
    args: &BundleArgs,
    image: &Reference,
    reference: &Reference,
    format: BundleFormat,
    lock: Option<&WeightsLock>,
) -> Result<ExitCode> {
    let client = client(&args.transfer.connect, None)?;
    let source = Repository::from_reference(&client, image)?;
    let destination = Repository::from_reference(&client, reference)?;
    let tag = reference.tag();
    let wanted = image.tag().map(str::to_string).or_else(|| image.digest().map(|d| d.to_string()));
    let root = block_on(source.resolve(wanted.as_deref().unwrap_or("latest")))??;
    let (BundleFormat::Bundle, Some(lock)) = (format, lock) else {
        // Standalone: the plain image, copied as `hoist copy` would.
        let report = block_on(transfer(&source, &destination, &root, tag, &args.transfer, None))??;
        println!("{reference} {} (standalone image)", root.digest);
        println!("Pushed {reference} {}: {}", root.digest, summary(&report));
        return Ok(ExitCode::SUCCESS);
    };
    let entry = block_on(cog::image_entry(&source, &root, &args.image))??;
    let made = cog::store_index(store, &entry, lock)?;
    let (image_report, report) = block_on(async {
        let image_report = transfer(&source, &destination, &root, None, &args.transfer, None).await?;
        let report = transfer(store, &destination, &made.descriptor, tag, &args.transfer, None).await?;
        anyhow::Ok((image_report, report))
    })??;
    print_made(reference, &made.descriptor, Some(&made), lock.files.len());
    println!(
        "Pushed {reference} {}: {}; image {}: {}",
        made.descriptor.digest,
        summary(&report),
        root.digest.short(),
        summary(&image_report)
    );
    Ok(ExitCode::SUCCESS)
}

/// "REF DIGEST (bundle: image X, weights Y, N files)" or "(standalone image)".
fn print_made(reference: &Reference, descriptor: &Descriptor, index: Option<&BundleIndex>, files: usize) {
    match index {
        Some(index) => println!(
            "{reference} {} (bundle: image {}, weights {}, {files} files)",
            descriptor.digest,
            index.image.digest.short(),
            index.weights.digest.short(),
        ),
        None => println!("{reference} {} (standalone image)", descriptor.digest),
    }
}
