//! Memory estimate: hand-computed figures for known shapes.

mod common;

use common::{ModelBuilder, arr, qwen2_0_5b};
use hoist_gguf::synth::TinyModel;
use hoist_gguf::{
    EstimateOptions, GgmlType, GgufError, NONUMA_RAM_OVERHEAD, NONUMA_VRAM_OVERHEAD, Value, ValueType, estimate,
    read_header_from_path,
};

const MIB: u64 = 1 << 20;

fn opts() -> EstimateOptions {
    EstimateOptions::default()
}

fn u32s(v: &[u32]) -> Value {
    arr(ValueType::U32, v.iter().map(|x| Value::U32(*x)).collect())
}

#[test]
fn qwen2_kv_cache_f16_full_context_is_384_mib() {
    let h = qwen2_0_5b().header();
    let e = estimate(&[&h], &opts()).unwrap();
    // 24 layers * 32768 cells * (2 KV heads * 64) * 2 bytes, for K and for V.
    assert_eq!(e.kv_cache.k_bytes, 24 * 32768 * 128 * 2);
    assert_eq!(e.kv_cache.v_bytes, 24 * 32768 * 128 * 2);
    assert_eq!(e.kv_cache.total_bytes, 384 * MIB);
    assert_eq!(e.kv_cache.kv_size, 32768);
    assert_eq!(e.context_size, 32768);
    assert_eq!((e.batch_size, e.ubatch_size), (2048, 512));
    assert_eq!(e.architecture, "qwen2");
    assert!(!e.embedding_only);
    assert_eq!(e.vocab_size, 151936);
    // Everything offloaded by default: 24 layers + the output layer, on one GPU.
    assert_eq!((e.layers, e.offload_layers), (24, 25));
    assert!(e.full_offloaded);
    assert_eq!(e.vram.len(), 1);
    let gpu = &e.vram[0];
    assert_eq!((gpu.layers, gpu.output_layer), (24, true));
    assert_eq!((e.ram.layers, e.ram.input_layer, e.ram.output_layer), (0, true, false));
    assert_eq!(gpu.kv_cache, 384 * MIB);
    assert_eq!(e.ram.kv_cache, 0);
    // Weights: the input layer (token_embd) stays on the CPU; tied embeddings are loaded a
    // second time as the output matrix on the GPU.
    let embd = 151936 / 32 * 34 * 896;
    assert_eq!(e.ram.weights, embd);
    let layer = 2 * 896 * 4 + (2 * 896 * 896 + 2 * 896 * 128 + 3 * 896 * 4864) / 32 * 34;
    assert_eq!(gpu.weights, 24 * layer + 896 * 4 + embd);
    // Output buffer: n_vocab floats for the one sequence.
    assert_eq!(e.ram.output_buffer, 151936 * 4);
    // The GPU's compute buffer: the attention peak (residual, norm slot, Q and its RoPE'd
    // copy, the KQ scores of 14 heads * 32768 cells * 512 tokens) and the inputs (the F32
    // KQ mask, the row indices of K and of the transposed V, the positions).
    let (t, hidden) = (512, 896 * 512 * 4);
    let kq = 14 * 32768 * t * 4;
    let inputs = 32768 * t * 4 + 8 * t * (1 + 128) + 4 * t;
    assert_eq!(gpu.compute, 4 * hidden + kq + inputs);
    // The CPU keeps the token ids, the embeddings input and the looked-up embeddings.
    assert_eq!(e.ram.compute, 4 * t + 2 * hidden);
    // UMA: mmapped weights are not counted; NONUMA: everything plus the runtime overhead.
    assert_eq!(gpu.uma, gpu.kv_cache);
    assert_eq!(gpu.nonuma, NONUMA_VRAM_OVERHEAD + gpu.weights + gpu.kv_cache + gpu.compute);
    assert_eq!(e.ram.uma, e.ram.compute + e.ram.output_buffer);
    assert_eq!(e.ram.nonuma, e.ram.uma + NONUMA_RAM_OVERHEAD);
}

