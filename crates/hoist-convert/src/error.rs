//! The one error type of the converter: every variant names what failed and where.

use std::path::PathBuf;

/// A conversion failure. Each message is one line naming the file (or directory) and,
/// where it applies, the tensor or key.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{path}: not a directory (expected a Hugging Face model directory)")]
    NotADirectory { path: PathBuf },
    #[error("{path}: no config.json, not a Hugging Face model directory")]
    NoConfig { path: PathBuf },
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: architecture {arch:?} is not supported (supported: {supported})")]
    UnsupportedArchitecture { path: PathBuf, arch: String, supported: &'static str },
    #[error(
        "{path}: no model*.safetensors and no model.safetensors.index.json (only safetensors checkpoints are read)"
    )]
    NoWeights { path: PathBuf },
    #[error("{path}: {reason}")]
    Safetensors { path: PathBuf, reason: String },
    #[error("{path}: tensor {tensor}: dtype {dtype} is not supported (F32, F16 and BF16 are)")]
    UnsupportedDtype { path: PathBuf, tensor: String, dtype: String },
    #[error("{path}: tensor {tensor} is not known to the {arch} tensor mapping")]
    UnknownTensor { path: PathBuf, tensor: String, arch: &'static str },
    #[error("{path}: tensor {tensor}: {reason}")]
    Tensor { path: PathBuf, tensor: String, reason: String },
    #[error("{path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error(
        "{path}: BPE pre-tokenizer not recognized: hash {hash} of the check text's token ids is not in llama.cpp's table"
    )]
    UnknownPreTokenizer { path: PathBuf, hash: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl ConvertError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ConvertError {
        let path = path.into();
        move |source| ConvertError::Io { path, source }
    }
}
