//! An in-process token issuer for distribution's `auth: token`, the way Docker Hub,
//! GHCR or Harbor hand out bearer tokens: the registry answers 401 with a
//! `Bearer realm=...` challenge, the client asks the realm for a token for the scopes
//! it needs, and the registry checks the token's signature and `access` claim.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use data_encoding::{BASE64, BASE64URL_NOPAD, HEXLOWER};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `service` the registry names in its challenge and expects as the token audience.
pub(crate) const SERVICE: &str = "hoist-test-registry";
/// The `iss` the registry expects in every token.
pub(crate) const ISSUER: &str = "hoist-test-issuer";
const TOKEN_SECONDS: i64 = 300;

/// A user of the token issuer and what it may do.
#[derive(Clone, Debug)]
pub struct TokenUser {
    pub user: String,
    pub password: String,
    /// Repository globs this user may pull from; `*` matches any run of characters, `/` included.
    pub pull: Vec<String>,
    /// Repository globs this user may push to. Push does not imply pull: list both.
    pub push: Vec<String>,
}

impl TokenUser {
    /// A user with the given pull and push globs.
    pub fn new(user: &str, password: &str, pull: &[&str], push: &[&str]) -> TokenUser {
        let owned = |globs: &[&str]| globs.iter().map(|g| g.to_string()).collect();
        TokenUser { user: user.to_string(), password: password.to_string(), pull: owned(pull), push: owned(push) }
    }

    fn may(&self, action: &str, repository: &str) -> bool {
        let globs = match action {
            "pull" => &self.pull,
            "push" => &self.push,
            _ => return false,
        };
        globs.iter().any(|glob| glob_match(glob.as_bytes(), repository.as_bytes()))
    }
}

/// The issuer's listener thread; stops and joins on drop.
pub(crate) struct TokenIssuer {
    port: u16,
    issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    users: Vec<TokenUser>,
    signer: Signer,
    issued: Arc<AtomicUsize>,
}

impl TokenIssuer {
    /// Starts serving on a free port and writes the certificate the registry must
    /// trust to `root_cert_bundle`.
    pub(crate) fn start(users: Vec<TokenUser>, root_cert_bundle: &Path) -> TokenIssuer {
        let signer = Signer::generate();
        fs::write(root_cert_bundle, &signer.cert_pem).expect("write the token issuer's certificate");
        // The issuer keeps its listener for its whole life, so unlike the registry's
        // port this one cannot be taken by someone else in between.
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the token issuer");
        let port = listener.local_addr().expect("token issuer address").port();
        let issued = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let state = State { users, signer, issued: Arc::clone(&issued) };
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                // One client's broken connection must not stop the issuer for the others.
                if let Ok(stream) = stream {
                    let _ = serve(stream, &state);
                }
            }
        });
        TokenIssuer { port, issued, stop, thread: Some(thread) }
    }

    pub(crate) fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub(crate) fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // accept() blocks: one more connection wakes the thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Signs tokens with an ECDSA P-256 key whose self-signed certificate is both the
/// registry's `rootcertbundle` and the token's `x5c` chain.
struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
    rng: SystemRandom,
}

impl Signer {
    fn generate() -> Signer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("generate the token key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("token certificate params");
        params.distinguished_name.push(rcgen::DnType::CommonName, ISSUER);
        let cert = params.self_signed(&key).expect("self-sign the token certificate");
        let rng = SystemRandom::new();
        // The same PKCS#8 key in ring's fixed-size form: r||s is exactly JWS ES256.
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
            .expect("load the token key");
        Signer { key, cert_der: cert.der().to_vec(), cert_pem: cert.pem(), rng }
    }

    fn jwt(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [BASE64.encode(&self.cert_der)]});
        let encode = |part: &Value| BASE64URL_NOPAD.encode(part.to_string().as_bytes());
        let input = format!("{}.{}", encode(&header), encode(claims));
        let signature = self.key.sign(&self.rng, input.as_bytes()).expect("sign a token");
        format!("{input}.{}", BASE64URL_NOPAD.encode(signature.as_ref()))
    }

    fn random_hex(&self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).expect("random bytes");
        HEXLOWER.encode(&bytes)
    }
}

struct Response {
    status: &'static str,
    challenge: bool,
    body: String,
}

fn serve(mut stream: TcpStream, state: &State) -> io::Result<()> {
    // A client that connects and says nothing must not hang the issuer for ever.
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let head = read_head(&mut stream)?;
    let response = respond(&head, state);
    let challenge =
        if response.challenge { format!("WWW-Authenticate: Basic realm=\"{ISSUER}\"\r\n") } else { String::new() };
    write!(
        stream,
        "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{challenge}Connection: close\r\n\r\n{}",
        response.status,
        response.body.len(),
        response.body
    )?;
    stream.flush()
}