#[test]
fn quantized_cache_uses_row_sizes_and_needs_flash_attention_for_v() {
    let h = qwen2_0_5b().header();
    let q8 =
        EstimateOptions { cache_type_k: GgmlType::Q8_0, cache_type_v: GgmlType::Q8_0, flash_attention: true, ..opts() };
    let e = estimate(&[&h], &q8).unwrap();
    // A 128-wide row of Q8_0 is 4 blocks of 34 bytes.
    assert_eq!(e.kv_cache.k_bytes, 24 * 32768 * 136);
    assert_eq!(e.kv_cache.total_bytes, 2 * 24 * 32768 * 136);
    // Quantized K alone works without flash attention; quantized V does not (llama.cpp refuses).
    let k_only = EstimateOptions { cache_type_k: GgmlType::Q4_0, ..opts() };
    let e = estimate(&[&h], &k_only).unwrap();
    assert_eq!(e.kv_cache.k_bytes, 24 * 32768 * 4 * 18);
    assert_eq!(e.kv_cache.v_bytes, 24 * 32768 * 128 * 2);
    let v_no_fa = EstimateOptions { cache_type_v: GgmlType::Q8_0, ..opts() };
    assert!(matches!(estimate(&[&h], &v_no_fa), Err(GgufError::InvalidArgument(_))));
    // A K-quant's 256-element blocks cannot hold 128-wide rows.
    let q4k = EstimateOptions { cache_type_k: GgmlType::Q4_K, ..opts() };
    assert!(matches!(estimate(&[&h], &q4k), Err(GgufError::InvalidArgument(_))));
}

#[test]
fn context_is_padded_to_256() {
    // llama.cpp pads n_ctx to 256 cells, with or without flash attention (it used to pad to
    // 32 without).
    let h = qwen2_0_5b().header();
    let e = estimate(&[&h], &EstimateOptions { ctx_size: Some(4100), ..opts() }).unwrap();
    assert_eq!(e.context_size, 4352);
    assert_eq!(e.kv_cache.total_bytes, 24 * 4352 * 2 * 128 * 2);
    assert_eq!(e.batch_size, 2048);
    let fa = estimate(&[&h], &EstimateOptions { ctx_size: Some(4100), flash_attention: true, ..opts() }).unwrap();
    assert_eq!(fa.context_size, 4352);
    assert_eq!(fa.kv_cache.total_bytes, 24 * 4352 * 2 * 128 * 2);
    // Flash attention never materialises the KQ scores, so its compute buffer is smaller.
    assert!(fa.vram[0].compute < e.vram[0].compute);
    // A context smaller than the batch clamps the batch (causal models).
    let small = estimate(&[&h], &EstimateOptions { ctx_size: Some(100), ..opts() }).unwrap();
    assert_eq!((small.context_size, small.batch_size, small.ubatch_size), (256, 256, 256));
}

#[test]
fn per_layer_head_counts() {
    // OpenELM-style: head counts grow with depth; key/value lengths given explicitly.
    let h = ModelBuilder::new("openelm")
        .hp("context_length", Value::U32(2048))
        .hp("embedding_length", Value::U32(1280))
        .hp("block_count", Value::U32(4))
        .hp("feed_forward_length", u32s(&[768, 1024, 1536, 2048]))
        .hp("attention.head_count", u32s(&[12, 12, 16, 20]))
        .hp("attention.head_count_kv", u32s(&[3, 3, 4, 5]))
        .hp("attention.key_length", Value::U32(64))
        .hp("attention.value_length", Value::U32(64))
        .tensor("token_embd.weight", &[1280, 32000], GgmlType::F16)
        .blocks(4, 1280, &[192, 192, 256, 320], 768, GgmlType::F16)
        .header();
    let e = estimate(&[&h], &opts()).unwrap();
    let kv_heads = 3 + 3 + 4 + 5;
    assert_eq!(e.kv_cache.k_bytes, kv_heads * 64 * 2048 * 2);
    assert_eq!(e.kv_cache.v_bytes, kv_heads * 64 * 2048 * 2);
    assert_eq!(e.kv_cache.attention_layers, 4);
    // A per-layer array of the wrong length is an error, not a guess.
    let bad = ModelBuilder::new("openelm")
        .hp("context_length", Value::U32(2048))
        .hp("embedding_length", Value::U32(1280))
        .hp("block_count", Value::U32(4))
        .hp("attention.head_count", u32s(&[12, 12]))
        .header();
    assert!(matches!(estimate(&[&bad], &opts()), Err(GgufError::InvalidArgument(_))));
}

