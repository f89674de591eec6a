//! The crate's error type.

use std::path::PathBuf;

use hoist_gguf::{GgmlType, GgufError};

/// Everything that can go wrong choosing types, reading inputs or writing the output.
/// Messages name the tensor, file or type involved, on one line.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("{what} {} is not supported", ty.name())]
    UnsupportedType { ty: GgmlType, what: &'static str },
    #[error("a row of {n_per_row} values is not a whole number of {} blocks", ty.name())]
    RowNotBlocks { ty: GgmlType, n_per_row: usize },
    #[error("{} rows of {n_per_row}: {values} values and {bytes} bytes are not the same whole number of rows", ty.name())]
    BufferSize { ty: GgmlType, n_per_row: usize, values: usize, bytes: usize },
    #[error("importance matrix has {actual} weights for rows of {expected} values")]
    ImatrixLength { expected: usize, actual: usize },
    #[error("unknown quantization type '{name}' (try Q4_K_M, Q8_0, Q6_K, ... as llama-quantize names them)")]
    UnknownFileType { name: String },
    #[error("{flag}: unknown ggml type '{name}'")]
    UnknownGgmlType { flag: &'static str, name: String },
    #[error(
        "quantizing to {name} needs an importance matrix, as llama-quantize insists: pass --imatrix FILE (made by llama-imatrix)"
    )]
    ImatrixRequired { name: &'static str },
    #[error("quantization type {name} is not supported yet (the IQ1/IQ2/IQ3 families come later)")]
    FileTypeNotYet { name: String },
    #[error("--tensor-type '{arg}': {reason}")]
    BadOverride { arg: String, reason: String },
    #[error("no tensor type fallback is defined for type {}", ty.name())]
    NoFallback { ty: GgmlType },
    #[error("tensor '{tensor}': cannot determine its layer ({reason})")]
    BadLayer { tensor: String, reason: String },
    #[error("importance matrix {}: {reason}", path.display())]
    BadImatrix { path: PathBuf, reason: String },
    #[error("input {}: {source}", path.display())]
    Input {
        path: PathBuf,
        #[source]
        source: GgufError,
    },
    #[error("input and output are the same file: {}", path.display())]
    SameFile { path: PathBuf },
    #[error("{}: a split model's first shard must be named {expected}", path.display())]
    SplitName { path: PathBuf, expected: String },
    #[error("--keep-split: input shard {shard} of {count} holds no tensors, so shard {} would be empty", path.display())]
    EmptyShard { path: PathBuf, shard: usize, count: usize },
    #[error("{}: big-endian GGUF is not supported", path.display())]
    BigEndian { path: PathBuf },
    #[error("this quantization requires an importance matrix: tensor '{tensor}' would be {}; pass --imatrix FILE (made by llama-imatrix)", ty.name())]
    NeedsImatrix { tensor: String, ty: GgmlType },
    #[error("tensor '{tensor}' is already quantized ({}): requantizing is disabled; pass --allow-requantize", ty.name())]
    Requantize { tensor: String, ty: GgmlType },
    #[error("tensor '{tensor}': {what} {} is not supported", ty.name())]
    TensorType { tensor: String, ty: GgmlType, what: &'static str },
    #[error("imatrix size {size} is different from tensor size {expected} for '{tensor}'")]
    ImatrixSize { tensor: String, size: u64, expected: u64 },
    #[error("imatrix contains a non-finite value for '{tensor}'")]
    ImatrixNotFinite { tensor: String },
    #[error("input sets general.alignment = {value}; only 32 can be rewritten as llama-quantize does")]
    Alignment { value: String },
    #[error("thread pool: {reason}")]
    Threads { reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Gguf(#[from] GgufError),
}
