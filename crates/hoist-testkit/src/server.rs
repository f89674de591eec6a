//! Starting, probing and stopping one `docker-registry` process.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use data_encoding::HEXLOWER;
use ring::rand::{SecureRandom, SystemRandom};
use tempfile::TempDir;

use crate::probe;
use crate::process::{ChildGuard, require_tool};
use crate::tls::{self, TlsFiles};
use crate::token::{ISSUER, SERVICE, TokenIssuer, TokenUser};

/// How clients must authenticate to the registry.
#[derive(Clone, Debug)]
pub enum RegistryAuth {
    /// No authentication: anyone may pull and push.
    Anonymous,
    /// HTTP Basic against an htpasswd file with this one user.
    Basic { user: String, password: String },
    /// Bearer tokens from an in-process token issuer that knows these users.
    Token { users: Vec<TokenUser> },
}

/// What kind of registry to start.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    pub auth: RegistryAuth,
    /// Serve HTTPS with a certificate from a generated CA (see [`RegistryServer::ca_cert_path`]).
    pub tls: bool,
}

/// A running CNCF distribution registry on `127.0.0.1`, killed and cleaned up on drop.
pub struct RegistryServer {
    // Fields drop in order: the registry process stops first, then its token
    // issuer, and only then are its files removed.
    process: ChildGuard,
    issuer: Option<TokenIssuer>,
    port: u16,
    tls: Option<TlsFiles>,
    log: PathBuf,
    storage: PathBuf,
    _dir: TempDir,
}

/// How long a registry may take to answer its first request.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// Starts retried when another process took the free port before the registry bound it.
const PORT_ATTEMPTS: usize = 5;

impl RegistryServer {
    /// Starts a registry and waits until `GET /v2/` answers as the auth mode says it must
    /// (200 anonymous, 401 otherwise).
    ///
    /// # Panics
    ///
    /// When `docker-registry` is missing (with the install command), or the registry
    /// does not come up within 10 s (with the tail of its log).
    pub fn start(options: RegistryOptions) -> RegistryServer {
        let binary = require_tool("docker-registry");
        let dir = tempfile::Builder::new().prefix("hoist-registry-").tempdir().expect("create a temp dir");
        let storage = dir.path().join("data");
        fs::create_dir(&storage).expect("create the storage dir");
        let log = dir.path().join("registry.log");
        let tls = options.tls.then(|| tls::generate(dir.path()));
        let (auth_config, issuer, ready_status) = auth_config(options.auth, dir.path());

        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let config = dir.path().join("config.yml");
            let yaml = config_yaml(port, &storage, tls.as_ref(), &auth_config);
            fs::write(&config, yaml).expect("write the registry config");
            let process = spawn(&binary, &config, &log);
            if let Some(process) = wait_ready(process, port, tls.as_ref(), ready_status, &log) {
                return RegistryServer { process, issuer, port, tls, log, storage, _dir: dir };
            }
        }
        panic!("docker-registry found no free port in {PORT_ATTEMPTS} attempts:\n{}", tail(&log));
    }

    /// An anonymous plain-HTTP registry: the common case.
    pub fn anonymous() -> RegistryServer {
        RegistryServer::start(RegistryOptions { auth: RegistryAuth::Anonymous, tls: false })
    }

    /// `127.0.0.1:PORT`, the registry part of a reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, or `https://` when serving TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// PEM of the CA that signed the server certificate (TLS only).
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_cert.as_path())
    }

    /// A directory holding only the CA as `ca.crt`, for skopeo's `--cert-dir` options (TLS only).
    pub fn ca_dir(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_dir.as_path())
    }

    /// The registry's filesystem storage root (`docker/registry/v2/...` below it).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// Tokens the issuer has handed out so far; always 0 unless token auth.
    pub fn token_requests(&self) -> usize {
        self.issuer.as_ref().map_or(0, TokenIssuer::issued)
    }

    /// The registry's log file (stdout and stderr of the process).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the registry's log, to show when a test fails.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// The process id of the registry, to check from outside that it is gone.
    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }
}