#[test]
fn sliding_window_layers_keep_window_sized_caches() {
    // Gemma 2: every other layer (0, 2, ...) slides over a 4096-token window.
    let h = ModelBuilder::new("gemma2")
        .hp("context_length", Value::U32(8192))
        .hp("embedding_length", Value::U32(2304))
        .hp("block_count", Value::U32(4))
        .hp("feed_forward_length", Value::U32(9216))
        .hp("attention.head_count", Value::U32(8))
        .hp("attention.head_count_kv", Value::U32(4))
        .hp("attention.key_length", Value::U32(256))
        .hp("attention.value_length", Value::U32(256))
        .hp("attention.sliding_window", Value::U32(4096))
        .header();
    let e = estimate(&[&h], &opts()).unwrap();
    let swa = 4096 + 512; // window * n_seq + ubatch, padded to 256
    assert_eq!(e.kv_cache.swa_kv_size, Some(swa));
    assert_eq!(e.kv_cache.swa_layers, 2);
    let row = 4 * 256 * 2;
    assert_eq!(e.kv_cache.k_bytes, 2 * 8192 * row + 2 * swa * row);
    assert_eq!(e.kv_cache.total_bytes, 2 * e.kv_cache.k_bytes);
    // With 2 sequences the window grows; a short context caps it.
    let e = estimate(&[&h], &EstimateOptions { parallel: 2, ..opts() }).unwrap();
    assert_eq!(e.kv_cache.swa_kv_size, Some(8192));
    let e = estimate(&[&h], &EstimateOptions { ctx_size: Some(2000), ..opts() }).unwrap();
    assert_eq!(e.kv_cache.swa_kv_size, Some(2048));
    // An explicit per-layer pattern in the file wins over the built-in one.
    let bools = arr(ValueType::Bool, [true, true, true, false].map(Value::Bool).to_vec());
    let h = ModelBuilder::new("gemma2")
        .hp("context_length", Value::U32(8192))
        .hp("embedding_length", Value::U32(2304))
        .hp("block_count", Value::U32(4))
        .hp("attention.head_count", Value::U32(8))
        .hp("attention.head_count_kv", Value::U32(4))
        .hp("attention.key_length", Value::U32(256))
        .hp("attention.sliding_window", Value::U32(4096))
        .hp("attention.sliding_window_pattern", bools)
        .header();
    assert_eq!(estimate(&[&h], &opts()).unwrap().kv_cache.swa_layers, 3);
}