/// The request line and headers; a token request is a GET and has no body.
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "incomplete request head"));
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn respond(head: &str, state: &State) -> Response {
    let mut lines = head.split("\r\n");
    let mut request = lines.next().unwrap_or_default().split(' ');
    let (method, target) = (request.next().unwrap_or_default(), request.next().unwrap_or_default());
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != "/token" {
        return Response { status: "404 Not Found", challenge: false, body: r#"{"error":"not found"}"#.into() };
    }
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim());
    // No credentials is an anonymous request: real issuers answer it with a token
    // that grants nothing rather than with an error.
    let user = match authorization {
        None => None,
        Some(value) => match basic_credentials(value)
            .and_then(|(name, password)| state.users.iter().find(|u| u.user == name && u.password == password))
        {
            Some(user) => Some(user),
            None => {
                let body = r#"{"details":"incorrect username or password"}"#.into();
                return Response { status: "401 Unauthorized", challenge: true, body };
            }
        },
    };
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect();
    let service = params.iter().find(|(k, _)| k == "service").map_or(SERVICE, |(_, v)| v.as_str());
    // A scope parameter may itself hold several scopes separated by spaces.
    let access: Vec<Value> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter_map(|scope| grant(user, scope))
        .collect();

    let now = OffsetDateTime::now_utc();
    let issued_at = now.unix_timestamp();
    let claims = json!({
        "iss": ISSUER,
        "sub": user.map_or("", |u| u.user.as_str()),
        "aud": service,
        "exp": issued_at + TOKEN_SECONDS,
        "nbf": issued_at,
        "iat": issued_at,
        "jti": state.signer.random_hex(),
        "access": access,
    });
    let token = state.signer.jwt(&claims);
    state.issued.fetch_add(1, Ordering::SeqCst);
    let body = json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_SECONDS,
        "issued_at": now.format(&Rfc3339).expect("format the issue time"),
    });
    Response { status: "200 OK", challenge: false, body: body.to_string() }
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim().as_bytes()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The `access` entry for one `type:name:actions` scope: the requested actions this
/// user may have. Only repository scopes are granted anything.
fn grant(user: Option<&TokenUser>, scope: &str) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    // The actions follow the last colon; a name may hold colons of its own.
    let (name, actions) = rest.rsplit_once(':')?;
    if kind != "repository" {
        return None;
    }
    let mut granted: Vec<&str> = actions.split(',').filter(|a| user.is_some_and(|u| u.may(a, name))).collect();
    granted.dedup();
    Some(json!({"type": "repository", "name": name, "actions": granted}))
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => glob_match(rest, text) || (!text.is_empty() && glob_match(pattern, &text[1..])),
        Some((p, rest)) => text.first() == Some(p) && glob_match(rest, &text[1..]),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(user: Option<&TokenUser>, scope: &str) -> Vec<String> {
        let access = grant(user, scope).expect("a repository scope");
        access["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn grants_only_what_the_globs_allow() {
        let pusher = TokenUser::new("pusher", "pw", &["test/*"], &["test/*"]);
        assert_eq!(actions(Some(&pusher), "repository:test/x:pull,push"), ["pull", "push"]);
        assert_eq!(actions(Some(&pusher), "repository:test/deep/x:push"), ["push"]);
        assert!(actions(Some(&pusher), "repository:other/x:pull,push").is_empty());

        let puller = TokenUser::new("puller", "pw", &["*"], &[]);
        assert_eq!(actions(Some(&puller), "repository:any/thing:pull,push"), ["pull"]);
    }

    #[test]
    fn push_does_not_imply_pull() {
        let writer = TokenUser::new("writer", "pw", &[], &["test/*"]);
        assert_eq!(actions(Some(&writer), "repository:test/x:pull,push"), ["push"]);
    }

    #[test]
    fn anonymous_gets_nothing_and_other_scopes_are_ignored() {
        assert!(actions(None, "repository:test/x:pull").is_empty());
        let admin = TokenUser::new("admin", "pw", &["*"], &["*"]);
        assert_eq!(grant(Some(&admin), "registry:catalog:*"), None);
        assert_eq!(grant(Some(&admin), "garbage"), None);
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"a/b/c"));
        assert!(glob_match(b"test/*", b"test/x"));
        assert!(!glob_match(b"test/*", b"tests/x"));
        assert!(glob_match(b"a*c", b"abbbc"));
        assert!(!glob_match(b"exact", b"exact/more"));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("repository%3Atest%2Fx%3Apull%2Cpush"), "repository:test/x:pull,push");
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(percent_decode("%+1"), "% 1");
    }
}
