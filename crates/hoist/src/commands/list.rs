use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use hoist_model::{StoredModel, format_size};
use hoist_oci::{Digest, Reference};
use hoist_store::{Store, Tagged};
use serde_json::json;

use super::remote::block_on;
use crate::cli::ListArgs;
use crate::output::{Table, or_dash, time_ago};

pub fn run(store: &Store, args: ListArgs) -> Result<ExitCode> {
    let entries = without_docker_hub_twins(store.list()?);
    // Many tags often share one manifest: read each manifest once.
    let models = block_on(async {
        let mut models: BTreeMap<Digest, StoredModel> = BTreeMap::new();
        for entry in &entries {
            if !models.contains_key(&entry.descriptor.digest) {
                models.insert(entry.descriptor.digest.clone(), StoredModel::fetch(store, &entry.descriptor).await?);
            }
        }
        anyhow::Ok(models)
    })??;
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for entry in &entries {
            if seen.insert(&entry.descriptor.digest) {
                println!("{}", entry.descriptor.digest.short());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = entries.iter().map(|entry| {
        let (name, tag) = split_reference(&entry.reference);
        (name, tag, entry, &models[&entry.descriptor.digest])
    });
    if args.json {
        let list: Vec<_> = rows
            .map(|(name, tag, entry, model)| {
                let info = &model.info;
                json!({
                    "reference": entry.reference, "name": name, "tag": tag,
                    "id": entry.descriptor.digest.to_string(),
                    "artifact": info.kind.as_ref().map(|k| k.to_string()),
                    "format": info.format, "architecture": info.architecture,
                    "parameters": info.parameters, "quantization": info.quantization,
                    "context_size": info.context_size, "created": info.created, "size": info.size,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Table::new(&["NAME", "TAG", "ID", "ARCH", "PARAMS", "QUANT", "CONTEXT", "CREATED", "SIZE"]);
    for (name, tag, entry, model) in rows {
        let info = &model.info;
        out.add_row(vec![
            name,
            tag,
            entry.descriptor.digest.short().to_string(),
            or_dash(info.architecture.as_ref()),
            or_dash(info.parameters.as_ref()),
            or_dash(info.quantization.as_ref()),
            or_dash(info.context_size),
            or_dash(info.created.as_deref().map(time_ago)),
            format_size(info.size),
        ]);
    }
    out.print();
    Ok(ExitCode::SUCCESS)
}

/// The entries without the full name of each Docker Hub model that is also
/// stored under the short name it was pulled by (`docker.io/ai/smollm2:latest`
/// beside `ai/smollm2:latest`, same digest): the list shows the name the user
/// typed. A short name that names another model keeps both lines.
fn without_docker_hub_twins(entries: Vec<Tagged>) -> Vec<Tagged> {
    let names: BTreeMap<&str, &Digest> = entries.iter().map(|e| (e.reference.as_str(), &e.descriptor.digest)).collect();
    let twin_of_short_name = |entry: &Tagged| {
        let short = entry.reference.parse::<Reference>().ok().and_then(|r| r.docker_hub_short());
        short.is_some_and(|short| names.get(short.to_string().as_str()) == Some(&&entry.descriptor.digest))
    };
    let hidden: Vec<bool> = entries.iter().map(twin_of_short_name).collect();
    entries.into_iter().zip(hidden).filter(|(_, hidden)| !hidden).map(|(entry, _)| entry).collect()
}

/// NAME and TAG columns of a stored reference.
fn split_reference(reference: &str) -> (String, String) {
    match reference.parse::<Reference>() {
        Ok(parsed) => (parsed.name(), parsed.tag().unwrap_or("<none>").to_string()),
        Err(_) => (reference.to_string(), "<none>".to_string()),
    }
}
