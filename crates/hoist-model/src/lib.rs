//! Model artifact formats for hoist: what model files are, how they become
//! OCI artifacts (Docker's model format, CNCF ModelPack, Cog's weights
//! bundle), how any such artifact or a gguf-packer image reads back, and how
//! one becomes a directory a runtime starts from.
//!
//! # Layers
//!
//! The modules are layers; each uses only the ones below it:
//!
//! | layer | what it holds |
//! |---|---|
//! | [`chat`] | the chat protocol a running server speaks: request bodies, server-sent events, a [`Conversation`] |
//! | [`derive`] | a stored model's new weights packed with its license, chat template, projector ([`pack_derived`]) |
//! | [`runtime`] | which server runs an unpacked model ([`Runtime`]) and its argv ([`runtime_argv`]) |
//! | [`pack`](mod@pack), [`unpack`](mod@unpack) | files -> artifact ([`pack()`]); artifact -> [`RuntimeDir`] ([`unpack()`]) |
//! | [`read`] | any artifact back: what it refers to ([`Parts`], by `hoist_oci::successors`), [`ModelInfo`], its GGUF layers and headers, an index's image by platform, a pull's [`LayerSelection`] |
//! | [`formats`] | one module per format: [`docker`](formats::docker), [`modelpack`](formats::modelpack), [`cog`] (weights.lock, weights artifact, the bundle index), [`packer`](formats::packer) (gguf-packer images: stored command, GGUF files in tar layers) |
//! | [`util`] | media types, [`Compression`], [`Glob`], shard names, shell quoting, [`format_size`] |
//!
//! # Main types
//!
//! - [`PackSource`] finds the files to pack: a GGUF (with its sibling shards),
//!   a DDUF, a safetensors file or a directory, each file given a [`FileRole`]
//!   by [`classify`] (the conventions users know from modctl and Docker),
//!   overridable by [`ClassOverrides`].
//! - [`pack()`] copies each file once into the store's `ingest/`, hashing it and
//!   reading its header ([GGUF](hoist_gguf), safetensors, `config.json`) from
//!   the same bytes, gathers [`ModelFacts`], writes a [`DockerModelConfig`] or
//!   [`ModelPackConfig`] and a manifest, and tags it.
//! - [`StoredModel`] and [`describe`] read any of the formats back into one
//!   [`ModelInfo`] for listing and inspection; [`gguf_layers`] and
//!   [`read_layer_header`] find a model's GGUF files and read their headers
//!   from any source (over a registry, only the header's byte ranges);
//!   [`read_tar_headers`] does the same for GGUF files inside a gguf-packer
//!   image's tar layers: plain tars walked by ranged reads that jump over file
//!   data, gzip and zstd tars streamed and dropped once the headers are in.
//! - [`unpack()`] turns a stored model into a [`RuntimeDir`]: a directory of
//!   hardlinks to the read-only blobs (tar layers extracted, every path
//!   checked) where a runtime finds its files; [`runtime_argv`] builds the
//!   llama-server or vLLM command for it from the artifact's
//!   [`stored_command`], the directory and the user's arguments.
//! - [`DerivedSource`] unpacks a stored model into the store's scratch space
//!   for `hoist quantize -t` and `hoist convert -t`; [`pack_derived`] packs
//!   the new weights with the source's license, chat template, projector and
//!   context size, in the source's artifact format.
//! - [`cog`] writes and reads Cog bundles: `weights.lock`, the weights
//!   artifact and the OCI index that holds it beside a runnable image
//!   (`hoist bundle`; "bundle" is Cog's word, and only this module uses it).
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
//! Runtime directories are hardlinks, not copies: a runtime gets a directory in
//! an instant and no extra disk, and the blobs' read-only mode keeps it from
//! writing through them into the store. The layers keep each format's rules in
//! one module, so what writes a format (pack, `hoist weights`, the build
//! engine) and what reads it agree by construction.

pub mod chat;
pub mod derive;
mod error;
pub mod formats;
pub mod pack;
pub mod read;
pub mod runtime;
pub mod unpack;
pub mod util;

pub use chat::{ChatError, Conversation, Sampling};
pub use derive::{Carry, DeriveOptions, DerivedSource, pack_derived};
pub use error::ModelError;
pub use formats::cog::{self, BundleFormat, BundleOutcome, LockOptions, WeightFile, WeightsLock};
pub use formats::docker::DockerModelConfig;
pub use formats::layer_path::annotated_path;
pub use formats::modelpack::ModelPackConfig;
pub use formats::packer::{
    TarGguf, TarHeaders, command_has, command_value, has_tar_layers, read_tar_headers, stored_command,
};
pub use pack::{
    ClassOverrides, FileFacts, FileKind, FileRole, ModelFacts, ModelFormat, NoPackReporter, PackFormat, PackOptions,
    PackOutcome, PackReporter, PackSource, SafetensorsHeader, SourceFile, SourceLayout, SourceOptions, classify, pack,
};
pub use read::{
    ArtifactKind, LayerHeader, LayerInfo, LayerSelection, ModelInfo, Parts, PlatformSpec, StoredModel, describe,
    gguf_layers, image_for_platform, read_layer_header,
};
pub use runtime::{RunOptions, Runtime, runtime_argv};
pub use unpack::{RUNTIME_DIR_MARKER, RuntimeDir, UnpackOptions, unpack};
pub use util::compression::Compression;
pub use util::glob::Glob;
pub use util::media;
pub use util::shell::{shell_join, shell_quote};
pub use util::size::format_size;
