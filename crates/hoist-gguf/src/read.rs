//! Driving the parser from a stream or a file.

use std::fs::File;
use std::path::Path;

use crate::parse::parse_file;
use crate::scan::HeaderScan;
use crate::{GgufError, GgufHeader, parse_header};

/// Default cap on header size; real headers (even 150k-token vocabularies) are a few MiB.
const DEFAULT_MAX_HEADER_BYTES: u64 = 512 << 20;
/// Bytes copied at a time while the scan walks a header that goes on: few steps for a
/// 6 MB header, and little copied beyond it.
const COPY_STEP: u64 = 256 << 10;

/// The next length worth parsing at: what the parser asked for, and at least 1.5x the last
/// attempt, so a stream of small chunks costs O(log n) parses, not one per `needed` step.
fn next_target(needed: u64, last_try: u64) -> u64 {
    needed.max(last_try.saturating_add(last_try / 2))
}

/// Accumulates the leading chunks of a file being streamed (e.g. while hashing it into a
/// store) and parses the header as soon as enough bytes have arrived.
///
/// It walks the header as it arrives (lengths only) and parses once the walk has seen all
/// of it; it copies only that far (plus at most 256 KiB), and refuses headers above
/// `max_header_bytes` (default 512 MiB).
#[derive(Debug)]
pub struct HeaderAccumulator {
    total_len: Option<u64>,
    max_header_bytes: u64,
    buf: Vec<u8>,
    /// Parse again once `buf` holds this many bytes (or the whole file).
    target: u64,
    /// Bytes fed so far, header or not.
    seen: u64,
    /// Walks the header as it arrives; gone once it has said to parse, after which
    /// parses happen at `target`.
    scan: Option<HeaderScan>,
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
            scan: Some(HeaderScan::new()),
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
            let have = self.buf.len() as u64;
            match self.scan.as_mut().map(|scan| scan.needed(&self.buf)) {
                Some(Some(needed)) if needed <= limit => {
                    if have < target {
                        return Ok(false);
                    }
                    self.target = needed.max(have.saturating_add(COPY_STEP));
                    continue;
                }
                // The scan has seen the whole header (or stopped at bytes for the parser
                // to judge): parse now, even before the target.
                Some(_) => self.scan = None,
                None if have < target => return Ok(false),
                None => {}
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

/// Reads only the header from a file, in one pass (never the tensor data), and checks
/// that the file is long enough for the tensor data it declares. Files with tensor types
/// unknown to this crate skip that length check, since their sizes are unknown.
pub fn read_header_from_path(path: &Path) -> Result<GgufHeader, GgufError> {
    let io_err = |source| GgufError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let header = parse_file(&mut file, path, file_len)?;
    if header.sizes_known() {
        header.check_file_len(file_len)?;
    }
    Ok(header)
}
