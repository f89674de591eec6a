//! Quantization for hoist: GGUF in, GGUF out, with exactly the bytes llama.cpp's
//! `llama-quantize` writes, in process, without llama.cpp.
//!
//! # Main types
//!
//! - [`quantize_rows`] / [`dequantize_rows`]: ggml's block formats (Q4_0 ... Q8_0, the
//!   K-quants Q2_K ... Q6_K, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, plus F32/F16/BF16) for whole
//!   rows, with or without importance weights, rows spread over rayon's pool. The
//!   searches are ports of ggml's reference quantizers; [`float16`] rounds as ggml does.
//! - [`FileType`]: the names llama-quantize accepts ("Q4_K_M", "q8_0", "15"), their
//!   `general.file_type` ids and default tensor types.
//! - [`rules`]: llama.cpp's per-tensor choices: what is quantized, the _S/_M/_L
//!   mixtures, fallbacks for rows that do not divide into blocks, `--tensor-type`
//!   overrides ([`rules::RuleOptions`], [`rules::Planner`]).
//! - [`imatrix::Imatrix`]: importance matrices, GGUF and legacy `.dat`.
//! - [`quantize_file`] ties them together: it plans every tensor, refuses what
//!   llama-quantize refuses (types that need an importance matrix, requantizing
//!   without `allow_requantize`), then streams the output through a temporary file it renames at
//!   the end, reporting progress through a [`Reporter`] and returning a
//!   [`QuantizeSummary`]. A split input is read as one model; `keep_split` writes its
//!   shards as llama-quantize's `--keep-split` does ([`split_output_paths`]).
//! - [`synth::SynthModel`]: varied synthetic models for tests and benchmarks.
//!
//! # Example
//!
//! ```
//! use hoist_gguf::{GgmlType, read_header_from_path};
//! use hoist_quant::rules::RuleOptions;
//! use hoist_quant::synth::SynthModel;
//! use hoist_quant::{FileType, NoReport, QuantizeOptions, quantize_file, quantize_rows};
//!
//! // One row of 32 values as Q8_0: an f16 scale and 32 signed bytes.
//! let row: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
//! let mut block = [0u8; 34];
//! quantize_rows(GgmlType::Q8_0, &row, 32, None, &mut block).unwrap();
//! assert_eq!(block[2] as i8, -127);
//!
//! // A whole model, as `llama-quantize in.gguf out.gguf Q4_K_M` would.
//! let dir = std::env::temp_dir().join(format!("hoist-quant-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! SynthModel::odd().write(&dir.join("in.gguf")).unwrap();
//! let opts = QuantizeOptions::new(RuleOptions::new(FileType::parse("q4_k_m").unwrap()));
//! let summary = quantize_file(&dir.join("in.gguf"), &dir.join("out.gguf"), &opts, &NoReport).unwrap();
//! assert_eq!(summary.tensors, 20); // embeddings, 2 layers of 9, output norm
//! let out = read_header_from_path(&dir.join("out.gguf")).unwrap();
//! assert_eq!(out.summary().unwrap().file_type.as_deref(), Some("Q4_K_M"));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! # Why it is built so
//!
//! Byte identity is the contract: a model quantized here must be the model
//! llama-quantize makes, so digests, caches and published artifacts agree. That rules
//! out "equivalent" algorithms (Candle's K-quants use an older search) and pins every
//! float operation to ggml's order; the kernels stay close to the C they port, and
//! tests compare whole output files with digests from the reference build
//! (scripts/llama-quantize-goldens.sh) and with the `gguf` Python package's quantizers.
//! Rows are independent in every format, so they run in parallel without changing a
//! byte; within a row, the scale searches try their candidate scales side by side, each
//! candidate's sums still in ggml's order. Models are larger than memory can spare, so tensors stream through in slabs of
//! rows: peak memory is a slab, not the model.

mod blocks;
mod error;
pub mod float16;
mod ftype;
pub mod imatrix;
pub mod rules;
mod stream;
pub mod synth;

pub use blocks::{QUANTIZE_TYPES, can_dequantize, can_quantize, dequantize_rows, quantize_rows, row_bytes};
pub use error::QuantError;
pub use ftype::FileType;
pub use stream::{NoReport, QuantizeOptions, QuantizeSummary, Reporter, quantize_file, split_output_paths};
