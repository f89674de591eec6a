//! `hoist convert HF_DIR OUT.gguf`: a Hugging Face safetensors model to GGUF, in process;
//! `--class lora --base BASE_DIR`: a PEFT LoRA adapter to a GGUF adapter;
//! `hoist convert MODEL -t REF`: the same from a safetensors model in the store to a GGUF one.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hoist_convert::{Options, Summary, convert, convert_lora};
use hoist_model::{Carry, format_size};
use hoist_store::Store;

use super::store_form::{StoreForm, json_fields, text_line};
use crate::cli::{ConvertArgs, ConvertClass};
use crate::progress::Drawer;

pub fn run(store: &Store, args: ConvertArgs) -> Result<ExitCode> {
    if args.store_form.tag.is_some() {
        return run_store_form(store, args);
    }
    let output = args.output.clone().context("OUT.gguf is missing")?;
    let options = Options { out_type: args.out_type, threads: args.threads };
    let progress = Drawer::new(args.progress, 0);
    let result = match (args.class, &args.base) {
        (ConvertClass::Lora, Some(base)) => convert_lora(&args.model_dir, base, &output, &options, &progress),
        (ConvertClass::Lora, None) => bail!("--class lora needs --base BASE_DIR"),
        (ConvertClass::Model, None) => convert(&args.model_dir, &output, &options, &progress),
        (ConvertClass::Model, Some(_)) => bail!("--base is for --class lora (an adapter's base model)"),
    };
    progress.finish();
    let summary = result?;
    if args.json {
        let mut out = serde_json::to_value(&summary)?;
        if let Some(map) = out.as_object_mut() {
            map.insert("output".into(), output.display().to_string().into());
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}: {}", output.display(), describe(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// `MODEL -t REF`: the model's safetensors directory, read where unpack put it
/// (hardlinks to the store's blobs), converted and packed with its license and
/// chat template.
fn run_store_form(store: &Store, args: ConvertArgs) -> Result<ExitCode> {
    if let Some(extra) = &args.output {
        bail!("with -t the only argument is MODEL, and {:?} is one too many", extra.display().to_string());
    }
    if args.class == ConvertClass::Lora {
        bail!("--class lora converts an adapter directory to a file; -t packs models only");
    }
    let (json, progress) = (args.json, args.progress);
    let options = Options { out_type: args.out_type, threads: args.threads };
    let form = StoreForm::open(store, &args.model_dir, args.store_form, progress)?;
    form.require_weights("safetensors", "convert takes safetensors weights (quantize works on GGUF models)")?;
    let dir = form.source.runtime_dir().safetensors_dir.clone().context("no safetensors directory")?;
    let name = form.target.repository().rsplit('/').next().unwrap_or("model").to_string();
    let converted = form.source.output_dir()?.join(format!("{name}.gguf"));
    let drawer = Drawer::new(progress, 0);
    let result = convert(&dir, &converted, &options, &drawer);
    drawer.finish();
    let summary = result.map_err(|e| form.engine_error("converting", e))?;
    // Named by its type, as a quantized model is.
    let output = converted.with_file_name(format!("{name}-{}.gguf", summary.file_type));
    std::fs::rename(&converted, &output).with_context(|| format!("renaming {}", converted.display()))?;
    let (model, target) = (form.model.clone(), form.target.clone());
    let outcome = form.pack(&[output], Carry::LicenseAndTemplate, progress)?;
    if json {
        let mut fields = json_fields(&model, &target, &outcome);
        if let serde_json::Value::Object(converted) = serde_json::to_value(&summary)? {
            fields.extend(converted);
        }
        println!("{}", serde_json::to_string_pretty(&fields)?);
    } else {
        println!("{model} -> {target}: {}", describe(&summary));
        println!("{}", text_line(&target, &outcome));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(summary: &Summary) -> String {
    format!(
        "{} ({}, {} tensors, {} parameters, {})",
        summary.architecture,
        summary.file_type,
        summary.tensors,
        summary.parameters,
        format_size(summary.bytes)
    )
}
