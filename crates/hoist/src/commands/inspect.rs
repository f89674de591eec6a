use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use hoist_model::{StoredModel, format_size};
use hoist_oci::Source;
use hoist_registry::Repository;
use hoist_store::Store;
use serde_json::{Value, json};

use super::gguf::model_headers;
use super::remote::{block_on, client, remote_reference};
use crate::cli::InspectArgs;
use crate::output::Table;

pub fn run(store: &Store, args: InspectArgs) -> Result<ExitCode> {
    if args.gguf {
        let model = model_headers(store, &args.reference, args.remote, &args.connect)?;
        for (name, header) in &model.files {
            println!("== {name}");
            println!("{}", header.report()?);
        }
        if let Some(line) = model.remote_cost_line() {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (names, model) = if args.remote {
        let reference = remote_reference(Some(store), &args.reference)?;
        let client = client(&args.connect, None)?;
        let repository = Repository::from_reference(&client, &reference)?;
        let wanted = reference.tag().map(str::to_string).or_else(|| reference.digest().map(|d| d.to_string()));
        let model = block_on(async {
            let root = repository.resolve(wanted.as_deref().unwrap_or("latest")).await?;
            anyhow::Ok(StoredModel::fetch(&repository, &root).await?)
        })??;
        (vec![reference.to_string()], model)
    } else {
        let resolved = store.resolve(&args.reference)?;
        let model = block_on(StoredModel::fetch(store, &resolved.descriptor))??;
        (resolved.references, model)
    };
    if args.raw {
        std::io::stdout().write_all(&model.manifest_bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        let manifest: Value = serde_json::from_slice(&model.manifest_bytes)?;
        let config: Value = serde_json::from_slice(&model.config_bytes).unwrap_or(Value::Null);
        let out = json!({
            "references": names,
            "descriptor": model.descriptor,
            "manifest": manifest,
            "config": config,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_summary(&names, &model);
    Ok(ExitCode::SUCCESS)
}

fn print_summary(names: &[String], model: &StoredModel) {
    let info = &model.info;
    let fields = [
        ("Names", Some(names.join(", "))),
        ("ID", Some(model.descriptor.digest.to_string())),
        ("Artifact", info.kind.as_ref().map(|k| k.to_string())),
        ("Format", info.format.clone()),
        ("Architecture", info.architecture.clone()),
        ("Family", info.family.clone()),
        ("Parameters", info.parameters.clone()),
        ("Quantization", info.quantization.clone()),
        ("Precision", info.precision.clone()),
        ("Context size", info.context_size.map(|c| c.to_string())),
        ("Created", info.created.clone()),
        ("Size", Some(format_size(info.size))),
    ];
    for (label, value) in fields {
        if let Some(value) = value {
            println!("{:<14}{value}", format!("{label}:"));
        }
    }
    if !info.layers.is_empty() {
        println!("Layers:");
        let mut layers = Table::new(&["  MEDIA TYPE", "DIGEST", "SIZE", "PATH"]);
        for layer in &info.layers {
            layers.add_row(vec![
                format!("  {}", layer.media_type),
                layer.digest.short().to_string(),
                format_size(layer.size),
                layer.path.clone().unwrap_or_default(),
            ]);
        }
        layers.print();
    }
}
