//! The single-stream download, for small blobs and sources that cannot serve
//! ranges. A stream that breaks or ends early is asked for again from the byte
//! it reached (`Source::fetch` with an offset), so a reset connection costs only
//! what was in flight, and the bytes are still hashed in one pass, in order.

use futures_util::StreamExt;
use hoist_oci::{BlobStream, Descriptor, Source, TargetError, TransferReporter};

use crate::blocking::blocking;
use crate::target::commit_error;
use crate::{Ingest, Store, WriteSession};
use hoist_oci::retry::{MAX_ATTEMPTS, retry_delay};

/// Bytes handed to the ingest writer at once (see `Ingest::write_chunk`).
const CHUNK: usize = 4 * 1024 * 1024;

/// Why a stream stopped before the blob was complete.
enum Stop {
    /// Worth asking again from where it stopped.
    Broken(TargetError),
    /// Not: the source sent more than the descriptor allows, or the store failed.
    Fatal(TargetError),
}

/// Downloads `descriptor` from `source` into the store, verified.
pub(crate) async fn download(
    session: &WriteSession,
    source: &dyn Source,
    descriptor: &Descriptor,
    progress: &dyn TransferReporter,
) -> Result<(), TargetError> {
    let store = session.store();
    let mut copy = Copy {
        store,
        source,
        descriptor,
        ingest: session.ingest().map_err(|e| store.target_error(e))?,
        chunk: Vec::with_capacity(CHUNK),
    };
    let mut attempt = 0;
    loop {
        let stopped = match source.fetch(descriptor, copy.received()).await {
            Ok(stream) => copy.pump(stream, progress).await,
            Err(error) if error.is_transient() => Err(Stop::Broken(error)),
            Err(error) => Err(Stop::Fatal(error)),
        };
        match stopped {
            Ok(()) => break,
            Err(Stop::Fatal(error)) => return Err(error),
            Err(Stop::Broken(error)) => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(error);
                }
                tokio::time::sleep(retry_delay(attempt, error.retry_after())).await;
            }
        }
    }
    let Copy { mut ingest, chunk, .. } = copy;
    if !chunk.is_empty() {
        blocking(|| ingest.write_chunk(chunk)).map_err(|e| store.target_error(e))?;
    }
    blocking(|| ingest.finish(Some((&descriptor.digest, descriptor.size)))?.commit())
        .map_err(commit_error(store, &source.name()))?;
    Ok(())
}

struct Copy<'a> {
    store: &'a Store,
    source: &'a dyn Source,
    descriptor: &'a Descriptor,
    ingest: Ingest,
    /// Bytes received but not yet handed to the ingest.
    chunk: Vec<u8>,
}

impl Copy<'_> {
    fn received(&self) -> u64 {
        self.ingest.written() + self.chunk.len() as u64
    }

    /// Copies one stream until it ends; Ok only when the blob is complete.
    async fn pump(&mut self, mut stream: BlobStream, progress: &dyn TransferReporter) -> Result<(), Stop> {
        let size = self.descriptor.size;
        while let Some(bytes) = stream.next().await {
            let bytes = bytes.map_err(|e| self.broken(e.to_string()))?;
            progress.blob_progress(self.descriptor, bytes.len() as u64);
            self.chunk.extend_from_slice(&bytes);
            if self.received() > size {
                return Err(Stop::Fatal(TargetError::Verification {
                    digest: self.descriptor.digest.clone(),
                    target: self.source.name(),
                    problem: format!("more than the {size} bytes expected"),
                }));
            }
            if self.chunk.len() >= CHUNK {
                let full = std::mem::take(&mut self.chunk);
                let ingest = &mut self.ingest;
                self.chunk =
                    blocking(|| ingest.write_chunk(full)).map_err(|e| Stop::Fatal(self.store.target_error(e)))?;
            }
        }
        let received = self.received();
        if received < size {
            return Err(self.broken(format!("the stream ended after {received} of {size} bytes")));
        }
        Ok(())
    }

    fn broken(&self, problem: String) -> Stop {
        let problem = format!("download of {} broke: {problem}", self.descriptor.digest);
        Stop::Broken(TargetError::transient(self.source.name(), None, problem))
    }
}
