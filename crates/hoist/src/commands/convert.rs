//! `hoist convert HF_DIR OUT.gguf`: a Hugging Face safetensors model to GGUF, in process;
//! `--class lora --base BASE_DIR`: a PEFT LoRA adapter to a GGUF adapter.

use std::process::ExitCode;

use anyhow::Result;
use hoist_convert::{Options, convert, convert_lora};
use hoist_model::format_size;

use crate::cli::{ConvertArgs, ConvertClass};
use crate::progress::Drawer;

pub fn run(args: ConvertArgs) -> Result<ExitCode> {
    let options = Options { out_type: args.out_type, threads: args.threads };
    let progress = Drawer::new(args.progress, 0);
    let result = match (args.class, &args.base) {
        (ConvertClass::Lora, Some(base)) => convert_lora(&args.model_dir, base, &args.output, &options, &progress),
        (ConvertClass::Lora, None) => anyhow::bail!("--class lora needs --base BASE_DIR"),
        (ConvertClass::Model, None) => convert(&args.model_dir, &args.output, &options, &progress),
        (ConvertClass::Model, Some(_)) => anyhow::bail!("--base is for --class lora (an adapter's base model)"),
    };
    progress.finish();
    let summary = result?;
    if args.json {
        let mut out = serde_json::to_value(&summary)?;
        if let Some(map) = out.as_object_mut() {
            map.insert("output".into(), args.output.display().to_string().into());
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} ({}, {} tensors, {} parameters, {})",
            args.output.display(),
            summary.architecture,
            summary.file_type,
            summary.tensors,
            summary.parameters,
            format_size(summary.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}
