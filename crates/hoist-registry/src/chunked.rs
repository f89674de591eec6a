//! Chunked blob upload, the distribution spec's second way to push a blob: POST
//! for a session, then one PATCH per chunk (`Content-Range: start-end`,
//! inclusive), each following the `Location` the previous answer gave and
//! checking its `Range: 0-end`, then a PUT `?digest=` without a body that asks
//! the registry to check the digest and commit the blob.
//!
//! The monolithic streaming PUT (`upload.rs`) is the default: one request, no
//! buffering. Chunks are for registries (and the proxies in front of them) that
//! refuse a body that large (413), or that ask for chunks with
//! `OCI-Chunk-Min-Length`. Each chunk is held in memory (16 MiB by default, or
//! the registry's minimum if larger), so a failed PATCH can be sent again, and
//! the next chunk is read from the source while the current one is on the wire.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use hoist_oci::{BlobStream, Descriptor, Source, TargetError, TransferReporter};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, RANGE};
use reqwest::{Method, Response, Url};

use crate::auth::Scopes;
use crate::{RegistryError, Repository};

/// Chunk size when neither the caller nor the registry asks for another.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 * 1024 * 1024;

/// The header in which a registry names the smallest chunk it accepts (every
/// chunk but the last).
const CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

impl Repository {
    /// Uploads one blob from `source` in chunks of `chunk_size` bytes
    /// ([`DEFAULT_CHUNK_SIZE`] when `None`), or of the registry's
    /// `OCI-Chunk-Min-Length` where that is larger. The registry checks the
    /// digest when the upload is closed; nothing is committed before.
    ///
    /// Push uses this by itself when a registry refuses the monolithic upload
    /// with 413 (Payload Too Large); call it directly to force chunks.
    pub async fn upload_chunked(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        chunk_size: Option<u64>,
        progress: &dyn TransferReporter,
    ) -> Result<(), TargetError> {
        self.upload_chunks(source, descriptor, chunk_size, &Quiet { inner: progress, skip: AtomicU64::new(0) }).await
    }

    /// As [`upload_chunked`](Self::upload_chunked), not reporting the first
    /// `already_reported` bytes (sent by a monolithic attempt that was refused).
    pub(crate) async fn upload_chunked_after(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        already_reported: u64,
        progress: &dyn TransferReporter,
    ) -> Result<(), TargetError> {
        let quiet = Quiet { inner: progress, skip: AtomicU64::new(already_reported) };
        self.upload_chunks(source, descriptor, None, &quiet).await
    }

