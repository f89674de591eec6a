use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use hoist_oci::{Destination, Source};
use hoist_store::Store;

use super::remote::{Endpoint, block_on, client, layout_destination, print_transfer, select_platform, transfer};
use crate::cli::CopyArgs;

pub fn run(args: CopyArgs) -> Result<ExitCode> {
    let client = client(&args.transfer.connect, None)?;
    let source = Endpoint::parse(&args.source, &client)?;
    let target = Endpoint::parse(&args.target, &client)?;
    let Some(wanted) = source.reference_text() else {
        bail!("{}: name the image to copy, as in oci:DIR:TAG", args.source);
    };
    let tag = target.reference_text().or_else(|| Some(wanted.clone()).filter(|w| !w.starts_with("sha256:")));
    let layout_store;
    let source: &dyn Source = match &source {
        Endpoint::Registry(repository, _) => repository.as_ref(),
        Endpoint::Layout { path, .. } => {
            layout_store = Store::new(path);
            &layout_store
        }
    };
    let layout_destination_holder;
    let destination: &dyn Destination = match &target {
        Endpoint::Registry(repository, _) => repository.as_ref(),
        Endpoint::Layout { path, .. } => {
            layout_destination_holder = layout_destination(path)?;
            &layout_destination_holder
        }
    };
    let root = block_on(async {
        let root = source.resolve(&wanted).await?;
        select_platform(source, root, args.platform.as_ref()).await
    })??;
    let started = Instant::now();
    let report = block_on(transfer(source, destination, &root, tag.as_deref(), &args.transfer, None))??;
    let name = format!("{} to {}", args.source, args.target);
    print_transfer("Copied", &name, &root, &report, started.elapsed(), args.json);
    Ok(ExitCode::SUCCESS)
}
