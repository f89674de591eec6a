//! hoist's OCI distribution client: a registry repository as a copy source and
//! destination, so that push, pull and copy are all `hoist_oci::copy_graph`
//! between a [`Repository`] and the local store (or another repository).
//!
//! # Main types
//!
//! - [`RegistryClient`] holds one HTTP client (one connection pool, HTTP/2 where
//!   the registry offers it) and the authentication state: the scheme each
//!   registry asked for, credentials (from [`ClientOptions`] or Docker's
//!   `config.json`, its credential helpers and store), and bearer tokens cached
//!   per host and scope set. Clones share all of it.
//! - [`Repository`] is one repository of one registry, opened with
//!   [`RegistryClient::repository`] or [`Repository::from_reference`]. It
//!   implements `hoist_oci::Source` (resolve a tag, fetch blobs whole, as a
//!   stream from an offset, or as a byte range for parallel and resumed pulls) and `hoist_oci::Destination` (HEAD to skip, mount
//!   across repositories, streaming upload, manifests, tags). A blob goes up as
//!   one streaming PUT, or in chunks ([`Repository::upload_chunked`]) when the
//!   registry refuses that with 413.
//! - [`RegistryError`] names the registry and repository, the operation, the
//!   HTTP status and the registry's error codes; at the trait boundary it
//!   becomes a `hoist_oci::TargetError` (not found, verification, backend).
//!   A request that got no answer reads "cannot reach registry HOST (connection
//!   refused)"; the network stack's own account is its source, a
//!   [`TransportDetail`], for a program to show on request.
//! - [`credentials::save_login`] and [`credentials::remove_login`] write Docker's
//!   `config.json` for `hoist login` / `hoist logout`; [`RegistryClient::check_login`]
//!   tests a login.
//!
//! # Example
//!
//! ```no_run
//! use hoist_oci::{CopyOptions, NoTransferReporter, Reference, Source, copy_graph};
//! use hoist_registry::{ClientOptions, RegistryClient, Repository};
//! use hoist_store::{Store, StoreDestination};
//!
//! # async fn pull() -> Result<(), Box<dyn std::error::Error>> {
//! let client = RegistryClient::new(ClientOptions::default())?;
//! let reference: Reference = "registry.example.com/team/qwen2:0.5b".parse()?;
//! let repository = Repository::from_reference(&client, &reference)?;
//! let root = repository.resolve("0.5b").await?;
//!
//! let store = Store::new("/var/lib/hoist");
//! let destination = StoreDestination::new(&store)?;
//! let report = copy_graph(
//!     &repository,
//!     &destination,
//!     &root,
//!     Some(&reference.to_string()),
//!     &CopyOptions::default(),
//!     &NoTransferReporter,
//! )
//! .await?;
//! # let _ = report;
//! # Ok(())
//! # }
//! ```
//!
//! # Why it is built so
//!
//! - **Our own client on reqwest, not oci-client.** oci-client holds whole layers
//!   in memory on push and pull, never HEAD-skips, treats a 202 on mount as an
//!   error and scopes mount tokens without pull on the source, has no retries,
//!   and cannot be handed our own HTTP client. Model weights are gigabytes: every
//!   byte here streams from source to destination once, hashed on the way by
//!   whichever side writes it.
//! - **One client, one pool, one token cache.** A push asks for one token with
//!   `pull,push` on the repository and every request of the push uses it;
//!   concurrent transfers wait for the first token fetch instead of each
//!   fetching their own. The scheme a registry challenged with is remembered, so
//!   later requests carry credentials from the start.
//! - **Retries where repeating is safe** (GET, HEAD, manifest PUT, DELETE, and
//!   the POSTs that start an upload or a mount, which at worst leave an unused
//!   session to expire): connection errors, 5xx and 429, with backoff from
//!   200 ms that honours `Retry-After` (at most 30 s), 4 attempts. A streamed
//!   blob PUT is sent once: its body cannot be replayed.
//! - **Loopback registries** (`localhost`, `127.0.0.1`, `[::1]`) get HTTPS
//!   first and plain HTTP when they answer the TLS handshake in plain text (as
//!   containerd does), so a local test registry works with or without TLS;
//!   a certificate error is never downgraded.
//! - **rustls with ring**, configured here: system roots (or Mozilla's), an extra
//!   CA file, or `insecure`; ALPN offers HTTP/2.
//! - **Secrets never show**: credentials and tokens live in types without a
//!   derived `Debug`, header values are marked sensitive, and error messages are
//!   built from the operation, the status and the registry's error body, never
//!   from the request.

mod auth;
mod challenge;
mod chunked;
mod client;
pub mod credentials;
mod download;
mod error;
mod range;
mod repository;
mod retry;
mod tls;
mod upload;

pub use chunked::DEFAULT_CHUNK_SIZE;
pub use client::{ClientOptions, RegistryClient};
pub use error::{RegistryError, RegistryErrorEntry, RegistryErrors, TransportDetail};
pub use repository::Repository;
