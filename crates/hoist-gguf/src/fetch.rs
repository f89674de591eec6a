//! Reading a header over ranged requests (HTTP Range on a registry blob): which bytes to
//! fetch next, so that only the header crosses the network, in few round trips.

use std::ops::Range;

use crate::{GgufError, GgufHeader, parse_header};

/// The first request, and the smallest later one: most headers without a large
/// vocabulary fit in it, and a round trip costs more than 256 KiB on most links.
pub const MIN_FETCH: u64 = 256 << 10;
/// Default cap on the header size a plan will fetch (as [`crate::HeaderAccumulator`]).
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 512 << 20;

/// Where the next ranged read should end (exclusive) after the parser answered `err` on
/// the first `buf_len` bytes: `max(needed, 1.5 * buf_len, MIN_FETCH)`, so a header of
/// `h` bytes costs `O(log h)` round trips and at most about `1.5h` bytes (`needed` jumps
/// over whole declared arrays, which keeps large vocabularies to 3-5 requests). `None` unless
/// `err` is [`GgufError::Incomplete`] (any other error is final). The caller clamps the
/// result to the blob size when it knows it.
pub fn next_fetch(buf_len: u64, err: &GgufError) -> Option<u64> {
    match err {
        GgufError::Incomplete { needed } => Some((*needed).max(buf_len.saturating_add(buf_len / 2)).max(MIN_FETCH)),
        _ => None,
    }
}

/// Drives [`parse_header`] over ranged reads of a remote file.
///
/// ```
/// # use hoist_gguf::{GgmlType, GgufWriter, HeaderFetchPlan, Value};
/// # let mut w = GgufWriter::new();
/// # w.add_metadata("general.architecture", Value::String("llama".into()));
/// # w.add_tensor("output.weight", &[64, 8], GgmlType::Q8_0).unwrap();
/// # let mut blob = Vec::new();
/// # w.write_file(&mut blob, |_, _, b| b.fill(0)).unwrap();
/// let mut plan = HeaderFetchPlan::new(Some(blob.len() as u64));
/// while let Some(range) = plan.next_range() {
///     // GET with `Range: bytes={start}-{end - 1}`; here, a slice of the blob.
///     let bytes = &blob[range.start as usize..range.end as usize];
///     plan.feed(bytes).unwrap();
/// }
/// let header = plan.header().unwrap();
/// assert_eq!(header.tensors.len(), 1);
/// assert_eq!(plan.round_trips(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct HeaderFetchPlan {
    total_len: Option<u64>,
    max_header_bytes: u64,
    buf: Vec<u8>,
    /// Parse once `buf` reaches this length (or the end of the file).
    want: u64,
    round_trips: u32,
    header: Option<GgufHeader>,
}

impl HeaderFetchPlan {
    /// `total_len`: the blob size (from the manifest's descriptor), if known.
    pub fn new(total_len: Option<u64>) -> Self {
        let want = total_len.map_or(MIN_FETCH, |t| t.min(MIN_FETCH));
        HeaderFetchPlan {
            total_len,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            buf: Vec::new(),
            want,
            round_trips: 0,
            header: None,
        }
    }

    /// Refuse headers larger than `limit` bytes ([`GgufError::HeaderTooLarge`]).
    pub fn with_max_header_bytes(mut self, limit: u64) -> Self {
        self.max_header_bytes = limit;
        self.want = self.want.min(limit.max(1));
        self
    }

    /// The byte range to fetch next, `None` once the header is parsed.
    pub fn next_range(&self) -> Option<Range<u64>> {
        if self.header.is_some() {
            return None;
        }
        let start = self.buf.len() as u64;
        Some(start..self.want.max(start.saturating_add(1)))
    }

    /// Supply the bytes of the range just fetched (a server may send fewer than asked;
    /// the next range then starts where these end). An empty `bytes` means the file ends
    /// here. `Ok(true)` once the header is parsed; errors are final.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, GgufError> {
        if self.header.is_some() {
            return Ok(true);
        }
        self.round_trips = self.round_trips.saturating_add(1);
        let eof = bytes.is_empty();
        let room = usize::try_from(self.want.saturating_sub(self.buf.len() as u64)).unwrap_or(usize::MAX);
        self.buf.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        let have = self.buf.len() as u64;
        let at_end = eof || self.total_len.is_some_and(|t| have >= t);
        if have < self.want && !at_end {
            // The fixed prefix (magic, version, counts) can rule the blob out at once.
            let prefix = self.buf.get(..self.buf.len().min(24)).unwrap_or_default();
            return match parse_header(prefix, None) {
                Err(e) if !matches!(e, GgufError::Incomplete { .. }) => Err(e),
                _ => Ok(false),
            };
        }
        // At the end of the file the length is known even when the caller did not know it.
        let total = if eof { Some(have) } else { self.total_len };
        match parse_header(&self.buf, total) {
            Ok(h) => {
                self.header = Some(h);
                Ok(true)
            }
            Err(e) => {
                let Some(next) = next_fetch(have, &e) else { return Err(e) };
                if let GgufError::Incomplete { needed } = e
                    && needed > self.max_header_bytes
                {
                    return Err(GgufError::HeaderTooLarge { needed, limit: self.max_header_bytes });
                }
                let limit = self.max_header_bytes.min(self.total_len.unwrap_or(u64::MAX));
                self.want = next.min(limit).max(have.saturating_add(1));
                Ok(false)
            }
        }
    }

    /// The parsed header, once [`feed`](Self::feed) returned `Ok(true)`.
    pub fn header(&self) -> Option<&GgufHeader> {
        self.header.as_ref()
    }

    /// Takes the parsed header.
    pub fn into_header(self) -> Option<GgufHeader> {
        self.header
    }

    /// Bytes fetched so far (what `hoist inspect --remote` reports).
    pub fn bytes_read(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Ranged requests answered so far.
    pub fn round_trips(&self) -> u32 {
        self.round_trips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_fetch_grows_geometrically() {
        let inc = |needed| GgufError::Incomplete { needed };
        assert_eq!(next_fetch(0, &inc(10)), Some(MIN_FETCH));
        assert_eq!(next_fetch(MIN_FETCH, &inc(MIN_FETCH + 1)), Some(3 * MIN_FETCH / 2));
        assert_eq!(next_fetch(1 << 20, &inc(5 << 20)), Some(5 << 20));
        assert_eq!(next_fetch(u64::MAX, &inc(u64::MAX)), Some(u64::MAX));
        assert_eq!(next_fetch(10, &GgufError::BadMagic { found: [0; 4] }), None);
    }
}
