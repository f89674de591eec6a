//! Credentials: reading them from Docker's `config.json` (auths, credHelpers,
//! credsStore, honouring `DOCKER_CONFIG`), and writing or removing a login there
//! for `hoist login` / `hoist logout`, so hoist, docker, skopeo and oras share one
//! login.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use serde_json::{Map, Value};

use crate::RegistryError;

/// What authenticates us to one registry. Debug never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    Password {
        user: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json), exchanged at the
    /// token realm for access tokens.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password { user, .. } => write!(f, "Password {{ user: {user:?}, password: <redacted> }}"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credential {
    /// The `Authorization: Basic` value, if this credential can make one.
    pub(crate) fn basic(&self) -> Option<String> {
        match self {
            Credential::Password { user, password } => {
                Some(format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))))
            }
            Credential::IdentityToken(_) => None,
        }
    }
}

/// The key Docker files a registry's login under: Docker Hub's is historical.
pub(crate) fn config_key(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    }
}

/// The login `config.json` (or its helper) holds for `host`; None when there is
/// none. Blocking (it may run a credential helper): call from `spawn_blocking`.
pub(crate) fn lookup(host: &str) -> Result<Option<Credential>, RegistryError> {
    let key = config_key(host);
    // Docker itself writes bare hosts; older tools wrote URLs.
    let candidates = if key.contains("://") {
        vec![key.to_string()]
    } else {
        vec![key.to_string(), format!("https://{key}"), format!("http://{key}")]
    };
    for candidate in candidates {
        match docker_credential::get_credential(&candidate) {
            Ok(DockerCredential::UsernamePassword(user, password)) => {
                return Ok(Some(Credential::Password { user, password }));
            }
            Ok(DockerCredential::IdentityToken(token)) => return Ok(Some(Credential::IdentityToken(token))),
            Err(CredentialRetrievalError::NoCredentialConfigured) => {}
            Err(CredentialRetrievalError::ConfigNotFound | CredentialRetrievalError::ConfigReadError) => {
                return Ok(None);
            }
            Err(CredentialRetrievalError::HelperFailure { helper, .. }) => {
                // The helper's output is left out: it may echo secrets.
                return Err(RegistryError::Credentials {
                    host: host.to_string(),
                    problem: format!("credential helper docker-credential-{helper} failed"),
                });
            }
            Err(other) => {
                return Err(RegistryError::Credentials { host: host.to_string(), problem: other.to_string() });
            }
        }
    }
    Ok(None)
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Result<PathBuf, RegistryError> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".docker").join("config.json")),
        None => Err(RegistryError::Credentials {
            host: String::new(),
            problem: "neither DOCKER_CONFIG nor HOME is set: cannot find config.json".into(),
        }),
    }
}

/// Saves a login for `host` in Docker's config file as `auths.<host>.auth`,
/// keeping everything else in the file. The file is written whole and renamed
/// into place (a crash never leaves half a file) with mode 0600, its directory
/// created 0700. Returns the file's path.
pub fn save_login(host: &str, user: &str, password: &str) -> Result<PathBuf, RegistryError> {
    let path = docker_config_path()?;
    let mut config = read_config(&path)?;
    let auths = config.entry("auths").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        return Err(not_an_object(&path, "auths"));
    };
    let mut entry = Map::new();
    entry.insert("auth".into(), Value::String(STANDARD.encode(format!("{user}:{password}"))));
    auths.insert(config_key(host).to_string(), Value::Object(entry));
    write_config(&path, &config)?;
    Ok(path)
}

/// Removes `host`'s login from Docker's config file. Ok(false) when there was none.
pub fn remove_login(host: &str) -> Result<bool, RegistryError> {
    let path = docker_config_path()?;
    if !path.exists() {
        return Ok(false);
    }
    let mut config = read_config(&path)?;
    let removed = match config.get_mut("auths") {
        Some(Value::Object(auths)) => auths.remove(config_key(host)).is_some(),
        _ => false,
    };
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed)
}

fn read_config(path: &Path) -> Result<Map<String, Value>, RegistryError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => return Err(io("read", path)(source)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        // Refuse rather than overwrite a file we do not understand.
        Ok(_) => Err(not_an_object(path, "the file")),
        Err(e) => Err(RegistryError::Credentials {
            host: String::new(),
            problem: format!("{} is not valid JSON ({e}); fix or remove it", path.display()),
        }),
    }
}

fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> RegistryError + 'p {
    move |source| RegistryError::Io { action, path: path.to_path_buf(), source }
}

fn not_an_object(path: &Path, what: &str) -> RegistryError {
    RegistryError::Credentials {
        host: String::new(),
        problem: format!("{what} in {} is not a JSON object; fix or remove it", path.display()),
    }
}

fn write_config(path: &Path, config: &Map<String, Value>) -> Result<(), RegistryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io("create", dir))?;
    let mut bytes = serde_json::to_vec_pretty(config).map_err(|e| RegistryError::Credentials {
        host: String::new(),
        problem: format!("cannot serialize config.json: {e}"),
    })?;
    bytes.push(b'\n');
    let temp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io("create", &temp))?;
        file.write_all(&bytes).map_err(io("write", &temp))?;
        file.sync_all().map_err(io("sync", &temp))?;
        fs::rename(&temp, path).map_err(io("replace", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let credential = Credential::Password { user: "alice".into(), password: "s3cret".into() };
        let shown = format!("{credential:?}");
        assert!(shown.contains("alice") && !shown.contains("s3cret"));
        assert!(!format!("{:?}", Credential::IdentityToken("tok".into())).contains("tok"));
        assert_eq!(credential.basic().as_deref(), Some("Basic YWxpY2U6czNjcmV0"));
    }

    #[test]
    fn docker_hub_key() {
        assert_eq!(config_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(config_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
