use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use hoist_model::{StoredModel, format_size};
use hoist_store::Store;
use serde_json::{Value, json};

use crate::cli::InspectArgs;
use crate::output::Table;

pub fn run(store: &Store, args: InspectArgs) -> Result<ExitCode> {
    let resolved = store.resolve(&args.reference)?;
    let model = StoredModel::load(store, &resolved.descriptor)?;
    if args.raw {
        std::io::stdout().write_all(&model.manifest_bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        let manifest: Value = serde_json::from_slice(&model.manifest_bytes)?;
        let config: Value = serde_json::from_slice(&model.config_bytes).unwrap_or(Value::Null);
        let out = json!({
            "references": resolved.references,
            "descriptor": resolved.descriptor,
            "manifest": manifest,
            "config": config,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let info = &model.info;
    let fields = [
        ("Names", Some(resolved.references.join(", "))),
        ("ID", Some(resolved.descriptor.digest.to_string())),
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
    Ok(ExitCode::SUCCESS)
}