#[test]
fn mamba_and_rwkv_use_recurrent_state() {
    // Mamba-130m: d_conv 4, d_inner 1536, d_state 16, 24 layers.
    let h = ModelBuilder::new("mamba")
        .hp("context_length", Value::U32(1_048_576))
        .hp("embedding_length", Value::U32(768))
        .hp("block_count", Value::U32(24))
        .hp("feed_forward_length", Value::U32(0))
        .hp("attention.head_count", Value::U32(0))
        .hp("ssm.conv_kernel", Value::U32(4))
        .hp("ssm.inner_size", Value::U32(1536))
        .hp("ssm.state_size", Value::U32(16))
        .hp("ssm.time_step_rank", Value::U32(48))
        .tensor("token_embd.weight", &[768, 50280], GgmlType::F16)
        .tensor("blk.0.ssm_in.weight", &[768, 3072], GgmlType::F16)
        .header();
    let e = estimate(&[&h], &EstimateOptions { parallel: 2, ..opts() }).unwrap();
    let per_layer_seq = ((4 - 1) * 1536 + 16 * 1536) * 4; // conv state + ssm state, F32
    assert_eq!(e.kv_cache.recurrent_bytes, 24 * per_layer_seq * 2);
    assert_eq!((e.kv_cache.k_bytes, e.kv_cache.v_bytes), (0, 0));
    assert_eq!(e.kv_cache.recurrent_layers, 24);
    assert_eq!(e.kv_cache.total_bytes, e.kv_cache.recurrent_bytes);
    // The context length does not change the state.
    let short = estimate(&[&h], &EstimateOptions { parallel: 2, ctx_size: Some(512), ..opts() }).unwrap();
    assert_eq!(short.kv_cache.total_bytes, e.kv_cache.total_bytes);

    // RWKV6 1.6B: n_embd 2048, head size 64, 2 token shifts.
    let h = ModelBuilder::new("rwkv6")
        .hp("context_length", Value::U32(1_048_576))
        .hp("embedding_length", Value::U32(2048))
        .hp("block_count", Value::U32(24))
        .hp("wkv.head_size", Value::U32(64))
        .header();
    let e = estimate(&[&h], &opts()).unwrap();
    assert_eq!(e.kv_cache.recurrent_bytes, 24 * (2 * 2048 + 2048 * 64) * 4);

    // A hybrid (Jamba-style): layers without KV heads are Mamba layers.
    let h = ModelBuilder::new("jamba")
        .hp("context_length", Value::U32(4096))
        .hp("embedding_length", Value::U32(512))
        .hp("block_count", Value::U32(4))
        .hp("attention.head_count", Value::U32(8))
        .hp("attention.head_count_kv", u32s(&[0, 0, 0, 2]))
        .hp("ssm.conv_kernel", Value::U32(4))
        .hp("ssm.inner_size", Value::U32(1024))
        .hp("ssm.state_size", Value::U32(16))
        .header();
    let e = estimate(&[&h], &opts()).unwrap();
    assert_eq!((e.kv_cache.recurrent_layers, e.kv_cache.attention_layers), (3, 1));
    assert_eq!(e.kv_cache.k_bytes, 4096 * 2 * 64 * 2);
    assert_eq!(e.kv_cache.recurrent_bytes, 3 * (3 * 1024 + 16 * 1024) * 4);
}

#[test]
fn partial_offload_and_tensor_split() {
    let h = qwen2_0_5b().header();
    // 10 of 24 layers on the GPU: the last 10; the output layer stays on the CPU.
    let e = estimate(&[&h], &EstimateOptions { gpu_layers: Some(10), ..opts() }).unwrap();
    assert_eq!((e.offload_layers, e.full_offloaded), (10, false));
    assert_eq!((e.ram.layers, e.ram.output_layer), (14, true));
    assert_eq!((e.vram[0].layers, e.vram[0].output_layer), (10, false));
    assert_eq!(e.vram[0].kv_cache, 10 * 32768 * 128 * 2 * 2);
    assert_eq!(e.ram.kv_cache, 14 * 32768 * 128 * 2 * 2);
    // Exactly n_layer: every block offloaded but not the output layer.
    let e = estimate(&[&h], &EstimateOptions { gpu_layers: Some(24), ..opts() }).unwrap();
    assert_eq!((e.offload_layers, e.full_offloaded, e.ram.output_layer), (24, false, true));
    // No KV offload: the cache stays in RAM even for GPU layers.
    let e = estimate(&[&h], &EstimateOptions { kv_offload: false, ..opts() }).unwrap();
    assert_eq!((e.ram.kv_cache, e.vram[0].kv_cache), (384 * MIB, 0));
    // CPU only.
    let e = estimate(&[&h], &EstimateOptions { gpu_layers: Some(0), ..opts() }).unwrap();
    assert_eq!((e.offload_layers, e.ram.layers, e.vram[0].weights, e.vram[0].compute), (0, 24, 0, 0));
    // Tied embeddings on the CPU with mmap share the one mapped copy.
    assert_eq!(e.ram.uma, e.ram.kv_cache + e.ram.compute + e.ram.output_buffer);
    // Two GPUs 1:1 over 25 layers (the output layer counts): llama.cpp's split points give
    // layers 0..=12 to GPU 0 and 13..=23 plus the output layer to GPU 1.
    let e = estimate(&[&h], &EstimateOptions { tensor_split: vec![1.0, 1.0], ..opts() }).unwrap();
    assert_eq!(e.vram.len(), 2);
    assert_eq!((e.vram[0].layers, e.vram[0].output_layer), (13, false));
    assert_eq!((e.vram[1].layers, e.vram[1].output_layer), (11, true));
    assert_eq!(e.vram[0].kv_cache + e.vram[1].kv_cache, 384 * MIB);
    // 3:1.
    let e = estimate(&[&h], &EstimateOptions { tensor_split: vec![3.0, 1.0], ..opts() }).unwrap();
    assert_eq!((e.vram[0].layers, e.vram[1].layers), (19, 5));
    let bad = EstimateOptions { tensor_split: vec![1.0, f64::NAN], ..opts() };
    assert!(estimate(&[&h], &bad).is_err());
    // No mmap: CPU weights count in RAM.
    let e = estimate(&[&h], &EstimateOptions { mmap: false, gpu_layers: Some(0), ..opts() }).unwrap();
    assert!(e.ram.uma > e.ram.weights);
}

