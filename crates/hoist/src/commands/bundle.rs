//! `hoist bundle`: a runnable image and its weights in one OCI index, Cog's
//! bundle format (FORMATS.md §3), tagged in the store and optionally pushed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use hoist_model::cog::{self, BundleFormat, WeightsLock};
use hoist_oci::Reference;
use hoist_registry::Repository;
use hoist_store::Store;

use super::remote::{block_on, client, registry_reference, summary, transfer};
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
    /// The runnable image in the store: NAME[:TAG], NAME@DIGEST or ID
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
    let reference: Reference = if args.push { registry_reference(&args.tag)? } else { args.tag.parse()? };
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
    let outcome = cog::bundle(store, &args.image, lock.as_ref(), &reference, format)?;
    match &outcome.weights {
        Some(weights) => println!(
            "{reference} {} (bundle: image {}, weights {}, {} files)",
            outcome.descriptor.digest,
            outcome.image.digest.short(),
            weights.digest.short(),
            lock.as_ref().map_or(0, |l| l.files.len()),
        ),
        None => println!("{reference} {} (standalone image)", outcome.descriptor.digest),
    }
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
