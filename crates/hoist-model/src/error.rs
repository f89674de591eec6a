use std::path::PathBuf;

use hoist_gguf::GgufError;
use hoist_store::StoreError;
use thiserror::Error;

/// Errors from reading model files and building or reading model artifacts.
/// Each names the file or artifact it is about.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a model file (expected .gguf, .safetensors, .dduf or a directory holding them)", path.display())]
    NotAModel { path: PathBuf },
    #[error("{}: no model weights found (.gguf, .safetensors, .dduf, .bin, .onnx ...); use --weight GLOB to name them", path.display())]
    NoModelFiles { path: PathBuf },
    #[error("{}: shard {missing} of this split model is missing", path.display())]
    MissingShard { path: PathBuf, missing: String },
    #[error("{}: not a valid GGUF file", path.display())]
    Gguf {
        path: PathBuf,
        #[source]
        source: GgufError,
    },
    #[error("{layer}: not a valid GGUF file")]
    GgufLayer {
        layer: String,
        #[source]
        error: GgufError,
    },
    /// A tar layer's entry (or header, named by its offset) that cannot be read.
    #[error("layer {layer}, {entry}: {reason}")]
    TarEntry { layer: String, entry: String, reason: String },
    #[error(
        "layer {layer}: gave up after {entries} entries ({} read in {requests} requests), too many to walk \
         remotely; pull the image to read it",
        crate::util::size::format_size(*bytes)
    )]
    TarWalkLimit { layer: String, entries: u64, bytes: u64, requests: u32 },
    /// The model files were looked for in an image's tar layers and not found.
    #[error("{what}: {missing} in its {layers} tar layers ({entries} entries read)")]
    NotInTarLayers { what: String, missing: String, layers: usize, entries: u64 },
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    Safetensors { path: PathBuf, reason: String },
    #[error("{}: not a valid DDUF file (a DDUF is a zip archive)", path.display())]
    Dduf { path: PathBuf },
    #[error("{}: {reason}", path.display())]
    BadInput { path: PathBuf, reason: String },
    #[error("two files would be stored as {rel_path:?}: {} and {}", first.display(), second.display())]
    DuplicatePath { rel_path: String, first: PathBuf, second: PathBuf },
    #[error("{}: the file changed while it was read (expected {expected} bytes, read {actual})", path.display())]
    ChangedWhileReading { path: PathBuf, expected: u64, actual: u64 },
    #[error("{what}: {reason}")]
    InvalidArtifact { what: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Target {
        #[from]
        source: hoist_oci::TargetError,
    },
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ModelError {
        let path = path.into();
        move |source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ModelError::NotFound { path }
            } else {
                ModelError::Io { path, source }
            }
        }
    }
}
