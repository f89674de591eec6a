//! [`RegistryClient`]: one HTTP client (one connection pool) and one auth state
//! shared by every repository it opens, and the request path every call takes:
//! credentials, one re-authentication on 401, retries, errors that name the call.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use crate::auth::{Auth, Scopes, read_limited};
use crate::error::{RegistryErrors, describe_http_error};
use crate::retry::{retry_after, send_with_retries};
use crate::{RegistryError, Repository, tls};
use hoist_oci::retry::MAX_ATTEMPTS;

/// Error bodies are small JSON documents; more is not worth reading.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How a [`RegistryClient`] connects and authenticates.
#[derive(Clone)]
pub struct ClientOptions {
    /// Plain HTTP for every registry. Without it, HTTPS is used, except that a
    /// loopback registry (`localhost`, `127.0.0.1`, `[::1]`, any port) that
    /// answers the TLS handshake in plain text is then spoken to in plain HTTP.
    pub plain_http: bool,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    pub user_agent: String,
    /// User and password for every registry, instead of Docker's config.json.
    pub credentials: Option<(String, String)>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            plain_http: false,
            insecure: false,
            ca_file: None,
            user_agent: concat!("hoist/", env!("CARGO_PKG_VERSION")).to_string(),
            credentials: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("plain_http", &self.plain_http)
            .field("insecure", &self.insecure)
            .field("ca_file", &self.ca_file)
            .field("user_agent", &self.user_agent)
            .field("credentials", &self.credentials.as_ref().map(|(user, _)| format!("{user}:<redacted>")))
            .finish()
    }
}

/// A client for OCI distribution registries. Cloning is cheap and shares the
/// connection pool and the token cache.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    plain_http: bool,
    auth: Auth,
    /// Loopback registries found to answer plain HTTP.
    plain_loopback: Mutex<HashSet<String>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient").field("plain_http", &self.inner.plain_http).finish_non_exhaustive()
    }
}

/// One call to a registry, described for the request path and for errors.
pub(crate) struct Call<'a> {
    /// The registry as named (credentials and tokens are per this name).
    pub registry: &'a str,
    /// `registry/repository`, for errors.
    pub target: &'a str,
    /// What the call does, for errors: `HEAD manifest v1`.
    pub operation: String,
    pub method: Method,
    pub url: Url,
    pub scopes: Scopes,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// Whether [`RegistryClient::send`] retries transient failures itself.
    /// False for blob bodies: the store's downloader retries those, resuming
    /// from the byte it reached, so no request is retried in two layers.
    pub retry: bool,
}