    async fn upload_chunks(
        &self,
        source: &dyn Source,
        descriptor: &Descriptor,
        chunk_size: Option<u64>,
        progress: &Quiet<'_>,
    ) -> Result<(), TargetError> {
        let digest = &descriptor.digest;
        let what = digest.to_string();
        let to_target = |e: RegistryError| e.into_target(&self.target, &what, Some(digest));
        let scopes = Scopes::push(&self.repository);
        let mut start = self
            .call(Method::POST, "blobs/uploads/", format!("start chunked upload of {digest}"), scopes.clone())
            .map_err(to_target)?;
        start.body = Some(Bytes::new());
        let response = self.client.send(start).await.map_err(to_target)?;
        let mut session = self.location(&response, "start chunked upload").map_err(to_target)?;
        let minimum = response
            .headers()
            .get(CHUNK_MIN_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let size = chunk_size.filter(|&s| s > 0).unwrap_or(DEFAULT_CHUNK_SIZE).max(minimum);
        let size = usize::try_from(size).unwrap_or(usize::MAX);

        let result = async {
            let mut chunks = Chunker { stream: source.fetch(descriptor, 0).await?, pending: Bytes::new() };
            let source_error = |e: io::Error| TargetError::backend(source.name(), e);
            let mut offset = 0u64;
            let mut chunk = chunks.next(size).await.map_err(source_error)?;
            while !chunk.is_empty() {
                let end = offset + chunk.len() as u64;
                if end > descriptor.size {
                    return Err(self.size_mismatch(
                        source,
                        descriptor,
                        format!("more than the {} bytes expected", descriptor.size),
                    ));
                }
                let len = chunk.len() as u64;
                // The next chunk is read while this one is on the wire.
                let (sent, next) = tokio::join!(self.patch(&session, offset, chunk, &scopes), chunks.next(size));
                session = sent.map_err(to_target)?;
                progress.report(descriptor, len);
                offset = end;
                chunk = next.map_err(source_error)?;
            }
            if offset < descriptor.size {
                return Err(self.size_mismatch(
                    source,
                    descriptor,
                    format!("{offset} bytes, {} expected", descriptor.size),
                ));
            }
            let mut url = session.clone();
            url.query_pairs_mut().append_pair("digest", &digest.to_string());
            let mut close =
                self.call_to(Method::PUT, url, format!("finish chunked upload of {digest}"), scopes.clone());
            close.headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
            close.body = Some(Bytes::new());
            self.client.send(close).await.map(drop).map_err(to_target)
        }
        .await;
        if result.is_err() {
            self.cancel_upload(session, &scopes).await;
        }
        result
    }

    /// Sends one chunk starting at `offset`; returns where the next goes. A
    /// failed PATCH is repeated by the request path (the chunk is in memory). A
    /// registry that took the first try, whose answer was lost, refuses the
    /// repeat (416): then the upload's status says how much it holds, and only
    /// what it lacks of the chunk is sent, so no byte is written twice.
    async fn patch(&self, session: &Url, offset: u64, chunk: Bytes, scopes: &Scopes) -> Result<Url, RegistryError> {
        let end = offset + chunk.len() as u64 - 1;
        let operation = format!("upload bytes {offset}-{end}");
        match self.send_chunk(session, offset, chunk.clone(), scopes).await {
            Err(RegistryError::Status { status: 416, .. }) => {}
            sent => return sent,
        }
        let (held_end, session) = self.upload_status(session, &operation, scopes).await?;
        match held_end {
            Some(held) if held >= end => Ok(session),
            // Distribution writes `0-0` for an empty upload as well.
            Some(0) if offset == 0 => self.send_chunk(&session, 0, chunk, scopes).await,
            Some(held) if held + 1 >= offset => {
                let rest = chunk.slice(usize::try_from(held + 1 - offset).unwrap_or(usize::MAX)..);
                self.send_chunk(&session, held + 1, rest, scopes).await
            }
            _ => Err(RegistryError::InvalidResponse {
                target: self.target.clone(),
                operation,
                problem: format!(
                    "the registry refused the chunk (416) and holds {} of the upload, not up to byte {}",
                    held_end.map_or("nothing".to_string(), |held| format!("bytes 0-{held}")),
                    offset.saturating_sub(1)
                ),
            }),
        }
    }

    /// One PATCH of `chunk` at `offset`; where the next goes.
    async fn send_chunk(
        &self,
        session: &Url,
        offset: u64,
        chunk: Bytes,
        scopes: &Scopes,
    ) -> Result<Url, RegistryError> {
        let end = offset + chunk.len() as u64 - 1;
        let operation = format!("upload bytes {offset}-{end}");
        let mut call = self.call_to(Method::PATCH, session.clone(), operation.clone(), scopes.clone());
        call.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        call.headers.insert(CONTENT_LENGTH, HeaderValue::from(chunk.len() as u64));
        call.headers.insert(
            CONTENT_RANGE,
            HeaderValue::from_str(&format!("{offset}-{end}")).expect("digits and a dash are a valid header"),
        );
        call.body = Some(chunk);
        let response = self.client.send(call).await?;
        self.check_range(&response, end, &operation)?;
        self.location(&response, &operation)
    }

    /// The upload's status (`GET` on its session): the last byte the registry
    /// holds (`None`: nothing) and the session's Location.
    async fn upload_status(
        &self,
        session: &Url,
        operation: &str,
        scopes: &Scopes,
    ) -> Result<(Option<u64>, Url), RegistryError> {
        let status_operation = format!("{operation}: ask the registry how much of the upload it holds");
        let call = self.call_to(Method::GET, session.clone(), status_operation.clone(), scopes.clone());
        let response = self.client.send(call).await?;
        let held = response.headers().get(RANGE).and_then(|r| r.to_str().ok()).and_then(parse_range);
        let location = self.location(&response, &status_operation).unwrap_or_else(|_| session.clone());
        Ok((held, location))
    }

    /// Checks the `Range: 0-end` a registry answers a chunk with (where it sends one).
    fn check_range(&self, response: &Response, end: u64, operation: &str) -> Result<(), RegistryError> {
        let Some(range) = response.headers().get(RANGE) else {
            return Ok(());
        };
        let range = range.to_str().unwrap_or_default();
        if parse_range(range) == Some(end) {
            return Ok(());
        }
        Err(RegistryError::InvalidResponse {
            target: self.target.clone(),
            operation: operation.to_string(),
            problem: format!("the registry holds Range {range:?} of the upload, 0-{end} expected"),
        })
    }
}

/// The last byte of `0-N` (some registries write `bytes=0-N`).
fn parse_range(range: &str) -> Option<u64> {
    let range = range.trim();
    let range = range.strip_prefix("bytes=").unwrap_or(range);
    let (start, end) = range.split_once('-')?;
    (start.trim() == "0").then_some(())?;
    end.trim().parse().ok()
}

/// Cuts a blob stream into chunks of a given size.
struct Chunker {
    stream: BlobStream,
    /// Bytes read from the stream and not yet handed out.
    pending: Bytes,
}

impl Chunker {
    /// The next `size` bytes (fewer at the end of the stream; empty after it).
    async fn next(&mut self, size: usize) -> io::Result<Bytes> {
        let mut chunk: Vec<u8> = Vec::new();
        loop {
            if !self.pending.is_empty() {
                let want = size - chunk.len();
                if chunk.is_empty() && self.pending.len() >= want {
                    // Whole from one read: no copy.
                    return Ok(self.pending.split_to(want));
                }
                let take = want.min(self.pending.len());
                if chunk.capacity() == 0 {
                    chunk.reserve_exact(size);
                }
                chunk.extend_from_slice(&self.pending.split_to(take));
                if chunk.len() == size {
                    return Ok(chunk.into());
                }
            }
            match self.stream.next().await {
                Some(bytes) => self.pending = bytes?,
                None => return Ok(chunk.into()),
            }
        }
    }
}

/// A reporter that swallows the first `skip` bytes: those a refused monolithic
/// attempt reported already.
struct Quiet<'a> {
    inner: &'a dyn TransferReporter,
    skip: AtomicU64,
}

