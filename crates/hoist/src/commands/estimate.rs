use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hoist_gguf::{DeviceEstimate, Estimate, EstimateOptions, GgmlType, estimate, format_bytes};
use hoist_store::Store;

use super::gguf::model_headers;
use crate::cli::EstimateArgs;
use crate::output::Table;

pub fn run(store: &Store, args: EstimateArgs) -> Result<ExitCode> {
    let model = model_headers(store, &args.model, false, &args.connect)?;
    let options = EstimateOptions {
        ctx_size: args.ctx_size,
        batch_size: args.batch_size,
        ubatch_size: args.ubatch_size,
        parallel: args.parallel,
        cache_type_k: cache_type(&args.cache_type_k)?,
        cache_type_v: cache_type(&args.cache_type_v)?,
        flash_attention: args.flash_attn,
        mmap: !args.no_mmap,
        kv_offload: !args.no_kv_offload,
        gpu_layers: args.gpu_layers,
        tensor_split: args.tensor_split,
    };
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
