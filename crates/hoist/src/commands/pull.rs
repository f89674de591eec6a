use std::process::ExitCode;

use anyhow::Result;
use hoist_oci::Source;
use hoist_registry::Repository;
use hoist_store::{Store, StoreDestination};

use super::remote::{block_on, client, registry_reference, select_platform, summary, transfer};
use crate::cli::PullArgs;

pub fn run(store: &Store, args: PullArgs) -> Result<ExitCode> {
    let reference = registry_reference(&args.reference)?;
    let client = client(&args.transfer.connect, None)?;
    let repository = Repository::from_reference(&client, &reference)?;
    let wanted = reference.tag().map(str::to_string).or_else(|| reference.digest().map(|d| d.to_string()));
    let root = block_on(async {
        let root = repository.resolve(wanted.as_deref().unwrap_or("latest")).await?;
        select_platform(&repository, root, args.platform.as_deref()).await
    })??;
    let destination = StoreDestination::new(store)?.with_range_concurrency(args.parts);
    // The store names the model by its full reference.
    let name = reference.to_string();
    let report = block_on(transfer(&repository, &destination, &root, Some(&name), &args.transfer))??;
    println!("Pulled {name} {}: {}", root.digest, summary(&report));
    Ok(ExitCode::SUCCESS)
}