impl Quiet<'_> {
    fn report(&self, descriptor: &Descriptor, bytes: u64) {
        let skip = self.skip.load(Ordering::Relaxed);
        let swallowed = skip.min(bytes);
        self.skip.store(skip - swallowed, Ordering::Relaxed);
        if bytes > swallowed {
            self.inner.blob_progress(descriptor, bytes - swallowed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_testkit::pseudo_random;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0-16777215"), Some(16_777_215));
        assert_eq!(parse_range("bytes=0-9"), Some(9));
        assert_eq!(parse_range("1-9"), None);
        assert_eq!(parse_range("0-"), None);
        assert_eq!(parse_range(""), None);
    }

    #[tokio::test]
    async fn chunker_cuts_exact_sizes_across_reads() {
        let reads: Vec<io::Result<Bytes>> =
            [7usize, 3, 25, 1, 4].iter().map(|&n| Ok(Bytes::from(vec![n as u8; n]))).collect();
        let mut chunker = Chunker { stream: Box::pin(futures_util::stream::iter(reads)), pending: Bytes::new() };
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        loop {
            let chunk = chunker.next(10).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            sizes.push(chunk.len());
            all.extend_from_slice(&chunk);
        }
        assert_eq!(sizes, [10, 10, 10, 10]);
        let expected: Vec<u8> = [7usize, 3, 25, 1, 4].iter().flat_map(|&n| vec![n as u8; n]).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn quiet_swallows_what_was_reported() {
        struct Count(AtomicU64);
        impl TransferReporter for Count {
            fn blob_progress(&self, _: &Descriptor, bytes: u64) {
                self.0.fetch_add(bytes, Ordering::Relaxed);
            }
        }
        let count = Count(AtomicU64::new(0));
        let quiet = Quiet { inner: &count, skip: AtomicU64::new(15) };
        let descriptor = Descriptor::for_bytes("x", b"x");
        for _ in 0..3 {
            quiet.report(&descriptor, 10);
        }
        assert_eq!(count.0.load(Ordering::Relaxed), 15);
    }

    /// Counts the bytes reported.
    #[derive(Default)]
    struct Count(AtomicU64);
    impl TransferReporter for Count {
        fn blob_progress(&self, _: &Descriptor, bytes: u64) {
            self.0.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    fn put(store: &hoist_store::Store, bytes: &[u8]) -> Descriptor {
        let (digest, size) = store.write_session().unwrap().put_bytes(bytes).unwrap();
        Descriptor::new("application/octet-stream", digest, size)
    }

    /// Against CNCF distribution: 40 MB in 16 MiB chunks (16 + 16 + 6.1), one
    /// byte over two chunks, exactly two chunks, a tiny and an empty blob. The
    /// registry serves each back whole with the right digest, and its log shows
    /// the PATCH requests, so the chunked path really ran.
    #[tokio::test(flavor = "multi_thread")]
    async fn chunked_uploads_to_a_real_registry() {
        let registry = hoist_testkit::RegistryServer::anonymous();
        let dir = tempfile::tempdir().unwrap();
        let store = hoist_store::Store::new(dir.path());
        let client = crate::RegistryClient::new(Default::default()).unwrap();
        let repository = client.repository(&registry.host(), "chunked/m");
        let mib16 = DEFAULT_CHUNK_SIZE as usize;
        let cases = [(40_000_000, 3), (2 * mib16 + 1, 3), (2 * mib16, 2), (5, 1), (0, 0)];
        let mut patches_expected = 0;
        for (seed, (size, chunks)) in cases.into_iter().enumerate() {
            let bytes = pseudo_random(size, seed as u64 + 1);
            let descriptor = put(&store, &bytes);
            let count = Count::default();
            repository.upload_chunked(&store, &descriptor, Some(DEFAULT_CHUNK_SIZE), &count).await.unwrap();
            assert_eq!(count.0.load(Ordering::Relaxed), size as u64);
            assert!(repository.has(&descriptor).await.unwrap(), "{size} bytes: {}", registry.log_tail());
            let mut stream = repository.fetch_stream(&descriptor, 0).await.unwrap();
            let mut hash = hoist_oci::DigestWriter::new(std::io::sink());
            while let Some(chunk) = stream.next().await {
                std::io::Write::write_all(&mut hash, &chunk.unwrap()).unwrap();
            }
            let (digest, read, _) = hash.finish();
            assert_eq!((digest, read), (descriptor.digest.clone(), size as u64), "{size} bytes");
            patches_expected += chunks;
        }
        let log = std::fs::read_to_string(registry.log_path()).unwrap();
        let patches = log.lines().filter(|l| l.contains("PATCH") && l.contains("response completed")).count();
        assert_eq!(patches, patches_expected, "PATCH requests in the registry log:\n{}", registry.log_tail());
    }

    /// A stand-in registry that refuses monolithic uploads (413), asks for
    /// chunks of at least `min` bytes, answers with relative and absolute
    /// Locations in turn, and checks each Content-Range and the final digest.
    mod fake {
        use std::collections::HashMap;
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::sync::{Arc, Mutex};

        #[derive(Default)]
        pub struct Seen {
            pub received: Vec<u8>,
            pub patches: Vec<String>,
            pub refused_monolithic: usize,
            pub committed: Option<String>,
            pub cancelled: usize,
            /// PATCHes refused with 416 for starting elsewhere than the bytes held.
            pub refused_ranges: usize,
            pub status_queries: usize,
        }

        pub struct Fake {
            pub host: String,
            pub seen: Arc<Mutex<Seen>>,
        }

        /// `lose_first_answer`: take the first PATCH's bytes, then close the
        /// connection without answering (the answer lost on the way back).
        pub fn start(min: u64, bad_range: bool, lose_first_answer: bool) -> Fake {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let host = listener.local_addr().unwrap().to_string();
            let seen = Arc::new(Mutex::new(Seen::default()));
            let (state, base) = (seen.clone(), host.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (state, base) = (state.clone(), base.clone());
                    std::thread::spawn(move || serve(stream, &state, &base, min, bad_range, lose_first_answer));
                }
            });
            Fake { host, seen }
        }

        fn serve(stream: TcpStream, seen: &Mutex<Seen>, host: &str, min: u64, bad_range: bool, lose_first: bool) {
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                let mut headers = HashMap::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let Some((name, value)) = header.trim_end().split_once(':') else { break };
                    headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
                }
                let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut seen = seen.lock().unwrap();
                let n = seen.patches.len();
                // Relative, then absolute, then relative ... Locations.
                let location = if n.is_multiple_of(2) {
                    format!("/v2/t/m/blobs/uploads/u?n={n}")
                } else {
                    format!("http://{host}/v2/t/m/blobs/uploads/u?n={n}")
                };
                let answer = match method.as_str() {
                    "POST" => format!("202 Accepted\r\nLocation: {location}\r\nOCI-Chunk-Min-Length: {min}"),
                    "PUT" if length > 0 => {
                        seen.refused_monolithic += 1;
                        "413 Payload Too Large".to_string()
                    }
                    "PATCH"
                        if !headers
                            .get("content-range")
                            .is_some_and(|r| r.starts_with(&format!("{}-", seen.received.len()))) =>
                    {
                        seen.refused_ranges += 1;
                        "416 Range Not Satisfiable".to_string()
                    }
                    "PATCH" => {
                        let range = headers.get("content-range").cloned().unwrap_or_default();
                        let start = seen.received.len();
                        assert_eq!(range, format!("{start}-{}", start + length - 1));
                        assert_eq!(headers.get("content-type").map(String::as_str), Some("application/octet-stream"));
                        seen.received.extend_from_slice(&body);
                        seen.patches.push(range);
                        if lose_first && seen.patches.len() == 1 {
                            return;
                        }
                        let end = seen.received.len() - 1 + usize::from(bad_range);
                        let location = if n.is_multiple_of(2) {
                            format!("http://{host}/v2/t/m/blobs/uploads/u?n={}", n + 1)
                        } else {
                            format!("/v2/t/m/blobs/uploads/u?n={}", n + 1)
                        };
                        format!("202 Accepted\r\nLocation: {location}\r\nRange: 0-{end}")
                    }
                    "PUT" => {
                        let digest = target.split("digest=").nth(1).unwrap_or_default().replace("%3A", ":");
                        assert!(target.contains(&format!("n={n}")), "{target}: not the latest Location");
                        assert_eq!(digest, hoist_oci::Digest::of(&seen.received).to_string());
                        seen.committed = Some(digest);
                        "201 Created".to_string()
                    }
                    "GET" => {
                        seen.status_queries += 1;
                        let held = seen.received.len().saturating_sub(1);
                        format!("204 No Content\r\nLocation: /v2/t/m/blobs/uploads/u?n={n}\r\nRange: 0-{held}")
                    }
                    "DELETE" => {
                        seen.cancelled += 1;
                        "204 No Content".to_string()
                    }
                    other => panic!("unexpected {other} {target}"),
                };
                drop(seen);
                let response = format!("HTTP/1.1 {answer}\r\nContent-Length: 0\r\n\r\n");
                if writer.write_all(response.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }

    fn plain_client() -> crate::RegistryClient {
        crate::RegistryClient::new(crate::ClientOptions { plain_http: true, ..Default::default() }).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_413_retries_the_blob_in_chunks_from_the_start() {
        let fake = fake::start(0, false, false);
        let dir = tempfile::tempdir().unwrap();
        let store = hoist_store::Store::new(dir.path());
        let bytes = pseudo_random(100_000, 9);
        let descriptor = put(&store, &bytes);
        let repository = plain_client().repository(&fake.host, "t/m");
        let count = Count::default();
        hoist_oci::Destination::copy_blob(&repository, &store, &descriptor, &count).await.unwrap();
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen.refused_monolithic, 1);
        assert_eq!(seen.cancelled, 1, "the refused session is cancelled");
        assert_eq!(seen.patches, ["0-99999"]);
        assert_eq!(seen.received, bytes);
        assert_eq!(seen.committed.as_deref(), Some(descriptor.digest.to_string().as_str()));
        // Bytes the refused attempt reported are not reported twice.
        assert_eq!(count.0.load(Ordering::Relaxed), 100_000);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn chunks_honour_the_registrys_minimum_and_follow_every_location() {
        let fake = fake::start(40_000, false, false);
        let dir = tempfile::tempdir().unwrap();
        let store = hoist_store::Store::new(dir.path());
        let bytes = pseudo_random(100_000, 10);
        let descriptor = put(&store, &bytes);
        let repository = plain_client().repository(&fake.host, "t/m");
        // Asked for 10 000-byte chunks, the registry wants at least 40 000.
        repository.upload_chunked(&store, &descriptor, Some(10_000), &Count::default()).await.unwrap();
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen.patches, ["0-39999", "40000-79999", "80000-99999"]);
        assert_eq!(seen.received, bytes);
        assert!(seen.committed.is_some());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_wrong_range_is_an_error_and_nothing_is_committed() {
        let fake = fake::start(0, true, false);
        let dir = tempfile::tempdir().unwrap();
        let store = hoist_store::Store::new(dir.path());
        let descriptor = put(&store, &pseudo_random(1000, 11));
        let repository = plain_client().repository(&fake.host, "t/m");
        let error = repository.upload_chunked(&store, &descriptor, Some(400), &Count::default()).await.unwrap_err();
        let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
        assert!(cause.contains("Range \"0-400\" of the upload, 0-399 expected"), "{cause}");
        let seen = fake.seen.lock().unwrap();
        assert!(seen.committed.is_none());
        assert_eq!(seen.cancelled, 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_chunk_whose_answer_was_lost_is_not_sent_twice() {
        let fake = fake::start(0, false, true);
        let dir = tempfile::tempdir().unwrap();
        let store = hoist_store::Store::new(dir.path());
        let bytes = pseudo_random(1000, 12);
        let descriptor = put(&store, &bytes);
        let repository = plain_client().repository(&fake.host, "t/m");
        repository.upload_chunked(&store, &descriptor, Some(400), &Count::default()).await.unwrap();
        let seen = fake.seen.lock().unwrap();
        // The repeat of the first chunk was refused; the status said it had arrived.
        assert_eq!((seen.refused_ranges, seen.status_queries), (1, 1));
        assert_eq!(seen.patches, ["0-399", "400-799", "800-999"]);
        assert_eq!(seen.received, bytes);
        assert_eq!(seen.committed.as_deref(), Some(descriptor.digest.to_string().as_str()));
    }
}
