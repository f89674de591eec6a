use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use hoist_oci::Source;
use hoist_registry::Repository;
use hoist_store::{ANNOTATION_PARTIAL, Store};

use super::remote::{block_on, client, print_transfer, remote_reference, transfer};
use crate::cli::PushArgs;

pub fn run(store: &Store, args: PushArgs) -> Result<ExitCode> {
    // A target is always a registry's; without one, the source's own name is.
    let target = match &args.target {
        Some(target) => remote_reference(None, target)?,
        None => remote_reference(Some(store), &args.source)?,
    };
    let client = client(&args.transfer.connect, None)?;
    let repository = Repository::from_reference(&client, &target)?;
    let root = block_on(Source::resolve(store, &args.source))??;
    let missing = store.missing_blobs(&root);
    if !missing.is_empty() {
        let entry = store.resolve(&args.source)?.descriptor;
        let why = match entry.annotation(ANNOTATION_PARTIAL) {
            Some(filter) => format!("it was pulled with {filter}; `hoist pull` it without filters first"),
            None => "`hoist verify` checks the store".to_string(),
        };
        bail!("{} lacks {} blobs ({}, ...): {why}", args.source, missing.len(), missing[0]);
    }
    let tag = target.tag().map(str::to_string);
    let started = Instant::now();
    let report = block_on(transfer(store, &repository, &root, tag.as_deref(), &args.transfer, None))??;
    print_transfer("Pushed", &target.to_string(), &root, &report, started.elapsed(), args.json);
    Ok(ExitCode::SUCCESS)
}
