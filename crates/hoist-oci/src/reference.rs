use std::fmt;
use std::str::FromStr;

use crate::{Digest, OciError};

/// The tag a reference gets when it names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// Docker Hub's name in references. Its API is served at another host,
/// `registry-1.docker.io` (the registry client maps one to the other).
pub const DOCKER_HUB: &str = "docker.io";

/// The repository namespace Docker Hub gives one-component names (`ubuntu` is
/// `docker.io/library/ubuntu`).
const DOCKER_HUB_OFFICIAL: &str = "library";

/// An image reference: `[registry/]repository[:tag][@digest]`.
///
/// The grammar is the distribution project's. The first path component is a
/// registry when it contains a `.` or a `:`, is `localhost`, or has upper-case
/// letters. Unlike Docker, parsing does not add `docker.io/library/` to a bare
/// name: a name without a registry (`qwen2:0.5b`) names a model in the local
/// store, and it is stored exactly so. Commands that talk to a registry read a
/// bare name the store does not hold as Docker Hub's, as Docker does:
/// [`Reference::or_docker_hub`]. A reference without tag or digest gets the
/// tag `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: Option<String>,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// The registry host (and port), if the reference names one.
    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// The repository path inside the registry.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag; `latest` when neither a tag nor a digest was given.
    pub fn tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `[registry/]repository`: the name without tag or digest.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(registry) => format!("{registry}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// The same name with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }

    /// The reference as Docker reads it: a name without a registry is Docker
    /// Hub's (`ai/smollm2` is `docker.io/ai/smollm2`), where a one-component
    /// name is in `library/` (`ubuntu` is `docker.io/library/ubuntu`); so is a
    /// one-component name on `docker.io` itself, and `index.docker.io` is
    /// `docker.io`. Other registries are left as they are.
    pub fn or_docker_hub(&self) -> Reference {
        let registry = self.registry.as_deref().unwrap_or(DOCKER_HUB);
        if registry != DOCKER_HUB && registry != "index.docker.io" {
            return self.clone();
        }
        let repository = if self.repository.contains('/') {
            self.repository.clone()
        } else {
            format!("{DOCKER_HUB_OFFICIAL}/{}", self.repository)
        };
        Reference { registry: Some(DOCKER_HUB.to_string()), repository, ..self.clone() }
    }

    /// Whether the reference names a Docker Hub repository.
    pub fn is_docker_hub(&self) -> bool {
        matches!(self.registry.as_deref(), Some(DOCKER_HUB | "index.docker.io"))
    }

    /// The short name a Docker Hub reference is typed as (Docker's "familiar"
    /// form): `docker.io/ai/smollm2:1` is `ai/smollm2:1` and
    /// `docker.io/library/ubuntu` is `ubuntu`. `None` for other registries and
    /// for names without one.
    pub fn docker_hub_short(&self) -> Option<Reference> {
        if !self.is_docker_hub() {
            return None;
        }
        let repository = match self.repository.strip_prefix(DOCKER_HUB_OFFICIAL).and_then(|r| r.strip_prefix('/')) {
            Some(official) if !official.contains('/') => official.to_string(),
            _ => self.repository.clone(),
        };
        Some(Reference { registry: None, repository, ..self.clone() })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(tag) = self.tag() {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = OciError;

    fn from_str(value: &str) -> Result<Reference, OciError> {
        let invalid = |reason: String| OciError::InvalidReference { value: value.to_string(), reason };
        if value.is_empty() {
            return Err(invalid("empty reference".into()));
        }
        if value.len() > 4096 {
            return Err(invalid("longer than 4096 characters".into()));
        }
        let (rest, digest) = match value.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.parse::<Digest>().map_err(|e| invalid(e.to_string()))?)),
            None => (value, None),
        };
        // A tag follows the last ':' that comes after the last '/' (a ':' before
        // it belongs to a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|reason| invalid(reason.into()))?;
        }
        let (registry, repository) = split_registry(name);
        if let Some(registry) = registry {
            validate_registry(registry).map_err(|reason| invalid(reason.into()))?;
        }
        validate_repository(repository).map_err(invalid)?;
        Ok(Reference {
            registry: registry.map(str::to_string),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn validate_tag(tag: &str) -> Result<(), &'static str> {
    let mut chars = tag.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || tag.len() > 128 || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err("a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
    }
    Ok(())
}

fn validate_registry(registry: &str) -> Result<(), &'static str> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || registry.starts_with('[') => (host, Some(port)),
        _ => (registry, None),
    };
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok { Ok(()) } else { Err("the registry must be a host name with an optional numeric port") }
}

fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository name is empty".into());
    }
    for component in repository.split('/') {
        if !valid_path_component(component) {
            return Err(format!(
                "repository component {component:?} must be lower-case letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators: one '.', one or two '_', or any run of '-'.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "." || separator == "_" || separator == "__" || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Reference {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn bare_names_stay_local_and_get_latest() {
        let r = parse("qwen2");
        assert_eq!(r.registry(), None);
        assert_eq!(r.to_string(), "qwen2:latest");
        assert_eq!(parse("ai/smollm2:360M-Q4_K_M").to_string(), "ai/smollm2:360M-Q4_K_M");
    }

    #[test]
    fn registries_are_recognised_with_ports() {
        let r = parse("localhost:5000/team/qwen2:0.5b");
        assert_eq!(r.registry(), Some("localhost:5000"));
        assert_eq!(r.repository(), "team/qwen2");
        assert_eq!(r.tag(), Some("0.5b"));
        assert_eq!(parse("registry.example.com/x").registry(), Some("registry.example.com"));
        assert_eq!(parse("localhost/x").registry(), Some("localhost"));
    }

    #[test]
    fn digests_pin_without_a_default_tag() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = parse(&format!("ghcr.io/a/b@{digest}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), format!("ghcr.io/a/b@{digest}"));
        let r = parse(&format!("a:1@{digest}"));
        assert_eq!(r.to_string(), format!("a:1@{digest}"));
    }

    #[test]
    fn bare_names_are_docker_hub_names_for_registries() {
        let hub = |text: &str| parse(text).or_docker_hub().to_string();
        assert_eq!(hub("ai/smollm2"), "docker.io/ai/smollm2:latest");
        assert_eq!(hub("ai/smollm2:360M-Q4_K_M"), "docker.io/ai/smollm2:360M-Q4_K_M");
        assert_eq!(hub("ubuntu"), "docker.io/library/ubuntu:latest");
        assert_eq!(hub("docker.io/ubuntu:24.04"), "docker.io/library/ubuntu:24.04");
        assert_eq!(hub("index.docker.io/ai/smollm2"), "docker.io/ai/smollm2:latest");
        assert_eq!(hub("a/b/c"), "docker.io/a/b/c:latest");
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(hub(&format!("ai/smollm2@{digest}")), format!("docker.io/ai/smollm2@{digest}"));
        // Names that name a registry stay as they are.
        assert_eq!(hub("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(hub("ghcr.io/a"), "ghcr.io/a:latest");
        assert!(parse("docker.io/ai/x").is_docker_hub());
        assert!(!parse("ai/x").is_docker_hub());
    }

    #[test]
    fn docker_hub_names_have_a_short_form() {
        let short = |text: &str| parse(text).docker_hub_short().map(|r| r.to_string());
        assert_eq!(short("docker.io/ai/smollm2:latest").as_deref(), Some("ai/smollm2:latest"));
        assert_eq!(short("docker.io/library/ubuntu:24.04").as_deref(), Some("ubuntu:24.04"));
        assert_eq!(short("docker.io/library/a/b").as_deref(), Some("library/a/b:latest"));
        assert_eq!(short("ghcr.io/a/b"), None);
        assert_eq!(short("ai/smollm2"), None);
        // The short form reads back as the same Docker Hub name.
        for full in ["docker.io/ai/smollm2:latest", "docker.io/library/ubuntu:24.04"] {
            assert_eq!(parse(full).docker_hub_short().unwrap().or_docker_hub().to_string(), full);
        }
    }

    #[test]
    fn bad_references_are_rejected_with_a_reason() {
        for bad in ["", "UPPER", "a//b", "a:", "a:-x", "a/.b", "a@sha256:12", "a b", "-a", "a:b:c", "reg.io:x/a"] {
            assert!(bad.parse::<Reference>().is_err(), "{bad:?} should be rejected");
        }
    }
}
