//! hoist's local content-addressed store: an [OCI image layout] on disk, with
//! atomic ingest, locking, prune and verify.
//!
//! # Main types
//!
//! - [`Store`] is a handle on a store directory. It reads (list, resolve, open and
//!   read blobs), untags, prunes and verifies. Creating one does no I/O.
//! - [`WriteSession`] is how anything is added: it holds the gc lock shared for as
//!   long as a writer needs (from the first blob to the tag).
//! - [`Ingest`] is a temp file in `ingest/` that hashes what is written to it;
//!   [`Ingest::finish`] turns it into a [`StagedBlob`], checked and synced but not
//!   yet visible; [`StagedBlob::commit`] renames it into `blobs/`. Either one
//!   dropped early removes its temp file.
//! - [`WriteSession::tag`] names a manifest in `index.json`; [`Store::list`] and
//!   [`Store::resolve`] read it back as [`Tagged`] entries and [`Resolved`] models.
//! - [`WriteSession::cache_insert`] and [`Store::cache_lookup`] keep caches of
//!   other crates (the build's steps) as small indexes under `caches/`.
//! - [`Store::prune`] returns a [`PruneReport`]; [`Store::verify`] a
//!   [`VerifyReport`], reporting progress through a [`VerifyReporter`].
//!
//! # Example
//!
//! ```
//! use hoist_oci::{Descriptor, ImageManifest, Reference, media_types};
//! use hoist_store::{NoVerifyReporter, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = std::env::temp_dir().join(format!("hoist-store-doc-{}", std::process::id()));
//! let _ = std::fs::remove_dir_all(&root);
//! let store = Store::new(root.clone());
//!
//! // Hold the session from the first blob until the tag is written.
//! let session = store.write_session()?;
//! let (digest, size) = session.put_bytes(b"pretend these are weights")?;
//! let layer = Descriptor::new("application/vnd.example.weights", digest, size);
//! let (digest, size) = session.put_bytes(b"{}")?;
//! let manifest = ImageManifest::new(Descriptor::new(media_types::OCI_EMPTY, digest, size), vec![layer]);
//! let (digest, size) = session.put_bytes(&manifest.to_canonical_json())?;
//! let reference: Reference = "qwen2:0.5b".parse()?;
//! session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest.clone(), size), &reference)?;
//! drop(session);
//!
//! assert_eq!(store.list()?[0].reference, "qwen2:0.5b");
//! let model = store.resolve(&digest.hex()[..8])?; // the model ID, by prefix
//! assert_eq!(model.references, ["qwen2:0.5b"]);
//! assert_eq!(store.prune()?.blobs_removed, 0); // everything is reachable
//! assert!(store.verify(&NoVerifyReporter)?.is_ok());
//! std::fs::remove_dir_all(&root)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Why it is built so
//!
//! - **A standard OCI image layout** (`oci-layout`, `index.json` with
//!   `org.opencontainers.image.ref.name` = the full reference, `blobs/sha256/<hex>`),
//!   so other tools read the store as it is: `skopeo inspect --raw oci:<store>:<ref>`.
//! - **Ingest, then atomic rename.** Blobs are written into `ingest/` (same file
//!   system) while being hashed, fsynced, then renamed into `blobs/`: `blobs/` never
//!   holds a partial file, and a blob's name is always its content's digest. The
//!   two phases (stage, then commit) let `pack` commit only when every file
//!   succeeded, so a failed command leaves the store as it was. Committed blobs are
//!   read-only (0444) because bundles hardlink them.
//! - **Hash and write overlap.** [`Ingest::write_chunk`] hashes a chunk on the
//!   caller's thread while a background thread writes it past the page cache
//!   (`O_DIRECT`, from an aligned buffer) where the file system allows, else
//!   through it with writeback started at once; so on two cores a pack runs at
//!   the speed of the hash whatever the page cache is doing, and the fsync
//!   before commit finds little left to write.
//! - **Large blobs arrive in parallel ranges, hashed in order, resumable.**
//!   [`StoreDestination`] copies a blob of 64 MiB or more from a source that
//!   serves byte ranges (`Source::fetch_range`) with several workers (8 unless
//!   [`StoreDestination::with_range_concurrency`] says otherwise). The first
//!   fetches each missing range in bounded requests; while the hasher waits
//!   for bytes and (for a part faster than 128 MiB/s) the machine has idle
//!   cores (the link is the bottleneck), and the remainder would take more
//!   than a second at its pace, an idle one takes the second half of what it
//!   has not asked for yet (4 MiB or more), and so on: a fast link, or a
//!   machine whose cores are the bottleneck, stays one connection making a few
//!   long requests (nothing fetched twice), a slow or per-connection-limited
//!   one ends with every worker busy, and one slow connection never holds the
//!   tail. What arrives is copied once into aligned 1 MiB pieces, each handed
//!   at once to one hasher thread (which follows the contiguous prefix of
//!   received bytes) and to its part's write queue into one file,
//!   `ingest/<hex>.partial`, so hashing never waits for the disk. Pieces held
//!   for either stay within a 64 MiB budget (the workers wait beyond it);
//!   only when the hasher waits at a gap that a slower part leaves do bytes
//!   past it go to the disk alone, to be read back (as are bytes an
//!   interrupted earlier pull wrote): memory stays bounded whatever the blob's
//!   size, and the digest is ready when the last byte lands. A range whose
//!   stream fails is fetched again from the byte it reached
//!   (5 attempts, backoff from 200 ms). Size and digest are checked before the
//!   file is committed like any other staged blob; a mismatch is not retried: the
//!   error names the blob and the partial file is removed.
//! - **Resume.** After every range, before every retry and every 64 MiB, the
//!   merged list of written ranges is saved beside the partial file in
//!   `ingest/<hex>.state` (temp + rename), so a pull
//!   interrupted by a crash, a kill or the network downloads only what is missing
//!   the next time, after re-hashing what is there. The download that owns a
//!   partial file holds an exclusive `flock` on it; a second download of the same
//!   blob (in this process or another) waits for that lock rather than fetching
//!   the same bytes, then finds the blob committed, or resumes where the first
//!   stopped. Sources without ranges, and smaller blobs, stream once through
//!   [`Ingest`]. [`Store::prune`] empties `ingest/`, so it discards this
//!   resumable state too.
//! - **`index.json` is rewritten whole** (temp file + rename) under an exclusive
//!   *index lock*, after re-reading it, so two processes tagging at once never lose
//!   an entry, and readers never need a lock.
//! - **The gc lock** is separate and long-lived: writers hold it shared from the
//!   first blob until after tagging, and prune holds it exclusive, so prune never
//!   deletes a blob a concurrent writer has committed but not yet tagged. Writers
//!   do not block each other. Both locks are `flock`-style (per open file, released
//!   when a process dies), so a crashed writer never wedges the store.
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

mod background;
mod blob;
mod blocking;
mod cache;
mod direct;
mod error;
mod gc;
mod index;
mod ingest;
mod layout;
mod lock;
mod partial;
mod ranged;
mod ranges;
mod resolve;
mod streamed;
mod target;
mod verify;

use std::path::{Path, PathBuf};

pub use blob::MAX_MANIFEST_SIZE;

/// The index.json annotation marking a partial model: one pulled with a layer
/// filter (`pull --include/--exclude`). Its value says which filter. `verify`
/// reports the layers such a model leaves out as not pulled, not missing; a
/// later full pull replaces the entry.
pub const ANNOTATION_PARTIAL: &str = "io.hoist.partial";
pub use cache::ANNOTATION_CACHE_KEY;
pub use error::StoreError;
pub use gc::PruneReport;
pub use index::Tagged;
pub use ingest::{Ingest, StagedBlob, WriteSession};
pub use resolve::Resolved;
pub use target::StoreDestination;
pub use verify::{NoVerifyReporter, VerifyReport, VerifyReporter};

/// A handle on a store directory. Cheap to create and clone; handles on the same
/// root (in this process or others) coordinate through lock files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// No I/O: the layout is created by [`init`](Self::init), which the first
    /// write session calls.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
