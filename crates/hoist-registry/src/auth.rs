//! Authentication: what each registry asked for (Basic or a Bearer token from a
//! realm), the credentials for it, and a cache of tokens per host and scope set.
//!
//! The scheme a registry challenged with is remembered per host, so that later
//! requests carry credentials from the start instead of paying a 401 round trip
//! each. Tokens are fetched once per (host, scopes) even when many blob
//! transfers want one at the same moment: a per-key lock makes the others wait
//! for the first fetch and then use its token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use crate::RegistryError;
use crate::challenge::{self, Challenge};
use crate::credentials::{self, Credential};
use crate::error::{RegistryErrors, describe_http_error};
use crate::retry::{retry_after, send_with_retries};
use hoist_oci::retry::MAX_ATTEMPTS;

/// How long a token lives when the realm does not say (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Token responses are small; anything bigger is not a token.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// The access a request needs, as token scopes (`repository:<name>:<actions>`),
/// sorted so that equal sets are equal keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scopes(Vec<String>);

impl Scopes {
    /// No repository access (`GET /v2/`).
    pub fn none() -> Scopes {
        Scopes(Vec::new())
    }

    pub fn pull(repository: &str) -> Scopes {
        Scopes(vec![format!("repository:{repository}:pull")])
    }

    /// Writes ask for pull too: a push reads (HEAD) before it writes, and one
    /// token then serves the whole push.
    pub fn push(repository: &str) -> Scopes {
        Scopes(vec![format!("repository:{repository}:pull,push")])
    }

    /// A cross-repository mount needs pull on the source as well.
    pub fn mount(repository: &str, from: &str) -> Scopes {
        let mut scopes = vec![format!("repository:{repository}:pull,push"), format!("repository:{from}:pull")];
        scopes.sort();
        Scopes(scopes)
    }
}

#[derive(Debug, Clone)]
enum Scheme {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

struct Token {
    header: HeaderValue,
    expires: Instant,
}

type TokenKey = (String, Scopes);

/// Holds secrets: no Debug.
pub(crate) struct Auth {
    explicit: Option<Credential>,
    /// Looked up in config.json once per host.
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    schemes: Mutex<HashMap<String, Scheme>>,
    tokens: Mutex<HashMap<TokenKey, Token>>,
    fetching: Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl Auth {
    pub fn new(explicit: Option<(String, String)>) -> Auth {
        Auth {
            explicit: explicit.map(|(user, password)| Credential::Password { user, password }),
            credentials: Mutex::default(),
            schemes: Mutex::default(),
            tokens: Mutex::default(),
            fetching: Mutex::default(),
        }
    }

    /// The `Authorization` value for a request to `host` needing `scopes`, as far
    /// as the registry's earlier challenges tell; None before any challenge.
    pub async fn header(
        &self,
        http: &reqwest::Client,
        host: &str,
        scopes: &Scopes,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let scheme = lock(&self.schemes).get(host).cloned();
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => {
                let credential = self.credential(host).await?;
                Ok(credential.and_then(|c| c.basic()).and_then(|b| sensitive(&b)))
            }
            Some(Scheme::Bearer { realm, service }) => {
                self.token(http, host, scopes, &realm, service.as_deref()).await.map(Some)
            }
        }
    }

    /// Learns from a 401: remembers the scheme the registry asked for and drops
    /// the token that was refused. Returns whether another attempt can succeed.
    pub fn challenged(&self, host: &str, scopes: &Scopes, headers: &HeaderMap, sent: Option<&HeaderValue>) -> bool {
        let challenges: Vec<Challenge> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(challenge::parse)
            .collect();
        let bearer = challenges.iter().find(|c| c.scheme == "bearer").and_then(|c| {
            let realm = c.param("realm")?.to_string();
            Some(Scheme::Bearer { realm, service: c.param("service").map(str::to_string) })
        });
        let scheme = bearer.or_else(|| challenges.iter().any(|c| c.scheme == "basic").then_some(Scheme::Basic));
        let Some(scheme) = scheme else {
            return false;
        };
        let key = (host.to_string(), scopes.clone());
        let mut tokens = lock(&self.tokens);
        if let (Some(sent), Some(token)) = (sent, tokens.get(&key))
            && token.header == *sent
        {
            tokens.remove(&key);
        }
        drop(tokens);
        let retry = match &scheme {
            // Credentials already sent and refused will be refused again.
            Scheme::Basic => sent.is_none(),
            Scheme::Bearer { .. } => true,
        };
        lock(&self.schemes).insert(host.to_string(), scheme);
        retry
    }

    async fn credential(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        if let Some(explicit) = &self.explicit {
            return Ok(Some(explicit.clone()));
        }
        if let Some(known) = lock(&self.credentials).get(host) {
            return Ok(known.clone());
        }
        let owned = host.to_string();
        // Reading config.json may run a credential helper: blocking.
        let found = tokio::task::spawn_blocking(move || credentials::lookup(&owned))
            .await
            .map_err(|e| RegistryError::Credentials { host: host.to_string(), problem: e.to_string() })??;
        lock(&self.credentials).insert(host.to_string(), found.clone());
        Ok(found)
    }

