//! Test support: a real OCI registry for hoist's tests.
//!
//! [`RegistryServer`] starts CNCF distribution (`docker-registry` 2.8, the Debian
//! package of that name) on a free `127.0.0.1` port with its storage, config and log
//! in a temp dir, waits until it answers, and kills it and removes everything on
//! drop — also when the test panics. It is a dev-dependency only.
//!
//! # Main types
//!
//! - [`RegistryOptions`] picks the set-up: [`RegistryAuth`] (anonymous, HTTP Basic
//!   against an htpasswd file, or bearer tokens) and plain HTTP or TLS.
//! - [`RegistryServer`] is the running registry: where it listens ([`host`],
//!   [`base_url`]), what a client must trust ([`ca_cert_path`], [`ca_dir`]), where it
//!   keeps blobs ([`storage_dir`]), and its log ([`log_tail`]) for failure messages.
//! - [`TokenUser`] is a user of the in-process token issuer that backs
//!   [`RegistryAuth::Token`], with the repositories it may pull from and push to;
//!   [`token_requests`] counts the tokens issued, so a client's token cache can be tested.
//! - [`FaultProxy`] stands between a client and a plain-HTTP registry, counts the
//!   body bytes it serves ([`ServedRequest`] per request) and injects [`Fault`]s:
//!   error statuses with `Retry-After`, connections reset or closed mid-body,
//!   flipped bytes — for the client's retry, resume and verification tests.
//! - [`ChatServer`] is the HTTP side of a stand-in model server (llama-server's
//!   `/health`, `/v1/models` and streamed `/v1/chat/completions`), started on the
//!   port a stand-in runtime was given, for `hoist chat`'s tests.
//! - [`GitServer`] serves bare repositories over git's smart HTTP protocol
//!   (`git http-backend`) with a Git LFS batch endpoint beside them, counts the
//!   LFS bytes it serves and can require credentials or corrupt an object, for
//!   `hoist build`'s ADD of git repositories.
//! - [`require_tool`] finds a program the tests drive (skopeo, curl) or fails with
//!   the command that installs it.
//!
//! [`host`]: RegistryServer::host
//! [`base_url`]: RegistryServer::base_url
//! [`ca_cert_path`]: RegistryServer::ca_cert_path
//! [`ca_dir`]: RegistryServer::ca_dir
//! [`storage_dir`]: RegistryServer::storage_dir
//! [`log_tail`]: RegistryServer::log_tail
//! [`token_requests`]: RegistryServer::token_requests
//!
//! # Example
//!
//! ```no_run
//! use hoist_testkit::{RegistryAuth, RegistryOptions, RegistryServer, TokenUser};
//!
//! let registry = RegistryServer::start(RegistryOptions {
//!     auth: RegistryAuth::Token { users: vec![TokenUser::new("alice", "secret", &["*"], &["test/*"])] },
//!     tls: true,
//! });
//! let url = format!("{}/v2/test/model/manifests/latest", registry.base_url());
//! let ca = registry.ca_cert_path().unwrap();
//! // ... point the client under test at `url`, trusting `ca`, as alice ...
//! # let _ = (url, ca);
//! assert!(registry.token_requests() > 0, "log:\n{}", registry.log_tail());
//! ```
//!
//! # Why it is built so
//!
//! Registries differ from the spec in the details a client trips over (challenge
//! headers, which status a denied push gets, redirects, digests of uploads), so the
//! registry client is tested against a real one rather than a mock. Distribution is
//! the reference implementation, ships as a Debian package and starts in well under a
//! second, so every test can have its own registry and tests stay independent and
//! parallel. The token issuer runs in-process because distribution has none of its
//! own; it follows the Docker token protocol (ES256 JWTs with an `x5c` chain that
//! the registry verifies against its `rootcertbundle`) like Docker Hub or Harbor do.
//! Certificates are generated per registry so that nothing on the machine has to be
//! trusted or installed.

mod bytes;
mod chat;
mod git_server;
mod probe;
mod process;
mod proxy;
mod server;
mod tls;
mod token;

pub use bytes::{gzip, pax_record, pseudo_random};
pub use chat::{ChatServer, ChatServerOptions, STAND_IN_MODEL};
pub use git_server::{GitRequest, GitServer, LFS_TOKEN_HEADER};
pub use process::require_tool;
pub use proxy::{Fault, FaultProxy, ServedRequest};
pub use server::{RegistryAuth, RegistryOptions, RegistryServer};
pub use token::TokenUser;
