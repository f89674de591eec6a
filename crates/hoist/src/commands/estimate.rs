use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hoist_gguf::{DeviceEstimate, Estimate, EstimateOptions, GgmlType, estimate, format_bytes};
use hoist_model::{command_has, command_value};
use hoist_store::Store;

use super::gguf::model_headers;
use crate::cli::{EstimateArgs, FlashAttn};
use crate::output::Table;

pub fn run(store: &Store, args: EstimateArgs) -> Result<ExitCode> {
    let model = model_headers(store, &args.model, false, &args.connect)?;
    let options = options(&args, &model.command)?;
    let result = estimate(&model.headers(), &options).with_context(|| format!("estimating {}", args.model))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_table(&result);
    }
    if let Some(line) = model.remote_cost_line() {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The options: the flags given, else what the artifact's stored command sets,
/// else llama.cpp's defaults.
fn options(args: &EstimateArgs, command: &[String]) -> Result<EstimateOptions> {
    let defaults = EstimateOptions::default();
    let stored = |flags: &[&str]| command_value(command, flags);
    let number = |given: Option<u64>, flags: &[&str]| -> Result<Option<u64>> {
        match (given, stored(flags)) {
            (Some(value), _) => Ok(Some(value)),
            (None, Some(text)) => {
                Ok(Some(text.parse().with_context(|| format!("the stored command's {} {text:?}", flags[0]))?))
            }
            (None, None) => Ok(None),
        }
    };
    let cache = |given: &Option<String>, flags: &[&str], default: GgmlType| match given.as_deref().or(stored(flags)) {
        Some(name) => cache_type(name),
        None => Ok(default),
    };
    let tensor_split = match (args.tensor_split.is_empty(), stored(&["-ts", "--tensor-split"])) {
        (true, Some(text)) => text
            .split([',', '/'])
            .map(|part| part.trim().parse::<f64>().with_context(|| format!("the stored command's -ts {text:?}")))
            .collect::<Result<Vec<_>>>()?,
        _ => args.tensor_split.clone(),
    };
    // `-fa on|off|auto` in current llama.cpp; `-fa` alone (on) in older ones.
    let flash_from_command = match stored(&["-fa", "--flash-attn"]) {
        Some("on") => Some(FlashAttn::On),
        Some("off") => Some(FlashAttn::Off),
        Some("auto") => Some(FlashAttn::Auto),
        _ => command_has(command, &["-fa", "--flash-attn"]).then_some(FlashAttn::On),
    };
    // Auto is llama.cpp's default, and every backend it has turns it on.
    let flash_attention = args.flash_attn.or(flash_from_command).unwrap_or(FlashAttn::Auto) != FlashAttn::Off;
    Ok(EstimateOptions {
        ctx_size: number(args.ctx_size, &["-c", "--ctx-size"])?,
        batch_size: number(args.batch_size, &["-b", "--batch-size"])?.unwrap_or(defaults.batch_size),
        ubatch_size: number(args.ubatch_size, &["-ub", "--ubatch-size"])?.unwrap_or(defaults.ubatch_size),
        parallel: number(args.parallel, &["-np", "--parallel"])?.unwrap_or(defaults.parallel),
        cache_type_k: cache(&args.cache_type_k, &["-ctk", "--cache-type-k"], defaults.cache_type_k)?,
        cache_type_v: cache(&args.cache_type_v, &["-ctv", "--cache-type-v"], defaults.cache_type_v)?,
        flash_attention,
        mmap: !(args.no_mmap || command_has(command, &["--no-mmap"])),
        kv_offload: !(args.no_kv_offload || command_has(command, &["-nkvo", "--no-kv-offload"])),
        gpu_layers: number(args.gpu_layers, &["-ngl", "--gpu-layers", "--n-gpu-layers"])?,
        tensor_split,
    })
}

fn cache_type(name: &str) -> Result<GgmlType> {
    match GgmlType::from_name(name) {
        Some(ggml_type) => Ok(ggml_type),
        None => bail!("unknown cache type {name:?}: use f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0 or q5_1"),
    }
}

fn yes_no(value: bool) -> String {
    (if value { "Yes" } else { "No" }).to_string()
}

/// The columns users know from gguf-parser: one row, RAM then each GPU.
fn print_table(result: &Estimate) {
    let mut header = vec![
        "ARCH",
        "CONTEXT SIZE",
        "BATCH SIZE (L / P)",
        "FLASH ATTENTION",
        "MMAP LOAD",
        "EMBEDDING ONLY",
        "OFFLOAD LAYERS",
        "FULL OFFLOADED",
        "RAM LAYERS",
        "RAM UMA",
        "RAM NONUMA",
    ];
    let vram_headers: Vec<[String; 3]> = (0..result.vram.len())
        .map(|i| [format!("VRAM {i} LAYERS"), format!("VRAM {i} UMA"), format!("VRAM {i} NONUMA")])
        .collect();
    header.extend(vram_headers.iter().flatten().map(String::as_str));
    let mut table = Table::new(&header);
    let mut row = vec![
        result.architecture.clone(),
        result.context_size.to_string(),
        format!("{} / {}", result.batch_size, result.ubatch_size),
        yes_no(result.flash_attention),
        yes_no(result.mmap),
        yes_no(result.embedding_only),
        result.offload_layers.to_string(),
        yes_no(result.full_offloaded),
    ];
    row.extend(device_cells(&result.ram));
    for gpu in &result.vram {
        row.extend(device_cells(gpu));
    }
    table.add_row(row);
    table.print();
    let kv = &result.kv_cache;
    println!(
        "KV cache: {} (K {}, V {}{}) for {} cells",
        format_bytes(kv.total_bytes),
        format_bytes(kv.k_bytes),
        format_bytes(kv.v_bytes),
        if kv.recurrent_bytes > 0 {
            format!(", recurrent state {}", format_bytes(kv.recurrent_bytes))
        } else {
            String::new()
        },
        kv.kv_size
    );
}

fn device_cells(device: &DeviceEstimate) -> [String; 3] {
    let mut layers = device.layers.to_string();
    if device.input_layer {
        layers.push_str(" + input");
    }
    if device.output_layer {
        layers.push_str(" + output");
    }
    [layers, format_bytes(device.uma), format_bytes(device.nonuma)]
}