/// The `auth:` section, the token issuer if any, and the status of an unauthenticated `GET /v2/`.
fn auth_config(auth: RegistryAuth, dir: &Path) -> (String, Option<TokenIssuer>, u16) {
    match auth {
        RegistryAuth::Anonymous => (String::new(), None, 200),
        RegistryAuth::Basic { user, password } => {
            // Cost 4, the minimum: the registry checks the hash on every request.
            let hash = bcrypt::hash(&password, 4).expect("bcrypt the password");
            let htpasswd = dir.join("htpasswd");
            fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
            let yaml = format!("auth:\n  htpasswd:\n    realm: {SERVICE}\n    path: {}\n", quoted(&htpasswd));
            (yaml, None, 401)
        }
        RegistryAuth::Token { users } => {
            let bundle = dir.join("token-issuer.crt");
            let issuer = TokenIssuer::start(users, &bundle);
            let yaml = format!(
                "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                quoted(issuer.realm()),
                quoted(&bundle)
            );
            (yaml, Some(issuer), 401)
        }
    }
}

fn config_yaml(port: u16, storage: &Path, tls: Option<&TlsFiles>, auth: &str) -> String {
    let mut secret = [0u8; 16];
    SystemRandom::new().fill(&mut secret).expect("random bytes");
    let tls = tls.map_or(String::new(), |t| {
        format!("  tls:\n    certificate: {}\n    key: {}\n", quoted(&t.server_cert), quoted(&t.server_key))
    });
    format!(
        "version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n{tls}\
         {auth}",
        storage = quoted(storage),
        secret = HEXLOWER.encode(&secret),
    )
}

/// A YAML double-quoted scalar: JSON string syntax is valid YAML and escapes any path.
fn quoted(value: impl AsRef<Path>) -> String {
    serde_json::to_string(&value.as_ref().to_string_lossy()).expect("quote a string")
}

/// A port that was free a moment ago. The registry binds it itself, so another
/// process may take it in between; [`wait_ready`] notices and the caller retries.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn spawn(binary: &Path, config: &Path, log: &Path) -> ChildGuard {
    let log_file = File::create(log).expect("create the registry log");
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone the log handle"))
        .stderr(log_file);
    // Every REGISTRY_* variable overrides the config file (REGISTRY_HTTP_DEBUG_ADDR
    // would open a second listener); the caller's environment must not change the set-up.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REGISTRY_") {
            command.env_remove(name);
        }
    }
    ChildGuard(command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", binary.display())))
}

/// The process once `GET /v2/` answers `ready_status`; `None` if it exited because
/// the port was taken. Panics on any other failure.
fn wait_ready(
    mut process: ChildGuard,
    port: u16,
    tls: Option<&TlsFiles>,
    ready_status: u16,
    log: &Path,
) -> Option<ChildGuard> {
    let deadline = Instant::now() + READY_WITHIN;
    let ca_der = tls.map(|t| t.ca_der.as_slice());
    loop {
        if let Some(status) = process.0.try_wait().expect("poll the registry process") {
            let log = tail(log);
            if log.contains("address already in use") {
                return None;
            }
            panic!("docker-registry exited ({status}) before it was ready:\n{log}");
        }
        match probe::status(port, "/v2/", ca_der) {
            // The log line proves that this process owns the port: if another process
            // took it in the meantime, the probe was answered by that one, and ours
            // is about to exit with "address already in use".
            Ok(status) if listening(log, port) => {
                if status != ready_status {
                    panic!("docker-registry answered GET /v2/ with {status}, not {ready_status}:\n{}", tail(log));
                }
                return Some(process);
            }
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(25)),
            Ok(status) => {
                panic!("127.0.0.1:{port} answers {status} but docker-registry never listened on it:\n{}", tail(log))
            }
            Err(e) => panic!("docker-registry not ready within {READY_WITHIN:?} ({e}):\n{}", tail(log)),
        }
    }
}

fn listening(log: &Path, port: u16) -> bool {
    // Distribution logs "listening on 127.0.0.1:PORT" (", tls" after it with TLS) once bound.
    fs::read_to_string(log).is_ok_and(|text| text.contains(&format!("listening on 127.0.0.1:{port}")))
}

fn tail(log: &Path) -> String {
    const LINES: usize = 40;
    let text = fs::read_to_string(log).unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LINES)..].join("\n")
}
