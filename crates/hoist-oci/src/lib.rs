//! OCI building blocks shared by every hoist crate: content digests, descriptors,
//! image manifests and indexes, media-type constants and image references.
//!
//! This crate knows nothing about models. It is the bottom of the workspace: the
//! store, the registry client and the model formats all speak its types.
//!
//! # Main types
//!
//! - [`Digest`] names content (`sha256:<hex>`); [`DigestWriter`] computes one while
//!   bytes stream through it, so a blob is hashed in the same pass that writes it.
//! - [`Descriptor`] points at a blob by media type, digest and size.
//! - [`ImageManifest`] ties a config descriptor to layer descriptors;
//!   [`ImageIndex`] lists manifests (an OCI image layout's `index.json` is one).
//! - [`Reference`] parses `[registry/]repository[:tag][@digest]`; a name
//!   without a registry stays a local name, and [`Reference::or_docker_hub`]
//!   reads it as Docker does (`ai/smollm2` is `docker.io/ai/smollm2:latest`)
//!   where a registry is meant.
//! - [`successors`] says what a manifest or index refers to, each with its
//!   [`Edge`] (manifest, config, layer, blob, subject): the one definition that
//!   copy, gc, verify, partial pulls, describe and unpack all walk by.
//! - [`TargetError`] splits failures into transient and permanent; [`retry`]
//!   holds the one rule (attempts, backoff, `Retry-After`) every transfer
//!   retries transient ones by.
//! - [`Source`] and [`Destination`] are what every place that holds content
//!   (the local store, a registry repository, an image-layout directory)
//!   implements; [`copy_graph`] copies an artifact's graph from one to the
//!   other, children before parents, skipping what the destination has and
//!   mounting where it can, reporting through a [`TransferReporter`]. Push,
//!   pull and copy are all this one function.
//!
//! # Example
//!
//! ```
//! use hoist_oci::{Descriptor, Digest, ImageManifest, Reference, media_types};
//!
//! let config = br#"{"config":{}}"#;
//! let config_desc = Descriptor::for_bytes(media_types::OCI_EMPTY, config);
//! let manifest = ImageManifest::new(config_desc, vec![]);
//! let bytes = manifest.to_canonical_json();
//! // Same inputs, same bytes, same digest.
//! assert_eq!(Digest::of(&bytes), Digest::of(&manifest.to_canonical_json()));
//!
//! let r: Reference = "registry.example.com/team/qwen2".parse().unwrap();
//! assert_eq!(r.to_string(), "registry.example.com/team/qwen2:latest");
//! ```
//!
//! # Why it is built so
//!
//! Targets are two small async traits with default methods for optional
//! abilities (ranged reads, mounts), so that one copy engine serves every pair
//! of places and a new kind of place is one implementation, never a special
//! case in the engine. This crate knows nothing about models and does no I/O of
//! its own.
//!
//! The manifest and descriptor types are our own rather than `oci-spec`'s because a
//! digest is only stable if serialization is: annotations live in a `BTreeMap` and
//! fields serialize in one fixed order, so packing the same files twice gives the
//! same manifest digest. Unknown fields are kept (`extra`) so that a manifest read
//! from elsewhere re-serializes without losing anything; where bytes must be kept
//! exactly (a manifest fetched from a registry), callers keep the raw bytes and
//! use these types only to read them.

mod copy;
mod descriptor;
mod digest;
mod error;
mod manifest;
pub mod media_types;
mod reference;
pub mod retry;
mod successors;
mod target;

pub use copy::{CopyOptions, CopyReport, LayerFilter, copy_graph};
pub use descriptor::{Descriptor, Platform};
pub use digest::{Digest, DigestWriter};
pub use error::OciError;
pub use manifest::{ImageIndex, ImageManifest};
pub use reference::{DOCKER_HUB, Reference};
pub use successors::{Edge, Successor, has_successors, successors};
pub use target::{BlobOutcome, BlobStream, Destination, NoTransferReporter, Source, TargetError, TransferReporter};

/// The annotation that names an image in an OCI image layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The standard creation-time annotation.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
