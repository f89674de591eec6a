//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong reading, checking or writing GGUF.
///
/// Variants name what failed and where: a byte offset from the file start and the
/// key or tensor involved, so a corrupt download can be diagnosed from the message alone.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The buffer ends before the header does; fetch at least `needed` bytes from the
    /// file start and parse again.
    #[error("GGUF header incomplete: need at least the first {needed} bytes of the file")]
    Incomplete { needed: u64 },
    /// The file (or stream) is shorter than what its header declares.
    #[error("GGUF file truncated: {what} needs {needed} bytes but the file has {actual}")]
    Truncated { what: String, needed: u64, actual: u64 },
    #[error("not a GGUF file: magic bytes {found:02x?} at offset 0, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {version} at offset 4 (supported: 1 to 3)")]
    UnsupportedVersion { version: u32 },
    /// A declared count or length cannot fit in the file (or in 64 bits).
    #[error("{what} at offset {offset}: declared {length} cannot fit in the file")]
    LengthTooLarge { what: String, offset: u64, length: u64 },
    #[error("unknown value type {id} at offset {offset} ({what})")]
    UnknownValueType { id: u32, offset: u64, what: String },
    #[error("arrays nested too deeply at offset {offset} ({what})")]
    NestingTooDeep { what: String, offset: u64 },
    #[error("duplicate key '{key}' at offset {offset}")]
    DuplicateKey { key: String, offset: u64 },
    #[error("duplicate tensor '{tensor}' at offset {offset}")]
    DuplicateTensor { tensor: String, offset: u64 },
    #[error("tensor '{tensor}' at offset {offset}: {n_dims} dimensions (at most 4 allowed)")]
    TooManyDims { tensor: String, offset: u64, n_dims: u32 },
    #[error("tensor '{tensor}': data offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor { tensor: String, offset: u64, alignment: u64 },
    #[error("tensor '{tensor}': {reason}")]
    InvalidTensor { tensor: String, reason: String },
    /// The tensor type id is not one this crate knows, so its size is unknown.
    #[error("tensor '{tensor}': unknown tensor type id {id}, size unknown")]
    UnknownTensorType { tensor: String, id: u32 },
    #[error("invalid general.alignment: {reason}")]
    InvalidAlignment { reason: String },
    #[error("arithmetic overflow computing {what}")]
    Overflow { what: String },
    #[error("GGUF header needs {needed} bytes, above the limit of {limit}")]
    HeaderTooLarge { needed: u64, limit: u64 },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("I/O error on {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
