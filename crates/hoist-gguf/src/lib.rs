//! GGUF for hoist: read a model file's header (never its tensor data), summarise the
//! model, and write GGUF files, including synthetic models for demos, tests and benchmarks.
//!
//! # Main types
//!
//! - [`parse_header`] turns the leading bytes of a file into a [`GgufHeader`]: version,
//!   [`ByteOrder`], metadata as `(key, `[`Value`]`)` pairs in file order, [`TensorInfo`]s
//!   (name, dims, [`GgmlType`], offset) and where the tensor data starts.
//! - [`HeaderAccumulator`] drives that parser from a stream of chunks (a file being hashed
//!   into the store); [`read_header_from_path`] from a file on disk.
//! - [`GgufHeader::summary`] gives a [`ModelSummary`]: architecture, parameters, bits per
//!   weight, file type ([`file_type_name`]), context length; [`format_parameters`] prints
//!   parameter counts the way users know them ("494.03M").
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
//! # Why it is built so
//!
//! Models are gigabytes; their headers are kilobytes to a few megabytes. The parser works
//! on whatever prefix it is given and, when that ends early, answers `Incomplete { needed }`
//! with a lower bound of the bytes required. Callers fetch more and parse again from
//! scratch, which keeps the parser stateless and lets the same code serve a byte slice, a
//! stream being hashed, a file, or ranged reads from a remote registry. The input is
//! untrusted: every count and length is checked against the bytes that could hold it
//! before anything is allocated, and no input makes it panic.

mod error;
mod header;
mod parse;
mod read;
mod summary;
pub mod synth;
mod types;
mod value;
mod write;

pub use error::GgufError;
pub use header::{GgufHeader, TensorInfo};
pub use parse::parse_header;
pub use read::{HeaderAccumulator, read_header_from_path};
pub use summary::{ModelSummary, format_parameters};
pub use types::{GgmlType, file_type_id, file_type_name};
pub use value::{Array, ByteOrder, Value, ValueType};
pub use write::GgufWriter;
