//! Hugging Face checkpoints to GGUF, in process and without Python: the GGUF that
//! llama.cpp's `convert_hf_to_gguf.py` writes, tensor for tensor and key for key.
//!
//! # Main types
//!
//! - [`convert`] reads a model directory (config.json, `model*.safetensors` or a sharded
//!   `model.safetensors.index.json`, tokenizer files, README.md, generation_config.json)
//!   and writes one GGUF file; [`convert_lora`] does the same for a PEFT LoRA adapter
//!   against its base model's config; [`Options`] picks the output type ([`OutType`]) and the
//!   threads; a [`Reporter`] hears about progress (libraries never print); the result is a
//!   [`Summary`]. Failures are a [`ConvertError`], one line naming what and where.
//! - Inside, a [`safetensors::Checkpoint`] memory-maps the weight files and validates their
//!   headers; an architecture (module `arch`) turns config.json into metadata and maps
//!   tensor names; the tokenizer module writes the vocabulary (SentencePiece
//!   tokenizer.model, BPE tokenizer.json with llama.cpp's pre-tokenizer hash table); the
//!   planner decides each tensor's name, dims and type before any data is read.
//!
//! # Example
//!
//! ```no_run
//! use hoist_convert::{NoReport, Options, OutType, convert};
//!
//! let opts = Options { out_type: OutType::Auto, threads: 0 };
//! let summary = convert("models/TinyLlama".as_ref(), "tinyllama.gguf".as_ref(), &opts, &NoReport)?;
//! println!("{} tensors, {} parameters, {}", summary.tensors, summary.parameters, summary.file_type);
//! # Ok::<(), hoist_convert::ConvertError>(())
//! ```
//!
//! # Why it is built so
//!
//! - **Identical output.** Every rule is a port of the reference's facts (tensor_mapping.py,
//!   the metadata keys and their order, the q/k permutation, numpy's F16 and ggml's BF16
//!   rounding, Q8_0 through hoist-quant's port of ggml's reference quantizer, which tensors
//!   stay F32); tests compare every tensor's bytes and every
//!   metadata value with digests of files the reference wrote.
//! - **Streaming.** Weights are memory-mapped, never loaded whole; tensors are converted in
//!   slices of a million elements (whole when their rows are reordered) on a rayon pool, each
//!   written at its offset with writeback started at once, so peak memory is a slice (or
//!   such a tensor) per thread, not the model, and the disk writes while the cores convert.
//! - **Nothing half-written.** The output is written to a temporary file beside the target
//!   and renamed over it only when complete.

mod arch;
mod config;
mod error;
mod lora;
mod metadata;
mod modelcard;
mod numeric;
mod plan;
pub mod safetensors;
mod tensor;
mod tokenizer;
mod write;

use std::path::Path;

pub use error::ConvertError;

/// The `--type` of the output: what matrices are stored as (1-D tensors and norms stay F32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutType {
    F32,
    F16,
    Bf16,
    /// ggml's Q8_0; a matrix whose rows do not split into 32-element blocks falls back to
    /// F16, as the reference does.
    Q8_0,
    /// The 16-bit type of the checkpoint's first BF16/F16 matrix, else F16.
    Auto,
}

impl std::str::FromStr for OutType {
    type Err = String;
    fn from_str(s: &str) -> Result<OutType, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(OutType::F32),
            "f16" => Ok(OutType::F16),
            "bf16" => Ok(OutType::Bf16),
            "auto" => Ok(OutType::Auto),
            "q8_0" => Ok(OutType::Q8_0),
            other => Err(format!("unknown type {other:?} (f32, f16, bf16, q8_0, auto)")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub out_type: OutType,
    /// Threads converting tensors; 0 = one per core.
    pub threads: usize,
}

/// Progress of a conversion, by tensor bytes written.
pub trait Reporter: Sync {
    /// Before the tensor data: how many tensors and bytes will be written.
    fn begin(&self, tensors: usize, bytes: u64);
    /// After each tensor's bytes are written.
    fn tensor_written(&self, name: &str, bytes: u64);
}

/// A [`Reporter`] that ignores everything.
pub struct NoReport;

impl Reporter for NoReport {
    fn begin(&self, _: usize, _: u64) {}
    fn tensor_written(&self, _: &str, _: u64) {}
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// `general.architecture`.
    pub architecture: String,
    /// The output type of the matrices ("F16", "BF16", "F32", "Q8_0").
    pub file_type: String,
    pub tensors: usize,
    pub parameters: u64,
    /// Size of the GGUF file.
    pub bytes: u64,
}

/// Converts the Hugging Face model in `dir` into the GGUF file `out`.
pub fn convert(dir: &Path, out: &Path, opts: &Options, reporter: &dyn Reporter) -> Result<Summary, ConvertError> {
    write::convert(dir, out, opts, reporter)
}

/// Converts the PEFT LoRA adapter in `adapter` (adapter_config.json,
/// adapter_model.safetensors) for the Hugging Face model in `base` (only its config.json
/// is read) into the GGUF adapter `out`, as `convert_lora_to_gguf.py` writes it.
/// `OutType::Auto` is F32, the reference's default for adapters.
pub fn convert_lora(
    adapter: &Path,
    base: &Path,
    out: &Path,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Summary, ConvertError> {
    lora::convert(adapter, base, out, opts, reporter)
}