impl RegistryClient {
    pub fn new(options: ClientOptions) -> Result<RegistryClient, RegistryError> {
        let tls = tls::client_config(options.insecure, options.ca_file.as_deref())?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(options.user_agent.clone())
            .connect_timeout(Duration::from_secs(30))
            // No total timeout (a blob may take hours), but a stalled connection fails.
            .read_timeout(Duration::from_secs(300))
            .http2_adaptive_window(true)
            .build()
            .map_err(|e| RegistryError::Tls { problem: describe_http_error(e) })?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                plain_http: options.plain_http,
                auth: Auth::new(options.credentials),
                plain_loopback: Mutex::default(),
            }),
        })
    }

    /// A repository of a registry (`registry.example.com:5000`, `team/model`).
    pub fn repository(&self, registry: &str, repository: &str) -> Repository {
        Repository::new(self.clone(), registry, repository)
    }

    /// Checks that the registry accepts this client's credentials (from the
    /// options or config.json): `GET /v2/`, authenticating as it asks.
    pub async fn check_login(&self, registry: &str) -> Result<(), RegistryError> {
        let url = self.url(registry, registry, "/v2/")?;
        let call = Call {
            registry,
            target: registry,
            operation: "check login".into(),
            method: Method::GET,
            url,
            scopes: Scopes::none(),
            headers: HeaderMap::new(),
            body: None,
            retry: true,
        };
        self.send(call).await.map(drop)
    }

    /// `scheme://host/path`: HTTPS unless asked for plain HTTP, or a loopback
    /// registry turned out to speak it; Docker Hub's API lives on another host
    /// than its name.
    pub(crate) fn url(&self, registry: &str, target: &str, path: &str) -> Result<Url, RegistryError> {
        let plain = self.inner.plain_http || self.plain_loopback().contains(registry);
        let scheme = if plain { "http" } else { "https" };
        let host = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        Url::parse(&format!("{scheme}://{host}{path}")).map_err(|e| RegistryError::InvalidResponse {
            target: target.to_string(),
            operation: "build a URL".into(),
            problem: e.to_string(),
        })
    }

    fn plain_loopback(&self) -> MutexGuard<'_, HashSet<String>> {
        self.inner.plain_loopback.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a call that is safe to repeat (every call but a streamed blob
    /// upload: starting an upload session twice leaves an unused session
    /// that expires), authenticating as the registry asks (once more after a
    /// 401), retrying after connection errors, 5xx and 429. Any status but 2xx is an error
    /// naming the call, the status and the registry's error codes.
    pub(crate) async fn send(&self, mut call: Call<'_>) -> Result<Response, RegistryError> {
        let mut reauthenticated = false;
        let mut downgraded = false;
        loop {
            let header = self.inner.auth.header(&self.inner.http, call.registry, &call.scopes).await?;
            let make = || {
                let request = self.build(&call, header.as_ref());
                match &call.body {
                    Some(body) => request.body(body.clone()),
                    None => request,
                }
            };
            let attempts = if call.retry { MAX_ATTEMPTS } else { 1 };
            let response = match send_with_retries(make, attempts).await {
                // A loopback registry (a local test or mirror) may speak plain
                // HTTP, as Docker and containerd assume; it answers our TLS
                // hello in plain text. Certificate errors are not this.
                Err(e) if !downgraded && is_loopback(call.registry) && answered_in_plain_text(&e) => {
                    downgraded = true;
                    self.plain_loopback().insert(call.registry.to_string());
                    let _ = call.url.set_scheme("http");
                    continue;
                }
                sent => sent.map_err(|e| http_error(&call, e))?,
            };
            if response.status() == StatusCode::UNAUTHORIZED
                && !reauthenticated
                && self.inner.auth.challenged(call.registry, &call.scopes, response.headers(), header.as_ref())
            {
                reauthenticated = true;
                continue;
            }
            return check_status(&call, response).await;
        }
    }

    /// Sends a call with a body that can be sent only once (a streamed blob),
    /// with the credentials earlier calls in the same scope established.
    pub(crate) async fn send_once(&self, call: Call<'_>, body: reqwest::Body) -> Result<Response, RegistryError> {
        let header = self.inner.auth.header(&self.inner.http, call.registry, &call.scopes).await?;
        let response = self.build(&call, header.as_ref()).body(body).send().await.map_err(|e| http_error(&call, e))?;
        check_status(&call, response).await
    }

    fn build(&self, call: &Call<'_>, authorization: Option<&HeaderValue>) -> RequestBuilder {
        let mut request = self.inner.http.request(call.method.clone(), call.url.clone()).headers(call.headers.clone());
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        request
    }
}

fn http_error(call: &Call<'_>, error: reqwest::Error) -> RegistryError {
    RegistryError::unreachable(format!("registry {}", call.registry), call.target, &call.operation, error)
}

async fn check_status(call: &Call<'_>, response: Response) -> Result<Response, RegistryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let body = if call.method == Method::HEAD {
        Vec::new()
    } else {
        read_limited(response, MAX_ERROR_BODY).await.unwrap_or_default()
    };
    let errors = RegistryErrors::parse(&body);
    let target = call.target.to_string();
    let operation = call.operation.clone();
    if status == StatusCode::UNAUTHORIZED {
        return Err(RegistryError::Unauthorized { target, host: call.registry.to_string(), operation, errors });
    }
    Err(RegistryError::Status { target, operation, status: status.as_u16(), errors, retry_after })
}

/// Whether a TLS handshake failed because the server answered in plain text.
fn answered_in_plain_text(error: &reqwest::Error) -> bool {
    matches!(tls::handshake_error(error), Some(rustls::Error::InvalidMessage(_)))
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().map(|h| format!("[{h}]")).unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default().to_string(),
    };
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        for name in ["localhost", "localhost:5000", "127.0.0.1:41234", "[::1]", "[::1]:5000"] {
            assert!(is_loopback(name), "{name}");
        }
        for name in ["registry.example.com", "127.0.0.2:5000", "localhost.example.com", "[::2]:5000"] {
            assert!(!is_loopback(name), "{name}");
        }
    }

    #[test]
    fn urls_and_debug() {
        let options = ClientOptions { credentials: Some(("alice".into(), "s3cret".into())), ..Default::default() };
        assert!(!format!("{options:?}").contains("s3cret"));
        let client = RegistryClient::new(options).unwrap();
        assert_eq!(client.url("127.0.0.1:5000", "x", "/v2/").unwrap().as_str(), "https://127.0.0.1:5000/v2/");
        client.plain_loopback().insert("127.0.0.1:5000".into());
        assert_eq!(client.url("127.0.0.1:5000", "x", "/v2/").unwrap().as_str(), "http://127.0.0.1:5000/v2/");
        assert_eq!(client.url("r.io", "x", "/v2/").unwrap().as_str(), "https://r.io/v2/");
        assert_eq!(client.url("docker.io", "x", "/v2/").unwrap().as_str(), "https://registry-1.docker.io/v2/");
        assert_eq!(client.url("index.docker.io", "x", "/v2/").unwrap().as_str(), "https://registry-1.docker.io/v2/");
    }
}
