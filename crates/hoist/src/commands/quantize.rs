//! `hoist quantize IN.gguf OUT.gguf TYPE`: llama-quantize, in process (hoist-quant).

use std::process::ExitCode;

use anyhow::{Context, Result};
use hoist_gguf::format_bytes;
use hoist_quant::rules::{RuleOptions, TensorTypeOverride};
use hoist_quant::{FileType, QuantizeOptions, QuantizeSummary, quantize_file};

use crate::cli::QuantizeArgs;
use crate::progress::Drawer;

pub fn run(args: QuantizeArgs) -> Result<ExitCode> {
    let opts = options(&args)?;
    let drawer = Drawer::new(args.progress, 0);
    let result = quantize_file(&args.input, &args.output, &opts, &drawer);
    drawer.finish();
    let summary = result.with_context(|| format!("quantizing {}", args.input.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&args, opts.rules.ftype, &summary))?);
    } else {
        print_summary(&args, opts.rules.ftype, &summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn options(args: &QuantizeArgs) -> Result<QuantizeOptions> {
    let mut rules = RuleOptions::new(FileType::parse(&args.ftype)?);
    rules.pure = args.pure;
    rules.leave_output_tensor = args.leave_output_tensor;
    rules.output_tensor_type =
        args.output_tensor_type.as_deref().map(|t| RuleOptions::ggml_type("--output-tensor-type", t)).transpose()?;
    rules.token_embedding_type = args
        .token_embedding_type
        .as_deref()
        .map(|t| RuleOptions::ggml_type("--token-embedding-type", t))
        .transpose()?;
    rules.tensor_types = args.tensor_type.iter().map(|t| TensorTypeOverride::parse(t)).collect::<Result<_, _>>()?;
    let mut opts = QuantizeOptions::new(rules);
    opts.allow_requantize = args.allow_requantize;
    opts.threads = args.threads;
    opts.keep_split = args.keep_split;
    if let Some(path) = &args.imatrix {
        opts.use_imatrix(path, &path.display().to_string(), &args.include_weights, &args.exclude_weights)?;
    }
    Ok(opts)
}

fn json(args: &QuantizeArgs, ftype: FileType, s: &QuantizeSummary) -> serde_json::Value {
    serde_json::json!({
        "input": args.input,
        "output": args.output,
        "outputs": s.outputs,
        "type": ftype.name(),
        "input_bytes": s.input_bytes,
        "output_bytes": s.output_bytes,
        "tensors": s.tensors,
        "converted": s.converted,
        "fallbacks": s.fallbacks,
        "types": s.types,
        "seconds": s.seconds,
    })
}

/// The output as given, or the shards written for it.
fn outputs(given: &std::path::Path, written: &[std::path::PathBuf]) -> String {
    match written {
        [one] if one == given => given.display().to_string(),
        _ => written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
    }
}

fn print_summary(args: &QuantizeArgs, ftype: FileType, s: &QuantizeSummary) {
    let types: Vec<String> = s.types.iter().map(|(t, n)| format!("{n} {t}")).collect();
    println!(
        "{} -> {} ({}): {} -> {} in {:.2} s; {} tensors ({}), {} converted{}",
        args.input.display(),
        outputs(&args.output, &s.outputs),
        ftype.name(),
        format_bytes(s.input_bytes),
        format_bytes(s.output_bytes),
        s.seconds,
        s.tensors,
        types.join(", "),
        s.converted,
        if s.fallbacks > 0 { format!(", {} fell back to another type", s.fallbacks) } else { String::new() },
    );
}
