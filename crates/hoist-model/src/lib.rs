//! Model artifact formats for hoist: what model files are, and how they become
//! OCI artifacts in Docker's model format or the CNCF ModelPack format, and how
//! such artifacts read back.
//!
//! # Main types
//!
//! - [`PackSource`] finds the files to pack: a GGUF (with its sibling shards),
//!   a DDUF, a safetensors file or a directory, each file given a [`FileRole`]
//!   by [`classify`] (the conventions users know from modctl and Docker),
//!   overridable by [`ClassOverrides`].
//! - [`pack`] copies each file once into the store's `ingest/`, hashing it and
//!   reading its header ([GGUF](hoist_gguf), safetensors, `config.json`) from
//!   the same bytes, gathers [`ModelFacts`], writes a [`DockerModelConfig`] or
//!   [`ModelPackConfig`] and a manifest, and tags it.
//! - [`StoredModel`] and [`describe`] read any of the formats back into one
//!   [`ModelInfo`] for listing and inspection; [`gguf_layers`] and
//!   [`read_layer_header`] find a model's GGUF files and read their headers
//!   from any source (over a registry, only the header's byte ranges);
//!   [`read_tar_headers`] does the same for GGUF files inside an image's tar
//!   layers (gguf-packer images): plain tars walked by ranged reads that jump
//!   over file data, gzip and zstd tars streamed and dropped once the headers
//!   are in.
//! - [`unpack`] turns a stored model into a [`Bundle`]: a directory of
//!   hardlinks to the read-only blobs (tar layers extracted, every path
//!   checked) where a runtime finds its files; [`runtime_argv`] builds the
//!   llama-server or vLLM command for it from the artifact's
//!   [`stored_command`], the bundle and the user's arguments.
//! - [`cog`] writes and reads Cog-style bundles: `weights.lock`, the weights
//!   artifact and the OCI index that holds it beside a runnable image.
//!
//! # Example
//!
//! ```no_run
//! use std::time::SystemTime;
//! use hoist_model::{NoPackReporter, PackFormat, PackOptions, PackSource, SourceOptions, pack};
//! use hoist_store::Store;
//!
//! let store = Store::new("/tmp/hoist-store");
//! let source = PackSource::collect("model.gguf".as_ref(), &SourceOptions::default())?;
//! let options = PackOptions {
//!     format: PackFormat::Docker,
//!     context_size: None,
//!     created: SystemTime::now(),
//!     reproducible: false,
//! };
//! let outcome = pack(&store, &source, &"tiny:1".parse()?, &options, &NoPackReporter)?;
//! println!("{}", outcome.descriptor.digest);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why it is built so
//!
//! Weight files are large: each is read exactly once, and every fact the config
//! needs comes from that one pass. Staged blobs are committed only after every
//! file has been read and checked, so bad input leaves the store unchanged.
//! Reading is tolerant (an unknown config reads as an artifact without facts),
//! writing is strict and canonical (same files, same options, same digest).
//! Bundles are hardlinks, not copies: a runtime gets a directory in an instant
//! and no extra disk, and the blobs' read-only mode keeps it from writing
//! through them into the store.

mod bundle;
mod classify;
pub mod cog;
mod command;
mod describe;
mod docker;
mod error;
mod facts;
mod gguf_layers;
mod glob;
mod inspect_stream;
pub mod media;
mod modelpack;
mod pack;
mod runtime;
mod safetensors;
mod select;
mod source;
mod tar_headers;

pub use bundle::{BUNDLE_MARKER, Bundle, UnpackOptions, unpack};
pub use classify::{ClassOverrides, FileKind, FileRole, classify};
pub use cog::{BundleFormat, BundleOutcome, Compression, LockOptions, WeightFile, WeightsLock};
pub use command::{command_has, command_value, stored_command};
pub use describe::{ArtifactKind, LayerInfo, ModelInfo, StoredModel, describe};
pub use docker::DockerModelConfig;
pub use error::ModelError;
pub use facts::{FileFacts, ModelFacts, ModelFormat};
pub use gguf_layers::{LayerHeader, gguf_layers, read_layer_header};
pub use glob::Glob;
pub use modelpack::ModelPackConfig;
pub use pack::{NoPackReporter, PackFormat, PackOptions, PackOutcome, PackReporter, pack};
pub use runtime::{RunOptions, Runtime, runtime_argv, shell_join, shell_quote};
pub use safetensors::SafetensorsHeader;
pub use select::{LayerSelection, PlatformSpec, annotated_path, image_for_platform};
pub use source::{PackSource, SourceFile, SourceLayout, SourceOptions};
pub use tar_headers::{TarGguf, TarHeaders, has_tar_layers, read_tar_headers};

/// Sizes as Docker shows them: decimal units, two decimals ("1.06GB").
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}
