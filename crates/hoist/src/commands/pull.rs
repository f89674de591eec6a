use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Result, bail};
use hoist_model::{LayerSelection, PlatformSpec, annotated_path};
use hoist_oci::{CopyReport, Descriptor, Destination, Edge, Reference, Source, successors};
use hoist_registry::Repository;
use hoist_store::{ANNOTATION_PARTIAL, Store, StoreDestination, StoreError};

use super::remote::{block_on, client, print_transfer, remote_reference, select_platform, summary, transfer};
use crate::cli::{PullArgs, TransferArgs};

pub fn run(store: &Store, args: PullArgs) -> Result<ExitCode> {
    let selection = LayerSelection::new(args.include, args.exclude);
    let started = Instant::now();
    let pulled = pull(store, &args.reference, args.platform.as_ref(), &selection, args.parts, &args.transfer)?;
    let json = args.json;
    print_transfer("Pulled", &pulled.name, &pulled.root, &pulled.report, started.elapsed(), json);
    let left_out = pulled.report.layers_filtered.load(Ordering::Relaxed);
    if left_out > 0 && !json {
        println!("Partial: {left_out} layers not pulled ({selection}); `hoist pull {}` fetches them", pulled.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// A model fetched into the store.
/// The model in the store, else pulled first: any name when `bare_names` (one
/// without a registry is Docker Hub's, as `docker model run` reads it), else
/// only a name that says its registry. With the name it was pulled under, if it was.
pub fn find_or_pull(
    store: &Store,
    reference: &str,
    bare_names: bool,
    transfer: &TransferArgs,
) -> Result<(Descriptor, Option<String>)> {
    match store.resolve(reference) {
        Ok(resolved) => Ok((resolved.descriptor, None)),
        Err(StoreError::NotFound { .. })
            if reference.parse::<Reference>().is_ok_and(|r| bare_names || r.registry().is_some()) =>
        {
            eprintln!("{reference} is not in the store; pulling it");
            let pulled = pull(store, reference, None, &LayerSelection::default(), 4, transfer)?;
            eprintln!("Pulled {} {}: {}", pulled.name, pulled.root.digest, summary(&pulled.report));
            Ok((store.resolve(&pulled.name)?.descriptor, Some(pulled.name)))
        }
        Err(error) => Err(error.into()),
    }
}

pub struct Pulled {
    /// The name the store gives it: the full reference (a Docker Hub model
    /// pulled by its short name has that name too).
    pub name: String,
    pub root: Descriptor,
    pub report: CopyReport,
}

/// Fetches `reference` (from an index, the manifest for `platform` if given;
/// only the layers `selection` selects) into the store and tags it with its
/// full reference: what `pull` and `run` of a model not yet in the store share.
pub fn pull(
    store: &Store,
    reference: &str,
    platform: Option<&PlatformSpec>,
    selection: &LayerSelection,
    parts: usize,
    transfer_args: &TransferArgs,
) -> Result<Pulled> {
    let typed: Reference = reference.parse()?;
    let reference = remote_reference(Some(store), reference)?;
    let client = client(&transfer_args.connect, None)?;
    let repository = Repository::from_reference(&client, &reference)?;
    let wanted = reference.tag().map(str::to_string).or_else(|| reference.digest().map(|d| d.to_string()));
    let root = block_on(async {
        let root = repository.resolve(wanted.as_deref().unwrap_or("latest")).await?;
        let root = select_platform(&repository, root, platform).await?;
        if !selection.is_everything() {
            check_selection(&repository, &root, selection).await?;
        }
        anyhow::Ok(root)
    })??;
    let destination = StoreDestination::new(store)?.with_range_concurrency(parts);
    // The store names the model by its full reference; tagging after the copy
    // lets the entry record whether layers were left out.
    let name = reference.to_string();
    let filter = (!selection.is_everything()).then(|| selection.filter());
    let report = block_on(transfer(&repository, &destination, &root, None, transfer_args, filter))??;
    let mut entry = root.clone();
    if report.layers_filtered.load(Ordering::Relaxed) > 0 {
        entry.annotations.insert(ANNOTATION_PARTIAL.to_string(), selection.to_string());
    }
    block_on(destination.tag(&entry, &name))??;
    // A Docker Hub model pulled by its short name is also stored under that
    // name, so that `hoist run ai/smollm2` finds what `hoist pull ai/smollm2`
    // fetched (remote_reference refused a short name that names another model).
    if typed.registry().is_none() && typed.digest().is_none() {
        block_on(destination.tag(&entry, &typed.to_string()))??;
    }
    Ok(Pulled { name, root, report })
}

/// Fails, before anything is stored, when the selection matches no layer of
/// the model, naming the layers there are.
async fn check_selection(source: &dyn Source, root: &Descriptor, selection: &LayerSelection) -> Result<()> {
    let mut nodes = vec![root.clone()];
    let mut paths = Vec::new();
    while let Some(node) = nodes.pop() {
        let bytes = source.fetch_all(&node).await?;
        for child in successors(&bytes)? {
            match child.edge {
                Edge::Manifest => nodes.push(child.descriptor),
                Edge::Layer if selection.selects(&child.descriptor) => return Ok(()),
                Edge::Layer => paths.push(
                    annotated_path(&child.descriptor)
                        .map_or_else(|| child.descriptor.media_type.clone(), str::to_string),
                ),
                Edge::Config | Edge::Blob | Edge::Subject => {}
            }
        }
    }
    bail!("{selection} selects none of the layers of {}: {}", root.digest, paths.join(", "))
}
