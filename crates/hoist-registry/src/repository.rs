//! [`Repository`]: one repository of one registry, as a copy source and
//! destination. The HTTP work lives in `download.rs` and `upload.rs`; this file
//! holds the type, the naming of references and the trait glue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use hoist_oci::{
    BlobStream, Descriptor, Destination, Digest, Reference, Source, TargetError, TransferReporter, media_types,
};
use reqwest::Method;

use crate::auth::Scopes;
use crate::client::Call;
use crate::{RegistryClient, RegistryError};

/// Manifests kept in memory per repository, so `tag` after `push_manifest`
/// (or after a pull's `fetch_all`) does not fetch them again.
const MANIFEST_CACHE_ENTRIES: usize = 64;

/// A repository of a registry (`registry.example.com/team/model`). Implements
/// [`Source`] and [`Destination`], so `copy_graph` pushes to it, pulls from it
/// and copies between two of them. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Repository {
    pub(crate) client: RegistryClient,
    pub(crate) registry: String,
    pub(crate) repository: String,
    /// `registry/repository`: how errors and progress name it.
    pub(crate) target: String,
    manifests: Arc<Mutex<HashMap<Digest, Bytes>>>,
}

/// What a manifest request names: a tag or a digest.
pub(crate) enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

impl ManifestRef {
    /// A tag, a digest, or a whole reference (whose name part is not checked).
    pub(crate) fn parse(reference: &str, target: &str) -> Result<ManifestRef, RegistryError> {
        if let Ok(digest) = reference.parse::<Digest>() {
            return Ok(ManifestRef::Digest(digest));
        }
        let invalid = |problem: String| RegistryError::InvalidResponse {
            target: target.to_string(),
            operation: format!("resolve {reference:?}"),
            problem,
        };
        // "x:1" is no tag (tags hold no ':'), so it must be a whole reference.
        let parsed: Reference = if reference.contains([':', '/', '@']) {
            reference.parse().map_err(|e: hoist_oci::OciError| invalid(e.to_string()))?
        } else {
            format!("x:{reference}").parse().map_err(|e: hoist_oci::OciError| invalid(e.to_string()))?
        };
        match (parsed.digest(), parsed.tag()) {
            (Some(digest), _) => Ok(ManifestRef::Digest(digest.clone())),
            (None, Some(tag)) => Ok(ManifestRef::Tag(tag.to_string())),
            (None, None) => Err(invalid("neither a tag nor a digest".into())),
        }
    }

    pub(crate) fn as_path(&self) -> String {
        match self {
            ManifestRef::Tag(tag) => tag.clone(),
            ManifestRef::Digest(digest) => digest.to_string(),
        }
    }
}

impl Repository {
    pub(crate) fn new(client: RegistryClient, registry: &str, repository: &str) -> Repository {
        Repository {
            client,
            registry: registry.to_string(),
            repository: repository.to_string(),
            target: format!("{registry}/{repository}"),
            manifests: Arc::default(),
        }
    }

    /// The repository a reference names. An error for a reference without a
    /// registry (`qwen2:0.5b` names a model in the local store).
    pub fn from_reference(client: &RegistryClient, reference: &Reference) -> Result<Repository, RegistryError> {
        let registry =
            reference.registry().ok_or_else(|| RegistryError::NoRegistry { reference: reference.to_string() })?;
        Ok(client.repository(registry, reference.repository()))
    }

    /// The registry host (and port) as named.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// A call to `/v2/<repository>/<path>`.
    pub(crate) fn call(
        &self,
        method: Method,
        path: &str,
        operation: String,
        scopes: Scopes,
    ) -> Result<Call<'_>, RegistryError> {
        let url = self.client.url(&self.registry, &self.target, &format!("/v2/{}/{path}", self.repository))?;
        Ok(self.call_to(method, url, operation, scopes))
    }

    /// `manifests/<digest>` for manifests and indexes, `blobs/<digest>` otherwise.
    pub(crate) fn content_path(descriptor: &Descriptor) -> String {
        let kind = if is_manifest_type(&descriptor.media_type) { "manifests" } else { "blobs" };
        format!("{kind}/{}", descriptor.digest)
    }

    pub(crate) fn remember_manifest(&self, digest: &Digest, bytes: Bytes) {
        let mut manifests = self.manifests.lock().unwrap_or_else(|p| p.into_inner());
        if manifests.len() >= MANIFEST_CACHE_ENTRIES {
            manifests.clear();
        }
        manifests.insert(digest.clone(), bytes);
    }

    pub(crate) fn remembered_manifest(&self, digest: &Digest) -> Option<Bytes> {
        self.manifests.lock().unwrap_or_else(|p| p.into_inner()).get(digest).cloned()
    }

    fn target_error(&self, what: &str, digest: Option<&Digest>) -> impl Fn(RegistryError) -> TargetError + '_ {
        let what = what.to_string();
        let digest = digest.cloned();
        move |e| e.into_target(&self.target, &what, digest.as_ref())
    }
}

