//! Reading from a repository: resolving a tag to a descriptor (HEAD, falling
//! back to GET where the registry does not send the digest), whole small blobs
//! verified in memory, and large blobs as a stream from an offset.

use bytes::Bytes;
use futures_util::StreamExt;
use hoist_oci::{BlobStream, Descriptor, Digest, media_types};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, RANGE};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;

use crate::RegistryError;
use crate::Repository;
use crate::auth::Scopes;
use crate::error::describe_http_error;
use crate::repository::{ManifestRef, is_manifest_type};

/// The most `fetch_all` holds in memory (configs can carry large metadata).
const MAX_WHOLE: u64 = 64 * 1024 * 1024;
/// The largest manifest read when its size is not known beforehand.
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;

/// Every manifest type hoist reads, so the registry does not convert one.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl Repository {
    /// The descriptor of the manifest a tag or digest names here.
    pub(crate) async fn resolve_manifest(&self, reference: &str) -> Result<Descriptor, RegistryError> {
        let wanted = ManifestRef::parse(reference, &self.target)?;
        let path = format!("manifests/{}", wanted.as_path());
        let mut call =
            self.call(Method::HEAD, &path, format!("resolve {reference}"), Scopes::pull(&self.repository))?;
        call.headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let response = self.client.send(call).await?;
        let headers = response.headers();
        let digest = match (&wanted, header(headers, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok())) {
            (ManifestRef::Digest(digest), _) => Some(digest.clone()),
            (ManifestRef::Tag(_), found) => found,
        };
        let size = header(headers, CONTENT_LENGTH.as_str()).and_then(|s| s.parse::<u64>().ok());
        let media_type = content_type(headers);
        if let (Some(digest), Some(size), Some(media_type)) = (digest, size, media_type) {
            return Ok(Descriptor::new(media_type, digest, size));
        }
        // Without a digest header (some registries, some proxies) the digest is
        // the hash of the bytes.
        let (descriptor, bytes) = self.get_manifest(&wanted, reference).await?;
        self.remember_manifest(&descriptor.digest, bytes);
        Ok(descriptor)
    }

    async fn get_manifest(&self, wanted: &ManifestRef, reference: &str) -> Result<(Descriptor, Bytes), RegistryError> {
        let path = format!("manifests/{}", wanted.as_path());
        let mut call =
            self.call(Method::GET, &path, format!("get manifest {reference}"), Scopes::pull(&self.repository))?;
        call.headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let operation = call.operation.clone();
        let response = self.client.send(call).await?;
        let header_type = content_type(response.headers());
        let too_large = || self.invalid(&operation, format!("a manifest larger than {MAX_MANIFEST} bytes"));
        let bytes = self.read_body(response, MAX_MANIFEST, &operation, too_large).await?;
        let digest = Digest::of(&bytes);
        if let ManifestRef::Digest(expected) = wanted
            && *expected != digest
        {
            return Err(RegistryError::Verification {
                target: self.target.clone(),
                digest: expected.clone(),
                problem: format!("the manifest's bytes hash to {digest}"),
            });
        }
        #[derive(Deserialize)]
        struct MediaType {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
        }
        let body_type = serde_json::from_slice::<MediaType>(&bytes).ok().and_then(|m| m.media_type);
        let media_type = header_type.or(body_type).unwrap_or_else(|| media_types::OCI_MANIFEST.to_string());
        Ok((Descriptor::new(media_type, digest, bytes.len() as u64), bytes))
    }

    /// A whole blob or manifest, checked against its descriptor.
    pub(crate) async fn fetch_whole(&self, descriptor: &Descriptor) -> Result<Bytes, RegistryError> {
        let digest = &descriptor.digest;
        if let Some(bytes) = self.remembered_manifest(digest) {
            return Ok(bytes);
        }
        if descriptor.size > MAX_WHOLE {
            return Err(self.mismatch(digest, format!("{} bytes is too large to read into memory", descriptor.size)));
        }
        let path = Repository::content_path(descriptor);
        let mut call = self.call(Method::GET, &path, format!("get {digest}"), Scopes::pull(&self.repository))?;
        if is_manifest_type(&descriptor.media_type) {
            call.headers.insert(
                ACCEPT,
                HeaderValue::from_str(&descriptor.media_type).unwrap_or(HeaderValue::from_static(MANIFEST_ACCEPT)),
            );
        }
        let operation = call.operation.clone();
        let response = self.client.send(call).await?;
        let too_large = || self.mismatch(digest, format!("more than the {} bytes expected", descriptor.size));
        let bytes = self.read_body(response, descriptor.size, &operation, too_large).await?;
        if bytes.len() as u64 != descriptor.size {
            return Err(self.mismatch(digest, format!("{} bytes, {} expected", bytes.len(), descriptor.size)));
        }
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(self.mismatch(digest, format!("the bytes hash to {actual}")));
        }
        if is_manifest_type(&descriptor.media_type) {
            self.remember_manifest(digest, bytes.clone());
        }
        Ok(bytes)
    }

    /// A blob's bytes from `offset` on, as they arrive (unverified: the
    /// destination hashes them).
    pub(crate) async fn fetch_stream(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, RegistryError> {
        if offset >= descriptor.size {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let path = Repository::content_path(descriptor);
        let digest = &descriptor.digest;
        let mut call = self.call(Method::GET, &path, format!("get {digest}"), Scopes::pull(&self.repository))?;
        if offset > 0 {
            // reqwest keeps Range on redirects (to a CDN or S3) and drops
            // Authorization when the redirect leaves the host.
            let range =
                HeaderValue::from_str(&format!("bytes={offset}-")).map_err(|e| self.mismatch(digest, e.to_string()))?;
            call.headers.insert(RANGE, range);
        }
        if is_manifest_type(&descriptor.media_type) {
            call.headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        }
        // The caller retries a blob body, from the byte it reached.
        call.retry = false;
        let response = self.client.send(call).await?;
        // A 200 to a ranged request means the Range was ignored: the body starts at 0.
        let mut skip = if offset > 0 && response.status() != StatusCode::PARTIAL_CONTENT { offset } else { 0 };
        let stream = response.bytes_stream().filter_map(move |chunk| {
            let item = match chunk {
                Err(e) => Some(Err(std::io::Error::other(describe_http_error(e)))),
                Ok(bytes) if skip >= bytes.len() as u64 => {
                    skip -= bytes.len() as u64;
                    None
                }
                Ok(bytes) => {
                    let rest = bytes.slice(skip as usize..);
                    skip = 0;
                    Some(Ok(rest))
                }
            };
            std::future::ready(item)
        });
        Ok(Box::pin(stream))
    }

    /// Reads a body, stopping at once (with `too_large()`) past `max` bytes.
    async fn read_body(
        &self,
        mut response: Response,
        max: u64,
        operation: &str,
        too_large: impl Fn() -> RegistryError,
    ) -> Result<Bytes, RegistryError> {
        let mut body = Vec::with_capacity(max.min(1 << 20) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.invalid(operation, describe_http_error(e)))? {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    fn invalid(&self, operation: &str, problem: String) -> RegistryError {
        RegistryError::InvalidResponse { target: self.target.clone(), operation: operation.to_string(), problem }
    }

    fn mismatch(&self, digest: &Digest, problem: String) -> RegistryError {
        RegistryError::Verification { target: self.target.clone(), digest: digest.clone(), problem }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The media type of a `Content-Type` header, without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = header(headers, CONTENT_TYPE.as_str())?;
    let media_type = value.split(';').next().unwrap_or_default().trim();
    (!media_type.is_empty() && media_type != "application/octet-stream").then(|| media_type.to_string())
}
