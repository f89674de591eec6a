use std::process::ExitCode;

use anyhow::Result;
use hoist_oci::{CopyReport, Descriptor, Source};
use hoist_registry::Repository;
use hoist_store::{Store, StoreDestination};

use super::remote::{block_on, client, registry_reference, select_platform, summary, transfer};
use crate::cli::{PullArgs, TransferArgs};

pub fn run(store: &Store, args: PullArgs) -> Result<ExitCode> {
    let pulled = pull(store, &args.reference, args.platform.as_deref(), args.parts, &args.transfer)?;
    println!("Pulled {} {}: {}", pulled.name, pulled.root.digest, summary(&pulled.report));
    Ok(ExitCode::SUCCESS)
}

/// A model fetched into the store.
pub struct Pulled {
    /// The name the store gives it: the full reference.
    pub name: String,
    pub root: Descriptor,
    pub report: CopyReport,
}

/// Fetches `reference` (from an index, the manifest for `platform` if given)
/// into the store and tags it with its full reference: what `pull` and `run` of
/// a model not yet in the store share.
pub fn pull(
    store: &Store,
    reference: &str,
    platform: Option<&str>,
    parts: usize,
    transfer_args: &TransferArgs,
) -> Result<Pulled> {
    let reference = registry_reference(reference)?;
    let client = client(&transfer_args.connect, None)?;
    let repository = Repository::from_reference(&client, &reference)?;
    let wanted = reference.tag().map(str::to_string).or_else(|| reference.digest().map(|d| d.to_string()));
    let root = block_on(async {
        let root = repository.resolve(wanted.as_deref().unwrap_or("latest")).await?;
        select_platform(&repository, root, platform).await
    })??;
    let destination = StoreDestination::new(store)?.with_range_concurrency(parts);
    // The store names the model by its full reference.
    let name = reference.to_string();
    let report = block_on(transfer(&repository, &destination, &root, Some(&name), transfer_args))??;
    Ok(Pulled { name, root, report })
}
