//! `hoist quantize IN.gguf OUT.gguf TYPE`: llama-quantize, in process (hoist-quant);
//! `hoist quantize MODEL TYPE -t REF`: the same from a model in the store to a new one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hoist_gguf::format_bytes;
use hoist_model::Carry;
use hoist_model::util::shards::shard_pattern;
use hoist_quant::rules::{RuleOptions, TensorTypeOverride};
use hoist_quant::{FileType, QuantizeOptions, QuantizeSummary, quantize_file};
use hoist_store::Store;

use super::store_form::{StoreForm, json_fields, text_line};
use crate::cli::QuantizeArgs;
use crate::progress::Drawer;

pub fn run(store: &Store, args: QuantizeArgs) -> Result<ExitCode> {
    if args.store_form.tag.is_some() {
        return run_store_form(store, args);
    }
    let ftype = args.ftype.as_deref().context("TYPE is missing")?;
    let opts = options(&args, ftype)?;
    let drawer = Drawer::new(args.progress, 0);
    let result = quantize_file(&args.input, &args.output, &opts, &drawer);
    drawer.finish();
    let summary = result.with_context(|| format!("quantizing {}", args.input.display()))?;
    if args.json {
        let mut json = json(opts.rules.ftype, &summary);
        json.insert("input".into(), serde_json::json!(args.input));
        json.insert("output".into(), serde_json::json!(args.output));
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        let (from, to) = (args.input.display().to_string(), args.output.display().to_string());
        print_summary(&from, &to, opts.rules.ftype, &summary);
    }
    Ok(ExitCode::SUCCESS)
}

/// `MODEL TYPE -t REF`: the model's GGUF (all its shards) quantized and packed
/// with the source's license, chat template, projector and context size.
fn run_store_form(store: &Store, args: QuantizeArgs) -> Result<ExitCode> {
    if let Some(extra) = &args.ftype {
        bail!("with -t the arguments are MODEL TYPE, and {extra:?} is one too many");
    }
    let ftype = args.output.to_str().context("TYPE must be UTF-8")?;
    let opts = options(&args, ftype)?;
    let (json, progress) = (args.json, args.progress);
    let form = StoreForm::open(store, &args.input, args.store_form, progress)?;
    form.require_weights("gguf", "quantize takes GGUF weights (`hoist convert MODEL -t REF` makes them)")?;
    let input = form.source.runtime_dir().gguf.clone().with_context(|| format!("{} has no GGUF file", form.model))?;
    let output = form.source.output_dir()?.join(output_name(&input, opts.rules.ftype));
    let drawer = Drawer::new(progress, 0);
    let result = quantize_file(&input, &output, &opts, &drawer);
    drawer.finish();
    let summary = result.map_err(|e| form.engine_error("quantizing", e))?;
    let (model, target) = (form.model.clone(), form.target.clone());
    let outcome = form.pack(&[output], Carry::AllButWeights, progress)?;
    if json {
        let mut fields = json_fields(&model, &target, &outcome);
        fields.extend(self::json(opts.rules.ftype, &summary));
        println!("{}", serde_json::to_string_pretty(&fields)?);
    } else {
        print_summary(&model, &target.to_string(), opts.rules.ftype, &summary);
        println!("{}", text_line(&target, &outcome));
    }
    Ok(ExitCode::SUCCESS)
}

/// `tiny.gguf` -> `tiny-Q4_K_M.gguf`; a split model's shard numbers go, since
/// the result is one file.
fn output_name(input: &Path, ftype: FileType) -> String {
    let name = input.file_name().and_then(|s| s.to_str()).unwrap_or("model.gguf");
    let stem = match shard_pattern(name) {
        Some((prefix, _)) => prefix,
        None => name.strip_suffix(".gguf").unwrap_or(name).to_string(),
    };
    format!("{stem}-{}.gguf", ftype.name())
}

fn options(args: &QuantizeArgs, ftype: &str) -> Result<QuantizeOptions> {
    let mut rules = RuleOptions::new(FileType::parse(ftype)?);
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
    if let Some(path) = &args.imatrix {
        opts.use_imatrix(path, &path.display().to_string(), &args.include_weights, &args.exclude_weights)?;
    }
    Ok(opts)
}

fn json(ftype: FileType, s: &QuantizeSummary) -> serde_json::Map<String, serde_json::Value> {
    let value = serde_json::json!({
        "type": ftype.name(),
        "input_bytes": s.input_bytes,
        "output_bytes": s.output_bytes,
        "tensors": s.tensors,
        "converted": s.converted,
        "fallbacks": s.fallbacks,
        "types": s.types,
        "seconds": s.seconds,
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn print_summary(from: &str, to: &str, ftype: FileType, s: &QuantizeSummary) {
    let types: Vec<String> = s.types.iter().map(|(t, n)| format!("{n} {t}")).collect();
    println!(
        "{} -> {} ({}): {} -> {} in {:.2} s; {} tensors ({}), {} converted{}",
        from,
        to,
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
