//! Writing to a repository: HEAD to skip what is there, cross-repository mount,
//! streaming monolithic blob upload (POST for a session, one PUT with the whole
//! body, never held in memory; chunked, `chunked.rs`, when the registry refuses
//! that with 413), manifests and tags.

use std::io;

use bytes::Bytes;
use futures_util::StreamExt;
use hoist_oci::{Descriptor, Digest, Source, TargetError, TransferReporter};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};

use crate::auth::Scopes;
use crate::client::Call;
use crate::repository::{ManifestRef, is_manifest_type};
use crate::{RegistryError, Repository};

/// Chunks in flight between the source and the request body: enough to keep
/// both busy, little enough to hold in memory.
const BODY_QUEUE: usize = 8;

/// The manifest types a HEAD for a manifest accepts besides its own.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl Repository {
    /// Whether the registry has this blob (or manifest, by digest) here.
    pub(crate) async fn has(&self, descriptor: &Descriptor) -> Result<bool, RegistryError> {
        let path = Repository::content_path(descriptor);
        let operation = format!("check {}", descriptor.digest);
        // Push scope: a push asks this first, and one token then serves it all.
        let mut call = self.call(Method::HEAD, &path, operation, Scopes::push(&self.repository))?;
        if is_manifest_type(&descriptor.media_type) {
            // Distribution answers 404 for an OCI manifest or index that the
            // Accept header does not name, as if it were not there.
            let accept = format!("{}, {MANIFEST_TYPES}", descriptor.media_type);
            if let Ok(accept) = HeaderValue::from_str(&accept) {
                call.headers.insert(ACCEPT, accept);
            }
        }
        match self.client.send(call).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Uploads one blob from `source`: a session, then one streaming PUT whose
    /// body is the source's bytes as they arrive. The registry checks the digest.
    /// A registry (or proxy) that refuses so large a body with 413 gets the
    /// blob again from the start, in chunks.
    pub(crate) async fn upload(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        progress: &dyn TransferReporter,
    ) -> Result<(), TargetError> {
        match self.upload_monolithic(source, descriptor, progress).await {
            Err(Refused::TooLarge { reported }) => {
                self.upload_chunked_after(source, descriptor, reported, progress).await
            }
            Err(Refused::Other(e)) => Err(e),
            Ok(()) => Ok(()),
        }
    }

    async fn upload_monolithic(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        progress: &dyn TransferReporter,
    ) -> Result<(), Refused> {
        let digest = &descriptor.digest;
        let what = digest.to_string();
        let to_target = |e: RegistryError| e.into_target(&self.target, &what, Some(digest));
        let scopes = Scopes::push(&self.repository);
        let operation = format!("start upload of {digest}");
        let mut start = self.call(Method::POST, "blobs/uploads/", operation, scopes.clone()).map_err(to_target)?;
        start.body = Some(Bytes::new());
        let response = self.client.send(start).await.map_err(to_target)?;
        let session = self.location(&response, "start upload").map_err(to_target)?;

        let mut url = session.clone();
        url.query_pairs_mut().append_pair("digest", &digest.to_string());
        let mut put = self.call_to(Method::PUT, url, format!("upload {digest}"), scopes.clone());
        put.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        put.headers.insert(CONTENT_LENGTH, HeaderValue::from(descriptor.size));

        let mut blob = source.fetch(descriptor, 0).await?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(BODY_QUEUE);
        let body = reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx)));
        // Progress is reported here, on this task, as bytes are handed to the
        // request: the reporter is borrowed and cannot move into the body.
        let pump = async move {
            let mut sent = 0u64;
            while let Some(chunk) = blob.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        let _ = sender.send(Err(io::Error::new(e.kind(), e.to_string()))).await;
                        return Err(TargetError::backend(source.name(), e));
                    }
                };
                sent += chunk.len() as u64;
                if sent > descriptor.size {
                    let _ = sender.send(Err(io::Error::other("more bytes than the descriptor's size"))).await;
                    return Err(self.size_mismatch(
                        source,
                        descriptor,
                        format!("more than the {} bytes expected", descriptor.size),
                    ));
                }
                progress.blob_progress(descriptor, chunk.len() as u64);
                if sender.send(Ok(chunk)).await.is_err() {
                    // The request ended early; its result says why.
                    return Ok(sent);
                }
            }
            if sent < descriptor.size {
                let _ = sender.send(Err(io::Error::other("fewer bytes than the descriptor's size"))).await;
                return Err(self.size_mismatch(
                    source,
                    descriptor,
                    format!("{sent} bytes, {} expected", descriptor.size),
                ));
            }
            Ok(sent)
        };
        let (put_result, pump_result) = tokio::join!(self.client.send_once(put, body), pump);
        // A failing source makes the request fail too: the source's error is the cause.
        let result = match (pump_result, put_result) {
            (Err(e), _) => Err(Refused::Other(e)),
            (Ok(sent), Err(RegistryError::Status { status: 413, .. })) => Err(Refused::TooLarge { reported: sent }),
            (Ok(_), Err(e)) => Err(Refused::Other(to_target(e))),
            (Ok(_), Ok(_)) => Ok(()),
        };
        if result.is_err() {
            self.cancel_upload(session, &scopes).await;
        }
        result
    }

    /// Mounts a blob from another repository of the same registry. Ok(false)
    /// when the source is elsewhere, or the registry started an upload instead
    /// (it lacks the blob there, or we may not read it), which is cancelled.
    pub(crate) async fn mount_from(&self, descriptor: &Descriptor, source: &dyn Source) -> Result<bool, RegistryError> {
        let Some((registry, from)) = source.registry_repository() else {
            return Ok(false);
        };
        if registry != self.registry || from == self.repository || is_manifest_type(&descriptor.media_type) {
            return Ok(false);
        }
        let digest = &descriptor.digest;
        let scopes = Scopes::mount(&self.repository, &from);
        let operation = format!("mount {digest} from {from}");
        let mut call = self.call(Method::POST, "blobs/uploads/", operation, scopes.clone())?;
        call.url.query_pairs_mut().append_pair("mount", &digest.to_string()).append_pair("from", &from);
        call.body = Some(Bytes::new());
        let response = self.client.send(call).await?;
        if response.status() == StatusCode::CREATED {
            return Ok(true);
        }
        if let Ok(session) = self.location(&response, "mount") {
            self.cancel_upload(session, &scopes).await;
        }
        Ok(false)
    }

    /// Stores a manifest: exactly these bytes, under their digest.
    pub(crate) async fn put_manifest(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<(), RegistryError> {
        let actual = Digest::of(bytes);
        if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
            return Err(RegistryError::Verification {
                target: self.target.clone(),
                digest: descriptor.digest.clone(),
                problem: format!("the manifest's bytes hash to {actual} ({} bytes)", bytes.len()),
            });
        }
        let bytes = Bytes::copy_from_slice(bytes);
        self.put_manifest_at(descriptor, &descriptor.digest.to_string(), bytes.clone()).await?;
        self.remember_manifest(&descriptor.digest, bytes);
        Ok(())
    }

    /// Names a manifest: PUT its bytes (remembered, or fetched by digest) under the tag.
    pub(crate) async fn put_tag(&self, descriptor: &Descriptor, reference: &str) -> Result<(), RegistryError> {
        let tag = match ManifestRef::parse(reference, &self.target)? {
            ManifestRef::Tag(tag) => tag,
            // Pushing by digest names nothing: the manifest is there already.
            ManifestRef::Digest(_) => return Ok(()),
        };
        let bytes = self.fetch_whole(descriptor).await?;
        self.put_manifest_at(descriptor, &tag, bytes).await
    }

    async fn put_manifest_at(
        &self,
        descriptor: &Descriptor,
        reference: &str,
        bytes: Bytes,
    ) -> Result<(), RegistryError> {
        let path = format!("manifests/{reference}");
        let operation = format!("push manifest {reference}");
        let mut call = self.call(Method::PUT, &path, operation, Scopes::push(&self.repository))?;
        let media_type = HeaderValue::from_str(&descriptor.media_type).map_err(|e| RegistryError::InvalidResponse {
            target: self.target.clone(),
            operation: call.operation.clone(),
            problem: format!("media type {:?}: {e}", descriptor.media_type),
        })?;
        call.headers.insert(CONTENT_TYPE, media_type);
        call.body = Some(bytes);
        self.client.send(call).await.map(drop)
    }

    /// Ends an upload session we will not finish, so the registry can drop it
    /// now rather than when it expires. Best effort: failing changes nothing.
    pub(crate) async fn cancel_upload(&self, session: Url, scopes: &Scopes) {
        let call = self.call_to(Method::DELETE, session, "cancel upload".into(), scopes.clone());
        let _ = self.client.send(call).await;
    }

    /// The upload session a response points at (`Location`, relative or absolute).
    pub(crate) fn location(&self, response: &Response, operation: &str) -> Result<Url, RegistryError> {
        let invalid = |problem: String| RegistryError::InvalidResponse {
            target: self.target.clone(),
            operation: operation.to_string(),
            problem,
        };
        let location = response.headers().get(LOCATION).ok_or_else(|| invalid("no Location header".into()))?;
        let location = location.to_str().map_err(|e| invalid(format!("Location: {e}")))?;
        response.url().join(location).map_err(|e| invalid(format!("Location {location:?}: {e}")))
    }

    /// A call to a URL the registry gave (an upload session).
    pub(crate) fn call_to(&self, method: Method, url: Url, operation: String, scopes: Scopes) -> Call<'_> {
        Call {
            registry: &self.registry,
            target: &self.target,
            operation,
            method,
            url,
            scopes,
            headers: Default::default(),
            body: None,
            retry: true,
        }
    }

    pub(crate) fn size_mismatch(&self, source: &dyn Source, descriptor: &Descriptor, problem: String) -> TargetError {
        TargetError::Verification { digest: descriptor.digest.clone(), target: source.name(), problem }
    }
}

/// Why a monolithic upload did not happen.
enum Refused {
    /// The registry refused the body as too large (413): try chunks.
    TooLarge {
        /// Bytes already reported as sent.
        reported: u64,
    },
    Other(TargetError),
}

impl From<TargetError> for Refused {
    fn from(error: TargetError) -> Refused {
        Refused::Other(error)
    }
}