pub(crate) fn is_manifest_type(media_type: &str) -> bool {
    media_types::is_manifest(media_type) || media_types::is_index(media_type)
}

#[async_trait]
impl Source for Repository {
    fn name(&self) -> String {
        self.target.clone()
    }

    async fn resolve(&self, reference: &str) -> Result<Descriptor, TargetError> {
        self.resolve_manifest(reference).await.map_err(self.target_error(reference, None))
    }

    async fn fetch_all(&self, descriptor: &Descriptor) -> Result<Vec<u8>, TargetError> {
        let digest = Some(&descriptor.digest);
        let what = descriptor.digest.to_string();
        self.fetch_whole(descriptor).await.map(|b| b.to_vec()).map_err(self.target_error(&what, digest))
    }

    async fn fetch(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, TargetError> {
        let digest = Some(&descriptor.digest);
        let what = descriptor.digest.to_string();
        self.fetch_stream(descriptor, offset).await.map_err(self.target_error(&what, digest))
    }

    async fn fetch_range(
        &self,
        descriptor: &Descriptor,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, TargetError> {
        let digest = Some(&descriptor.digest);
        let what = descriptor.digest.to_string();
        self.fetch_range_stream(descriptor, start, end).await.map_err(self.target_error(&what, digest))
    }

    fn registry_repository(&self) -> Option<(String, String)> {
        Some((self.registry.clone(), self.repository.clone()))
    }
}

#[async_trait]
impl Destination for Repository {
    fn name(&self) -> String {
        self.target.clone()
    }

    async fn exists(&self, descriptor: &Descriptor) -> Result<bool, TargetError> {
        let what = descriptor.digest.to_string();
        self.has(descriptor).await.map_err(self.target_error(&what, Some(&descriptor.digest)))
    }

    async fn copy_blob(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        progress: &dyn TransferReporter,
    ) -> Result<(), TargetError> {
        self.upload(source, descriptor, progress).await
    }

    async fn push_manifest(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<(), TargetError> {
        let what = descriptor.digest.to_string();
        self.put_manifest(descriptor, bytes).await.map_err(self.target_error(&what, Some(&descriptor.digest)))
    }

    async fn tag(&self, descriptor: &Descriptor, reference: &str) -> Result<(), TargetError> {
        self.put_tag(descriptor, reference).await.map_err(self.target_error(reference, Some(&descriptor.digest)))
    }

    async fn mount(&self, descriptor: &Descriptor, source: &dyn Source) -> Result<bool, TargetError> {
        let what = descriptor.digest.to_string();
        self.mount_from(descriptor, source).await.map_err(self.target_error(&what, Some(&descriptor.digest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_references() {
        let digest = Digest::of(b"x");
        assert!(matches!(ManifestRef::parse("v1.0", "t").unwrap(), ManifestRef::Tag(t) if t == "v1.0"));
        assert!(matches!(ManifestRef::parse(&digest.to_string(), "t").unwrap(), ManifestRef::Digest(_)));
        assert!(matches!(ManifestRef::parse("r.io/a/b:7", "t").unwrap(), ManifestRef::Tag(t) if t == "7"));
        let pinned = format!("r.io/a/b@{digest}");
        assert!(matches!(ManifestRef::parse(&pinned, "t").unwrap(), ManifestRef::Digest(d) if d == digest));
        assert!(ManifestRef::parse("../../x", "t").is_err());
        assert!(ManifestRef::parse("a b", "t").is_err());
    }

    #[test]
    fn no_registry_is_an_error() {
        let client = RegistryClient::new(Default::default()).unwrap();
        let local: Reference = "qwen2:0.5b".parse().unwrap();
        assert!(Repository::from_reference(&client, &local).unwrap_err().to_string().contains("qwen2:0.5b"));
        let remote: Reference = "r.io:5000/team/m:1".parse().unwrap();
        let repository = Repository::from_reference(&client, &remote).unwrap();
        assert_eq!(repository.registry_repository(), Some(("r.io:5000".into(), "team/m".into())));
    }
}
