//! Driving the parser from a stream or a file.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::{GgufError, GgufHeader, parse_header};

/// Default cap on header size; real headers (even 150k-token vocabularies) are a few MiB.
const DEFAULT_MAX_HEADER_BYTES: u64 = 512 << 20;
/// From a file, reading ahead is cheap and every parse starts from the top:
/// read more at once, and grow 4x, so a 6 MB header parses about 3 times.
const FIRST_FILE_READ: u64 = 1 << 20;

/// The next length worth parsing at: what the parser asked for, and at least 1.5x the last
/// attempt, so a stream of small chunks costs O(log n) parses, not one per `needed` step.
fn next_target(needed: u64, last_try: u64) -> u64 {
    needed.max(last_try.saturating_add(last_try / 2))
}

/// Accumulates the leading chunks of a file being streamed (e.g. while hashing it into a
/// store) and parses the header as soon as enough bytes have arrived.
///
/// It copies only until the header is complete (at most ~1.5x the header size), and refuses
/// headers above `max_header_bytes` (default 512 MiB).
#[derive(Debug)]
pub struct HeaderAccumulator {
    total_len: Option<u64>,
    max_header_bytes: u64,
    buf: Vec<u8>,
    /// Parse again once `buf` holds this many bytes (or the whole file).
    target: u64,
    /// Bytes fed so far, header or not.
    seen: u64,
    header: Option<GgufHeader>,
}

impl HeaderAccumulator {
    pub fn new(total_len: Option<u64>) -> Self {
        HeaderAccumulator {
            total_len,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            buf: Vec::new(),
            // The magic alone can already rule a stream out.
            target: 4,
            seen: 0,
            header: None,
        }
    }

    /// Sets the header size limit.
    pub fn with_max_header_bytes(mut self, limit: u64) -> Self {
        self.max_header_bytes = limit;
        self
    }

    /// Feed the next chunk. `Ok(true)` once the header is parsed (later feeds are ignored cheaply).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<bool, GgufError> {
        self.seen = self.seen.saturating_add(chunk.len() as u64);
        if self.header.is_some() {
            return Ok(true);
        }
        let mut rest = chunk;
        loop {
            let limit = self.max_header_bytes.min(self.total_len.unwrap_or(u64::MAX));
            let target = self.target.min(limit);
            let have = self.buf.len() as u64;
            let want = usize::try_from(target.saturating_sub(have)).unwrap_or(usize::MAX);
            let (now, later) = rest.split_at(want.min(rest.len()));
            self.buf.extend_from_slice(now);
            rest = later;
            if (self.buf.len() as u64) < target {
                return Ok(false);
            }
            match parse_header(&self.buf, self.total_len) {
                Ok(header) => {
                    self.header = Some(header);
                    self.buf = Vec::new();
                    return Ok(true);
                }
                Err(GgufError::Incomplete { needed }) if needed > self.max_header_bytes => {
                    return Err(GgufError::HeaderTooLarge { needed, limit: self.max_header_bytes });
                }
                Err(GgufError::Incomplete { needed }) => self.target = next_target(needed, self.buf.len() as u64),
                Err(e) => return Err(e),
            }
        }
    }

    /// Call at end of stream: the header, or an Incomplete/Truncated error if the stream
    /// ended before the header or the tensor data did.
    pub fn finish(self) -> Result<GgufHeader, GgufError> {
        if let Some(total) = self.total_len
            && self.seen < total
        {
            return Err(GgufError::Truncated { what: "stream".into(), needed: total, actual: self.seen });
        }
        // Without a header every fed byte was kept, so this is the whole stream; a header
        // still incomplete means the stream ended early.
        let header = match self.header {
            Some(h) => h,
            None => parse_header(&self.buf, None).map_err(|e| match e {
                GgufError::Incomplete { needed } => {
                    GgufError::Truncated { what: "header".into(), needed, actual: self.seen }
                }
                e => e,
            })?,
        };
        if header.sizes_known() {
            header.check_file_len(self.seen)?;
        }
        Ok(header)
    }
}

/// Reads only the header from a file, progressively (never the tensor data), and checks
/// that the file is long enough for the tensor data it declares. Files with tensor types
/// unknown to this crate skip that length check, since their sizes are unknown.
pub fn read_header_from_path(path: &Path) -> Result<GgufHeader, GgufError> {
    let io_err = |source| GgufError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut buf = Vec::new();
    let mut target = FIRST_FILE_READ.min(file_len);
    let header = loop {
        let have = buf.len() as u64;
        (&mut file).take(target.saturating_sub(have)).read_to_end(&mut buf).map_err(io_err)?;
        match parse_header(&buf, Some(file_len)) {
            Ok(h) => break h,
            // The file shrank underneath us or the read came up short: stop rather than spin.
            Err(GgufError::Incomplete { .. }) if buf.len() as u64 == have => {
                return Err(GgufError::Truncated { what: "header".into(), needed: target, actual: have });
            }
            Err(GgufError::Incomplete { needed }) => target = needed.max(have.saturating_mul(4)).min(file_len),
            Err(e) => return Err(e),
        }
    };
    if header.sizes_known() {
        header.check_file_len(file_len)?;
    }
    Ok(header)
}