    async fn token(
        &self,
        http: &reqwest::Client,
        host: &str,
        scopes: &Scopes,
        realm: &str,
        service: Option<&str>,
    ) -> Result<HeaderValue, RegistryError> {
        let key = (host.to_string(), scopes.clone());
        if let Some(header) = self.cached(&key) {
            return Ok(header);
        }
        let gate = Arc::clone(lock(&self.fetching).entry(key.clone()).or_default());
        let _turn = gate.lock().await;
        // Whoever held the gate before us may have fetched it.
        if let Some(header) = self.cached(&key) {
            return Ok(header);
        }
        let credential = self.credential(host).await?;
        let (header, lifetime) = fetch_token(http, host, scopes, realm, service, credential.as_ref()).await?;
        // Renew a little early so a token does not expire in flight.
        let expires = Instant::now() + lifetime.mul_f32(0.9);
        lock(&self.tokens).insert(key, Token { header: header.clone(), expires });
        Ok(header)
    }

    fn cached(&self, key: &TokenKey) -> Option<HeaderValue> {
        let tokens = lock(&self.tokens);
        tokens.get(key).filter(|t| t.expires > Instant::now()).map(|t| t.header.clone())
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Asks the realm for a token: GET with Basic credentials (or none), or, for an
/// identity token, the OAuth2 refresh-token POST.
async fn fetch_token(
    http: &reqwest::Client,
    host: &str,
    scopes: &Scopes,
    realm: &str,
    service: Option<&str>,
    credential: Option<&Credential>,
) -> Result<(HeaderValue, Duration), RegistryError> {
    let operation = "get a token".to_string();
    let invalid = |problem: String| RegistryError::InvalidResponse {
        target: host.to_string(),
        operation: operation.clone(),
        problem,
    };
    let realm_url = Url::parse(realm).map_err(|e| invalid(format!("invalid token realm: {e}")))?;
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = service {
        params.push(("service", service));
    }
    params.extend(scopes.0.iter().map(|s| ("scope", s.as_str())));
    let response = send_with_retries(
        || match credential {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form_params = params.clone();
                form_params.extend([
                    ("grant_type", "refresh_token"),
                    ("client_id", "hoist"),
                    ("refresh_token", refresh),
                ]);
                http.request(Method::POST, realm_url.clone())
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form_encode(&form_params))
            }
            Some(password) => {
                let request = http.get(realm_url.clone()).query(&params);
                match password.basic().and_then(|b| sensitive(&b)) {
                    Some(basic) => request.header(AUTHORIZATION, basic),
                    None => request,
                }
            }
            None => http.get(realm_url.clone()).query(&params),
        },
        MAX_ATTEMPTS,
    )
    .await
    .map_err(|e| {
        let token_host = realm_url.host_str().unwrap_or(host);
        RegistryError::unreachable(format!("token service {token_host}"), host, &operation, e)
    })?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = read_limited(response, MAX_TOKEN_RESPONSE).await.map_err(&invalid)?;
    if status == StatusCode::UNAUTHORIZED {
        return Err(RegistryError::Unauthorized {
            target: host.to_string(),
            host: host.to_string(),
            operation,
            errors: RegistryErrors::parse(&body),
        });
    }
    if !status.is_success() {
        return Err(RegistryError::Status {
            target: host.to_string(),
            operation,
            status: status.as_u16(),
            errors: RegistryErrors::parse(&body),
            retry_after,
        });
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("the token response is not JSON: {e}")))?;
    let token = parsed.token.or(parsed.access_token).filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| invalid("the token response holds no token".into()))?;
    let header =
        sensitive(&format!("Bearer {token}")).ok_or_else(|| invalid("the token is not a valid header".into()))?;
    let lifetime = parsed.expires_in.filter(|&s| s > 0).map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    Ok((header, lifetime))
}

/// `application/x-www-form-urlencoded` (reqwest's `form` feature would add
/// serde_urlencoded for this one use).
fn form_encode(params: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => char::from(b).to_string(),
                b' ' => "+".to_string(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// Reads a whole body, refusing one larger than `max`.
pub(crate) async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe_http_error)? {
        if body.len() + chunk.len() > max {
            return Err(format!("the response is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A header value marked sensitive, so that hyper never shows it.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps half-updated: every update is one call.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_sorted_keys() {
        assert_eq!(Scopes::mount("b", "a").0, ["repository:a:pull", "repository:b:pull,push"]);
        assert_eq!(Scopes::push("x").0, ["repository:x:pull,push"]);
    }

    #[test]
    fn form_encoding_escapes() {
        assert_eq!(
            form_encode(&[("scope", "repository:a/b:pull,push"), ("x", "a b&c")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&x=a+b%26c"
        );
    }

    #[test]
    fn a_refused_token_is_dropped_and_retried() {
        let auth = Auth::new(None);
        let scopes = Scopes::pull("a");
        let key = ("r.io".to_string(), scopes.clone());
        let header = sensitive("Bearer abc").unwrap();
        lock(&auth.tokens)
            .insert(key.clone(), Token { header: header.clone(), expires: Instant::now() + DEFAULT_TOKEN_LIFETIME });
        let mut headers = HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="https://auth.r.io/token",service="r.io""#),
        );
        assert!(auth.challenged("r.io", &scopes, &headers, Some(&header)));
        assert!(auth.cached(&key).is_none());
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="x""#));
        assert!(!auth.challenged("r.io", &scopes, &headers, Some(&header)));
        assert!(auth.challenged("r.io", &scopes, &headers, None));
    }
}
