//! A copy source for the ranged-download tests: a store whose ranged reads are
//! counted, and on request slowed down, broken or corrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use hoist_oci::{BlobStream, Descriptor, Source, TargetError};
use hoist_store::Store;

#[derive(Default)]
pub struct Tap {
    pub inner: Option<Store>,
    /// `fetch_range` calls.
    pub ranges: AtomicUsize,
    /// Bytes delivered by ranged reads.
    pub served: Arc<AtomicU64>,
    /// A range starting at this offset pauses this long before each chunk.
    pub slow_start: Option<(u64, Duration)>,
    /// Every range pauses this long before each chunk: a limit per connection.
    pub every_chunk_pause: Option<Duration>,
    /// Ranged streams open now, and the most ever open at once.
    pub open: Arc<AtomicUsize>,
    pub most_open: Arc<AtomicUsize>,
    /// Bytes at or past this offset never arrive: a range that reaches it
    /// breaks there, retries included.
    pub fail_from: Option<u64>,
    /// The byte at this offset is delivered flipped.
    pub flip: Option<u64>,
    /// Answer `fetch_range` with `None`, like a server that ignores Range.
    pub no_ranges: bool,
}

impl Tap {
    pub fn new(store: &Store) -> Tap {
        Tap { inner: Some(store.clone()), ..Tap::default() }
    }

    fn store(&self) -> &Store {
        self.inner.as_ref().expect("a tap on a store")
    }

    pub fn ranges(&self) -> usize {
        self.ranges.load(Ordering::SeqCst)
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    pub fn most_open(&self) -> usize {
        self.most_open.load(Ordering::SeqCst)
    }
}

/// Counts a ranged stream as open until it is dropped.
struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(tap: &Tap) -> OpenStream {
        let now = tap.open.fetch_add(1, Ordering::SeqCst) + 1;
        tap.most_open.fetch_max(now, Ordering::SeqCst);
        OpenStream(Arc::clone(&tap.open))
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Source for Tap {
    fn name(&self) -> String {
        "tap".into()
    }

    async fn resolve(&self, reference: &str) -> Result<Descriptor, TargetError> {
        Source::resolve(self.store(), reference).await
    }

    async fn fetch_all(&self, descriptor: &Descriptor) -> Result<Vec<u8>, TargetError> {
        self.store().fetch_all(descriptor).await
    }

    async fn fetch(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, TargetError> {
        self.store().fetch(descriptor, offset).await
    }

    async fn fetch_range(
        &self,
        descriptor: &Descriptor,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, TargetError> {
        self.ranges.fetch_add(1, Ordering::SeqCst);
        if self.no_ranges {
            return Ok(None);
        }
        let Some(mut stream) = self.store().fetch_range(descriptor, start, end).await? else { return Ok(None) };
        let pause = match self.slow_start {
            Some((offset, pause)) if offset == start => Some(pause),
            _ => self.every_chunk_pause,
        };
        if let Some(pause) = pause {
            stream = Box::pin(stream.then(move |chunk| async move {
                tokio::time::sleep(pause).await;
                chunk
            }));
        }
        if let Some(flip) = self.flip {
            let mut at = start;
            stream = Box::pin(stream.map(move |chunk| {
                let chunk = chunk?;
                let len = chunk.len() as u64;
                let chunk = if (at..at + len).contains(&flip) {
                    let mut bytes = chunk.to_vec();
                    bytes[(flip - at) as usize] ^= 0x01;
                    Bytes::from(bytes)
                } else {
                    chunk
                };
                at += len;
                Ok(chunk)
            }));
        }
        let limit = match self.fail_from {
            Some(offset) => offset.saturating_sub(start),
            None => u64::MAX,
        };
        let served = Arc::clone(&self.served);
        let open = OpenStream::new(self);
        let stream = futures_util::stream::unfold((stream, 0u64, false), move |(mut stream, sent, failed)| {
            let served = Arc::clone(&served);
            let _open = &open;
            async move {
                if failed {
                    return None;
                }
                match stream.next().await? {
                    Ok(chunk) if sent + chunk.len() as u64 > limit => {
                        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by the tap");
                        let kept = (limit - sent) as usize;
                        served.fetch_add(kept as u64, Ordering::SeqCst);
                        // The bytes before the limit arrive, then the connection breaks.
                        let item = if kept > 0 { Ok(chunk.slice(..kept)) } else { Err(reset) };
                        Some((item, (stream, limit, kept == 0)))
                    }
                    Ok(chunk) => {
                        served.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                        let sent = sent + chunk.len() as u64;
                        Some((Ok(chunk), (stream, sent, false)))
                    }
                    Err(e) => Some((Err(e), (stream, sent, true))),
                }
            }
        });
        Ok(Some(Box::pin(stream)))
    }
}