#[test]
fn split_model_estimates_like_the_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = TinyModel { target_size: 2 << 20, ..TinyModel::default() };
    let single = dir.path().join("m.gguf");
    model.write_to_path(&single).unwrap();
    let shards = model.write_split(dir.path(), "m", 3).unwrap();
    let single = read_header_from_path(&single).unwrap();
    let mut headers: Vec<_> = shards.iter().map(|p| read_header_from_path(p).unwrap()).collect();
    headers.reverse(); // any order
    let refs: Vec<_> = headers.iter().collect();
    let a = estimate(&[&single], &opts()).unwrap();
    let b = estimate(&refs, &opts()).unwrap();
    assert_eq!(a, b);
    assert!(a.vram[0].weights > 1 << 20);
    // A missing shard, or a shard given twice, is an error.
    assert!(estimate(&refs[..2], &opts()).is_err());
    assert!(estimate(&[refs[0], refs[0], refs[1]], &opts()).is_err());
}

#[test]
fn embedding_models_and_non_models() {
    let h = ModelBuilder::new("bert")
        .hp("context_length", Value::U32(512))
        .hp("embedding_length", Value::U32(384))
        .hp("block_count", Value::U32(6))
        .hp("attention.head_count", Value::U32(12))
        .hp("pooling_type", Value::U32(1))
        .kv("tokenizer.ggml.tokens", arr(ValueType::String, vec![Value::String("a".into()); 100]))
        .header();
    let e = estimate(&[&h], &opts()).unwrap();
    assert!(e.embedding_only);
    assert_eq!(e.ram.output_buffer, 384 * 4);
    assert_eq!(e.batch_size, 2048); // non-causal: not clamped to the context
    let proj = ModelBuilder::new("clip").hp("has_vision_encoder", Value::Bool(true)).header();
    assert!(matches!(estimate(&[&proj], &opts()), Err(GgufError::InvalidArgument(_))));
    let no_ctx = ModelBuilder::new("llama").hp("block_count", Value::U32(2)).header();
    assert!(estimate(&[&no_ctx], &opts()).is_err());
    assert!(estimate(&[&no_ctx], &EstimateOptions { ctx_size: Some(64), ..opts() }).is_ok());
    let huge = ModelBuilder::new("llama").hp("block_count", Value::U64(u64::MAX)).header();
    assert!(estimate(&[&huge], &EstimateOptions { ctx_size: Some(64), ..opts() }).is_err());
    assert!(estimate(&[], &opts()).is_err());
}
