use std::process::ExitCode;

use anyhow::{Result, bail};
use hoist_model::format_size;
use hoist_oci::Reference;
use hoist_store::Store;

use crate::cli::RmArgs;

pub fn run(store: &Store, args: RmArgs) -> Result<ExitCode> {
    // Resolve everything first, so a typo in the third name removes nothing.
    let mut to_untag: Vec<Reference> = Vec::new();
    for query in &args.references {
        let resolved = store.resolve(query)?;
        let by_name = resolved.references.iter().find(|r| names_same(r, query));
        match by_name {
            Some(reference) => {
                let reference: Reference = reference.parse()?;
                // A Docker Hub model pulled by its short name goes with its full name.
                let hub = reference.or_docker_hub().to_string();
                if reference.registry().is_none() && resolved.references.contains(&hub) {
                    to_untag.push(hub.parse()?);
                }
                to_untag.push(reference);
            }
            None if resolved.references.len() > 1 && !args.force => bail!(
                "{query} names a model with {} names ({}): remove them one by one, or use -f to remove all",
                resolved.references.len(),
                resolved.references.join(", ")
            ),
            None => {
                for reference in &resolved.references {
                    to_untag.push(reference.parse()?);
                }
            }
        }
    }
    let mut untagged = Vec::new();
    for reference in &to_untag {
        let descriptor = store.untag(reference)?;
        if !args.json {
            println!("Untagged: {reference}");
        }
        untagged.push(serde_json::json!({"reference": reference.to_string(), "digest": descriptor.digest.to_string()}));
    }
    let pruned = store.try_prune()?;
    if args.json {
        let object = serde_json::json!({
            "untagged": untagged,
            "pruned": pruned.is_some(),
            "blobs_removed": pruned.as_ref().map_or(0, |r| r.blobs_removed),
            "bytes_freed": pruned.as_ref().map_or(0, |r| r.bytes_freed),
        });
        println!("{object:#}");
        return Ok(ExitCode::SUCCESS);
    }
    match pruned {
        Some(report) if report.blobs_removed > 0 => {
            println!("Deleted {} blobs, {} freed", report.blobs_removed, format_size(report.bytes_freed));
        }
        Some(_) => {}
        None => println!("Blobs kept: another hoist process is writing to the store; run `hoist prune` later"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a stored reference is what the user typed (as a name, not an ID).
fn names_same(stored: &str, query: &str) -> bool {
    query.parse::<Reference>().is_ok_and(|q| q.digest().is_none() && q.to_string() == stored)
}
