//! GGUF for hoist: read a model file's header (never its tensor data), summarise the
//! model, and write GGUF files, including synthetic models for demos, tests and benchmarks.
//!
//! # Main types
//!
//! - [`parse_header`] turns the leading bytes of a file into a [`GgufHeader`]: version,
//!   [`ByteOrder`], metadata as `(key, `[`Value`]`)` pairs in file order, [`TensorInfo`]s
//!   (name, dims, [`GgmlType`], offset) and where the tensor data starts. An [`Array`] is
//!   one typed vector (`Vec<u32>`, `Vec<f32>`, ...); strings are a [`StringArray`], all
//!   items in one buffer, kept as the file has them and decoded lossily on access.
//! - [`HeaderAccumulator`] drives that parser from a stream of chunks (a file being hashed
//!   into the store); [`read_header_from_path`] from a file on disk.
//! - [`GgufHeader::summary`] gives a [`ModelSummary`]: architecture, parameters, bits per
//!   weight, file type ([`file_type_name`]), context length; [`format_parameters`] prints
//!   parameter counts the way users know them ("494.03M").
//! - [`GgufHeader::report`] gives a [`GgufReport`] for `inspect`: metadata with long arrays
//!   summarised, tensors, a histogram by [`GgmlType`], tokenizer facts, chat template,
//!   split facts and the [`FileKind`] (model, projector, LoRA adapter, ...). It implements
//!   `Display` (the text form) and `serde::Serialize` (the JSON form).
//! - [`HeaderFetchPlan`] (and the bare rule [`next_fetch`]) reads a remote header through
//!   ranged requests: it says which byte range to fetch next until the header parses.
//! - [`estimate`] computes an [`Estimate`] of llama.cpp's memory use from the headers of a
//!   model's files and [`EstimateOptions`] (see "Memory estimate" below).
//! - [`GgufWriter`] writes files: header first, then tensor data streamed from a callback.
//! - [`synth::TinyModel`] writes complete llama-style models of any size, single-file or split.
//!
//! # Example
//!
//! ```
//! use hoist_gguf::{GgmlType, GgufError, GgufWriter, Value, parse_header};
//!
//! let mut w = GgufWriter::new();
//! w.add_metadata("general.architecture", Value::String("llama".into()));
//! w.add_tensor("output.weight", &[64, 8], GgmlType::Q8_0).unwrap();
//! let mut file = Vec::new();
//! w.write_file(&mut file, |_, _, buf| buf.fill(1)).unwrap();
//!
//! // A prefix too short says how many bytes to fetch next.
//! let Err(GgufError::Incomplete { needed }) = parse_header(&file[..10], None) else { panic!() };
//! assert!(needed > 10);
//!
//! let header = parse_header(&file, Some(file.len() as u64)).unwrap();
//! header.check_file_len(file.len() as u64).unwrap();
//! let summary = header.summary().unwrap();
//! assert_eq!(summary.architecture.as_deref(), Some("llama"));
//! assert_eq!(summary.parameters, 512);
//! assert_eq!(summary.bits_per_weight, 8.5);
//! assert_eq!(summary.file_type.as_deref(), Some("Q8_0"));
//! ```
//!
//! # Memory estimate
//!
//! [`estimate`] follows what llama.cpp allocates (llama_model::load_tensors,
//! llama_kv_cache, llama_memory_recurrent, llama_context), with gguf-parser's columns. In
//! what follows `n_layer` = `{arch}.block_count`, `n_embd` = `{arch}.embedding_length`,
//! per-layer `n_head(il)`, `n_head_kv(il)` and `n_ff(il)` come from scalar or per-layer
//! array keys, `d_k` = `{arch}.attention.key_length` or `n_embd / n_head(0)`, `d_v`
//! likewise with `value_length`, `n_seq` = `parallel`.
//!
//! - **Context.** `n_ctx` = `ctx_size` or `{arch}.context_length`, padded up to a
//!   multiple of 256, with or without flash attention (older llama.cpp padded to 32
//!   without): `kv_size = pad(n_ctx)`. Causal models clamp `n_batch = min(batch,
//!   kv_size)`; `n_ubatch = min(ubatch, n_batch)`.
//! - **Layer split.** With `ngl` = `gpu_layers` (default: all), layers
//!   `il >= i_gpu_start = max(n_layer - ngl, 0)` are offloaded, `act = min(ngl, n_layer + 1)`.
//!   Offloaded layer `il` goes to the first GPU whose cumulative normalised `tensor_split`
//!   point exceeds `(il - i_gpu_start) / act` (an even split when none is given). The
//!   output layer is layer `n_layer` under the same rule, so it is offloaded only when
//!   `ngl > n_layer`; the input layer stays on the CPU. "OFFLOAD LAYERS" counts the output
//!   layer: at most `n_layer + 1`, "FULL OFFLOADED" when all are.
//! - **Weights.** Tensors `blk.N.*` belong to layer N; `token_embd`, `token_embd_norm`,
//!   `position_embd`, `token_types` to the input layer; everything else (`output`,
//!   `output_norm`, `cls*`, `rope_freqs`, ...) to the output layer. A model without
//!   `output.weight` (tied embeddings) loads `token_embd` again as the output matrix,
//!   counted on the output device when that is a GPU or mmap is off. All shards' tensors
//!   count.
//! - **KV cache** (exact, the figure llama.cpp prints): per attention layer,
//!   `K = row_size(type_k, d_k * n_head_kv(il)) * n_kv(il)` and
//!   `V = row_size(type_v, d_v * n_head_kv(il)) * n_kv(il)`, where `row_size` is the
//!   block-quantized size (`Q8_0`: 34 bytes per 32 values) and `n_kv(il) = kv_size`, or for
//!   sliding-window layers `min(kv_size, pad(sliding_window * n_seq + n_ubatch))`. For a
//!   llama-style model that is `n_layer * kv_size * (d_k*n_head_kv*bytes_k + d_v*n_head_kv*bytes_v)`.
//!   Sliding-window layers: `{arch}.attention.sliding_window` > 0 and either a per-layer
//!   `{arch}.attention.sliding_window_pattern` (bool array, or an integer `n` meaning
//!   llama.cpp's `set_swa_pattern(n)`: layer `il` slides when `il % n < n - 1`), or the
//!   built-in pattern of gemma2 (2), gemma3 (6), gemma3n (5), cohere2 (4), gpt-oss (2),
//!   exaone4 (4). Other architectures with a window key get no sliding layers (llama.cpp
//!   ignores it for them). A quantized V cache without flash attention is an error, as in
//!   llama.cpp. The cache of a layer sits on the layer's device, or on the CPU with
//!   `kv_offload` off. Not modelled: Gemma 3n's KV sharing between layers, Llama 4's chunked
//!   attention.
//! - **Recurrent state** replaces the KV cache in recurrent layers: every layer of mamba,
//!   mamba2, rwkv6, rwkv6qwen2, rwkv7, arwkv7; in hybrids (jamba, granite-hybrid, lfm2,
//!   ...) the layers whose `n_head_kv(il)` is 0. Per layer and sequence, F32:
//!   `4 * (n_embd_r + n_embd_s)` with Mamba `n_embd_r = (d_conv - 1) * (d_inner + 2 *
//!   n_group * d_state)`, `n_embd_s = d_state * d_inner` (`{arch}.ssm.conv_kernel`,
//!   `inner_size`, `state_size`, `group_count`); RWKV `n_embd_r = token_shift_count *
//!   n_embd`, `n_embd_s = n_embd * {arch}.wkv.head_size`; LFM2 `n_embd_r = n_embd *
//!   (shortconv.l_cache - 1)`. Times `max(1, n_seq)`.
//! - **Output buffer** (host RAM): `n_vocab * n_outputs * 4` with `n_outputs = n_seq`, the
//!   reservation llama.cpp makes when the context is created and what generation uses (a
//!   prompt that asks for logits of every token grows it to `n_batch` outputs). Embedding
//!   models (`{arch}.pooling_type` present, a BERT-family architecture, or
//!   `{arch}.attention.causal` false) use `n_embd` instead of `n_vocab`.
//! - **Compute buffer**: the peak of ggml-alloc over the graph llama.cpp reserves for a
//!   ubatch of `n_tokens = min(kv_size, n_ubatch)` tokens. The allocator frees a tensor
//!   after its last use, lets some ops (add, mul, norms, softmax) overwrite their input, and
//!   puts every other tensor in the smallest hole freed so far that fits, else on top; the
//!   peak is the live tensors of the worst step plus the holes under them. With
//!   `x(w) = 4 * n_tokens * w` (an F32 tensor of `w` values per token): `E = x(n_embd)` (the
//!   hidden state), `Q = x(n_head*d_k)`, `K = x(n_head_kv*d_k)`, `V = x(n_head_kv*d_v)`,
//!   `A = x(n_head*d_v)` (attention output), `S = x(n_head*n_kv)` (KQ scores, `n_kv` the
//!   layer's cache cells), `F = x(n_ff)`. Per device, `compute = inputs + max(layer, output)`:
//!   - `layer`, the largest over the device's layers of `max(attention, ffn)`.
//!     `attention = 2E + 2Q + S` without flash attention (the residual, the norm's freed
//!     slot, Q and its RoPE'd copy, the scores), `2E + 2Q` with it, `+ K` for K and again
//!     for its RoPE'd copy when they fit neither in the slot Q's projection freed (`Q - V`,
//!     less K when K took it) nor, for the copy, in the norm's (`E`): MHA with `Q > E`.
//!     `ffn = E + 3F + hole`: the FFN input (kept for the residual), gate, up and their
//!     product; `hole` is what stays free under them: `below` if `F > below`, else `E` if
//!     `F > E`, else 0, where `below`, the slots under the FFN input, is `E + A` (the
//!     residual's and the attention output's) with flash attention or when the scores fit
//!     in the hole of the norm and Q (`S <= E + Q`), else `E` (`A >= E`) or `E + 2A`. The
//!     last layer's FFN only sees the `n_outputs` rows. MoE: `n_ff = n_expert_used *
//!     expert_ff + n_shared * shared_ff`, plus `2 * x(n_expert)` for the router. Recurrent
//!     layers: `x(2*n_embd + 4*max(d_inner, n_embd) + 2*n_group*d_state)`.
//!   - `output = 4 * n_outputs * (n_embd + n_vocab)` on the output layer's device, with
//!     `n_outputs = min(n_seq, n_tokens)` (llama-server reserves one output per sequence;
//!     llama.cpp's library default, e.g. llama-cli, reserves `n_batch`, which adds
//!     `4 * n_vocab` per extra token) and all `n_tokens` for embedding models.
//!   - `inputs` of a device with attention layers, kept for the whole graph: a KQ mask
//!     `n_kv * n_tokens` per cache size (full, sliding window), F16 with flash attention,
//!     F32 without; the I64 cache row indices `8 * n_tokens * (1 + (1 with flash attention,
//!     else n_head_kv*d_v))` per cache (V is stored transposed without it); positions
//!     `4 * n_tokens`. The CPU adds the token ids `4 * n_tokens` and the embeddings input
//!     `E` that every graph carries, and with every layer offloaded the looked-up
//!     embeddings `E`. With `kv_offload` off, an offloaded layer's attention core (Q,
//!     scores and output, or flash attention) is counted on the CPU.
//!
//!   For llama-architecture models this is exact to 0.01 MiB on the 22 CPU configurations
//!   measured (docs/ESTIMATE.md: 10 shapes, flash attention on and off, contexts 512 to
//!   32768, ubatches 128 to 2048). Other architectures add or drop a few `E`-sized tensors
//!   per layer (biases, Q/K norms, post-norms, fused QKV) and land near it; recurrent and
//!   MoE terms, and GPU devices (same graph, other alignments and kernels), are not
//!   measured. llama.cpp's `-fa` defaults to `auto`, which turns flash attention on for the
//!   CPU and most GPUs; `flash_attention: false` is `-fa off`.
//! - **Columns.** RAM UMA = CPU KV + CPU compute + output buffer (+ CPU weights without
//!   mmap; mmapped weights are page cache); RAM NONUMA = UMA + [`NONUMA_RAM_OVERHEAD`]
//!   (150 MiB). VRAM UMA = KV (+ weights without mmap); VRAM NONUMA = weights + KV +
//!   compute + [`NONUMA_VRAM_OVERHEAD`] (250 MiB). These are gguf-parser's definitions and
//!   constants, so the numbers compare.
//!
//! ```
//! use hoist_gguf::{EstimateOptions, GgmlType, GgufWriter, Value, estimate, parse_header};
//!
//! let mut w = GgufWriter::new();
//! w.add_metadata("general.architecture", Value::String("llama".into()));
//! for (k, v) in [("block_count", 2), ("embedding_length", 256), ("attention.head_count", 4),
//!                ("attention.head_count_kv", 2), ("context_length", 4096)] {
//!     w.add_metadata(format!("llama.{k}"), Value::U32(v));
//! }
//! let mut bytes = Vec::new();
//! w.write_header(&mut bytes).unwrap();
//! let header = parse_header(&bytes, None).unwrap();
//! let e = estimate(&[&header], &EstimateOptions { ctx_size: Some(1000), ..Default::default() }).unwrap();
//! // 2 layers * 1024 cells (1000 padded to 256) * (2 heads * 64) * 2 bytes, K and V.
//! assert_eq!(e.kv_cache.total_bytes, 2 * 1024 * 128 * 2 * 2);
//! assert!(e.full_offloaded);
//! ```
//!
//! # Why it is built so
//!
//! Models are gigabytes; their headers are kilobytes to a few megabytes. The parser works
//! on whatever prefix it is given and, when that ends early, answers `Incomplete { needed }`
//! with a lower bound of the bytes required. Callers fetch more and parse again from
//! scratch, which keeps the parser stateless and lets the same code serve a byte slice, a
//! stream being hashed, or ranged reads from a remote registry; the stream driver first
//! walks the header cheaply as it arrives (lengths only), so it parses once. A file on
//! disk is parsed as it is read, through a small window. A 150,000-token vocabulary costs
//! a few allocations, not one per token: arrays are typed vectors, filled in bulk. The
//! input is untrusted: every count and length is checked against the bytes that could
//! hold it before anything is allocated, and no input makes it panic.

mod error;
mod estimate;
mod fetch;
mod header;
mod parse;
mod read;
mod report;
mod scan;
mod summary;
pub mod synth;
mod types;
mod value;
mod write;

pub use error::GgufError;
pub use estimate::{
    DeviceEstimate, Estimate, EstimateOptions, KvCacheEstimate, MAX_LAYERS, NONUMA_RAM_OVERHEAD, NONUMA_VRAM_OVERHEAD,
    estimate,
};
pub use fetch::{DEFAULT_MAX_HEADER_BYTES, HeaderFetchPlan, MIN_FETCH, next_fetch};
pub use header::{GgufHeader, TensorInfo};
pub use parse::parse_header;
pub use read::{HeaderAccumulator, read_header_from_path};
pub use report::{
    ARRAY_INLINE_MAX, ARRAY_PREVIEW, FileKind, GgufReport, MetadataEntry, SpecialToken, SplitFacts, TensorRow,
    TokenizerFacts, TypeStats, format_bytes,
};
pub use summary::{ModelSummary, format_parameters};
pub use types::{GgmlType, file_type_id, file_type_name};
pub use value::{Array, ByteOrder, StringArray, Value, ValueType};
pub use write::GgufWriter;
