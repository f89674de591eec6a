//! One tar layer read through a [`Source`]: entry by entry, and a GGUF
//! header from an entry's data.
//!
//! A plain tar is read by ranges: headers in aligned 64 KiB blocks (kept, so
//! many small entries cost one request), file data jumped over. A compressed
//! tar (or a plain one from a source without ranges) is read as one stream
//! ([`super::stream`]).

use std::collections::VecDeque;

use bytes::Bytes;
use hoist_gguf::{GgufHeader, HeaderFetchPlan};
use hoist_oci::{Descriptor, Source, TargetError};

use super::stream::{StreamFail, Streamed};
use super::ustar::{self, BLOCK, Kind, MAX_EXTENSION, Pax};
use crate::ModelError;
use crate::util::compression::Compression;
use crate::util::stream::read_up_to;

/// Bytes fetched at once while walking headers; a multiple of [`BLOCK`], so a
/// header never straddles two.
pub(super) const READ_BLOCK: u64 = 64 << 10;
/// Blocks kept: the walk goes forward, an extension's data may span a few.
const CACHED_BLOCKS: usize = 4;
/// A walk that needs more requests than this for one layer's headers gives up
/// (a layer of many files of a few hundred kB each, say): 32 MiB of headers.
pub(super) const MAX_WALK_REQUESTS: u32 = 512;
/// Entries walked in one layer before giving up.
pub(super) const MAX_ENTRIES: u64 = 100_000;

/// A file, directory or link of the layer.
#[derive(Debug)]
pub(super) struct Entry {
    /// The path as the archive spells it.
    pub path: String,
    pub kind: Kind,
    /// Where the entry's data starts in the (decompressed) layer.
    pub data_offset: u64,
    pub size: u64,
}

/// Walks one layer's entries.
pub(super) struct LayerWalk<'a> {
    source: &'a dyn Source,
    layer: &'a Descriptor,
    reader: Reader<'a>,
    /// Offset of the next header.
    next: u64,
    globals: Pax,
    pub entries: u64,
}

enum Reader<'a> {
    Ranged(Ranged<'a>),
    Streamed(Box<Streamed>),
}

impl<'a> LayerWalk<'a> {
    /// Opens a layer: by ranges when it is a plain tar and the source serves
    /// ranges, else as one stream.
    pub async fn open(
        source: &'a dyn Source,
        layer: &'a Descriptor,
        compression: Compression,
    ) -> Result<LayerWalk<'a>, ModelError> {
        let mut walk = LayerWalk {
            source,
            layer,
            reader: Reader::Ranged(Ranged { source, layer, cache: VecDeque::new(), bytes_read: 0, requests: 0 }),
            next: 0,
            globals: Pax::default(),
            entries: 0,
        };
        if compression == Compression::None
            && let Reader::Ranged(ranged) = &mut walk.reader
            && ranged.block(0).await?.is_some()
        {
            return Ok(walk);
        }
        let stream = source.fetch(layer, 0).await?;
        walk.reader = Reader::Streamed(Box::new(Streamed::new(stream, compression).map_err(|e| walk.fail_at(0, e))?));
        Ok(walk)
    }

    /// Bytes read from the source (compressed bytes for a compressed layer),
    /// and requests made.
    pub fn cost(&self) -> (u64, u32) {
        match &self.reader {
            Reader::Ranged(r) => (r.bytes_read, r.requests),
            Reader::Streamed(s) => (s.compressed(), 1),
        }
    }

    pub fn media_type(&self) -> &str {
        &self.layer.media_type
    }

    pub fn digest(&self) -> &hoist_oci::Digest {
        &self.layer.digest
    }

    /// "sha256:… in registry/repo"
    pub fn layer_name(&self) -> String {
        format!("{} in {}", self.layer.digest, self.source.name())
    }

    pub fn fail(&self, entry: &str, reason: impl Into<String>) -> ModelError {
        ModelError::TarEntry { layer: self.layer_name(), entry: format!("entry {entry:?}"), reason: reason.into() }
    }

    fn fail_at(&self, offset: u64, reason: impl Into<String>) -> ModelError {
        ModelError::TarEntry {
            layer: self.layer_name(),
            entry: format!("the header at byte {offset}"),
            reason: reason.into(),
        }
    }

    /// The next entry (extension headers applied), `None` at the end of the archive.
    pub async fn next_entry(&mut self) -> Result<Option<Entry>, ModelError> {
        let mut local = Pax::default();
        let mut long_name = None;
        loop {
            if self.entries >= MAX_ENTRIES || self.walk_requests() > MAX_WALK_REQUESTS {
                let (bytes, requests) = self.cost();
                return Err(ModelError::TarWalkLimit {
                    layer: self.layer_name(),
                    entries: self.entries,
                    bytes,
                    requests,
                });
            }
            let at = self.next;
            let Some(block) = self.read(at, BLOCK).await? else { return Ok(None) };
            let block: &[u8; BLOCK as usize] =
                block.as_slice().try_into().map_err(|_| self.fail_at(at, "the archive ends inside it"))?;
            let Some(header) = ustar::parse_header(block).map_err(|e| self.fail_at(at, e))? else { return Ok(None) };
            self.entries += 1;
            let size = match header.kind {
                Kind::PaxLocal | Kind::PaxGlobal | Kind::GnuLongName => header.size,
                _ => local.size.or(self.globals.size).unwrap_or(header.size),
            };
            let data_offset = at.saturating_add(BLOCK);
            let padded = size.checked_next_multiple_of(BLOCK).and_then(|s| s.checked_add(data_offset));
            let next = padded.ok_or_else(|| self.fail(&header.name, format!("a size of {size} bytes")))?;
            let extension = matches!(header.kind, Kind::PaxLocal | Kind::PaxGlobal | Kind::GnuLongName);
            if extension && size > MAX_EXTENSION {
                return Err(self.fail(&header.name, format!("an extended header of {size} bytes")));
            }
            if let Some(total) = self.layer_size()
                && next > total
            {
                let reason = format!("its {size} bytes of data run past the end of the {total}-byte layer");
                return Err(self.fail(&header.name, reason));
            }
            self.next = next;
            if extension {
                let data = self.read(data_offset, size).await?;
                let data = data.filter(|d| d.len() as u64 == size);
                let data = data.ok_or_else(|| self.fail(&header.name, "the archive ends inside it"))?;
                match header.kind {
                    Kind::PaxLocal => local.apply(&data).map_err(|e| self.fail(&header.name, e))?,
                    Kind::PaxGlobal => self.globals.apply(&data).map_err(|e| self.fail(&header.name, e))?,
                    _ => long_name = Some(ustar::long_name(&data)),
                }
                continue;
            }
            let path = local.path.or(long_name).or_else(|| self.globals.path.clone()).unwrap_or(header.name);
            return Ok(Some(Entry { path, kind: header.kind, data_offset, size }));
        }
    }

    /// The GGUF header at the start of `entry`'s data.
    pub async fn gguf_header(&mut self, entry: &Entry) -> Result<GgufHeader, ModelError> {
        let what = format!("{} entry {:?}", self.layer_name(), entry.path);
        let gguf_error = |error| ModelError::GgufLayer { layer: what.clone(), error };
        let mut plan = HeaderFetchPlan::new(Some(entry.size));
        while let Some(range) = plan.next_range() {
            let end = range.end.min(entry.size);
            // Both within the entry, which lies within the layer.
            let (start, end) = (entry.data_offset + range.start, entry.data_offset + end);
            let bytes = match &mut self.reader {
                Reader::Ranged(ranged) => ranged.read_direct(start, end).await?,
                Reader::Streamed(streamed) => {
                    streamed.read_at(start, end - start).await.map_err(|e| self.stream_error(e))?
                }
            };
            plan.feed(&bytes).map_err(gguf_error)?;
        }
        plan.into_header().ok_or_else(|| self.fail(&entry.path, "the GGUF header did not complete"))
    }

    fn stream_error(&self, fail: StreamFail) -> ModelError {
        match fail {
            StreamFail::Transport(e) => ModelError::Target { source: TargetError::backend(self.source.name(), e) },
            StreamFail::Content(at, reason) => self.fail_at(at, reason),
        }
    }

    fn layer_size(&self) -> Option<u64> {
        matches!(self.reader, Reader::Ranged(_)).then_some(self.layer.size)
    }

    fn walk_requests(&self) -> u32 {
        match &self.reader {
            Reader::Ranged(r) => r.requests,
            Reader::Streamed(_) => 0,
        }
    }

    /// `len` bytes at `offset`, fewer at the end of the layer, `None` when
    /// `offset` is the end.
    async fn read(&mut self, offset: u64, len: u64) -> Result<Option<Vec<u8>>, ModelError> {
        let bytes = match &mut self.reader {
            Reader::Ranged(ranged) => ranged.read(offset, len).await?,
            Reader::Streamed(streamed) => streamed.read_at(offset, len).await.map_err(|e| self.stream_error(e))?,
        };
        Ok((!bytes.is_empty() || len == 0).then_some(bytes))
    }
}

/// A plain tar read by ranges.
struct Ranged<'a> {
    source: &'a dyn Source,
    layer: &'a Descriptor,
    /// (block index, bytes), most recent last.
    cache: VecDeque<(u64, Bytes)>,
    bytes_read: u64,
    requests: u32,
}

impl Ranged<'_> {
    /// Block `index`, fetched unless kept; `None` when the source serves no
    /// ranges.
    async fn block(&mut self, index: u64) -> Result<Option<Bytes>, ModelError> {
        if let Some((_, bytes)) = self.cache.iter().find(|(i, _)| *i == index) {
            return Ok(Some(bytes.clone()));
        }
        let start = index.saturating_mul(READ_BLOCK).min(self.layer.size);
        let end = start.saturating_add(READ_BLOCK).min(self.layer.size);
        let Some(bytes) = self.fetch(start, end).await? else { return Ok(None) };
        let bytes = Bytes::from(bytes);
        if self.cache.len() == CACHED_BLOCKS {
            self.cache.pop_front();
        }
        self.cache.push_back((index, bytes.clone()));
        Ok(Some(bytes))
    }

    /// Bytes `offset..offset + len` (cut at the layer's end) through the blocks.
    async fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, ModelError> {
        let end = offset.saturating_add(len).min(self.layer.size);
        let mut out = Vec::new();
        let mut at = offset;
        while at < end {
            let block = self.block(at / READ_BLOCK).await?.ok_or_else(|| self.ranges_stopped())?;
            match append_from_block(&block, at, end, &mut out) {
                0 => break,
                taken => at += taken,
            }
        }
        Ok(out)
    }

    /// Bytes `start..end` (within the layer): what the kept blocks hold, the
    /// rest in one request.
    async fn read_direct(&mut self, start: u64, end: u64) -> Result<Vec<u8>, ModelError> {
        let mut out = Vec::new();
        let mut at = start;
        while at < end {
            let Some((_, block)) = self.cache.iter().find(|(i, _)| *i == at / READ_BLOCK) else { break };
            match append_from_block(block, at, end, &mut out) {
                0 => break,
                taken => at += taken,
            }
        }
        if at < end {
            out.extend(self.fetch(at, end).await?.ok_or_else(|| self.ranges_stopped())?);
        }
        Ok(out)
    }

    /// One ranged request for exactly `start..end`.
    async fn fetch(&mut self, start: u64, end: u64) -> Result<Option<Vec<u8>>, ModelError> {
        let Some(stream) = self.source.fetch_range(self.layer, start, end).await? else { return Ok(None) };
        self.requests = self.requests.saturating_add(1);
        let bytes = read_up_to(stream, end - start)
            .await
            .map_err(|e| ModelError::Target { source: TargetError::backend(self.source.name(), e) })?;
        self.bytes_read += bytes.len() as u64;
        if (bytes.len() as u64) < end - start {
            let reason = format!("bytes {start}..{end} asked, {} received", bytes.len());
            return Err(ModelError::TarEntry {
                layer: format!("{} in {}", self.layer.digest, self.source.name()),
                entry: "a ranged read".into(),
                reason,
            });
        }
        Ok(Some(bytes))
    }

    fn ranges_stopped(&self) -> ModelError {
        let target = self.source.name();
        ModelError::Target {
            source: TargetError::Unsupported {
                target,
                what: format!("ranged reads of {} (after some)", self.layer.digest),
            },
        }
    }
}

/// Appends to `out` the bytes of `block` (the block holding layer offset `at`)
/// from `at` up to `end` or the block's end; how many.
fn append_from_block(block: &[u8], at: u64, end: u64, out: &mut Vec<u8>) -> u64 {
    let from = (at % READ_BLOCK) as usize;
    let take = usize::try_from(end - at).unwrap_or(usize::MAX).min(block.len().saturating_sub(from));
    out.extend_from_slice(&block[from..from + take]);
    take as u64
}
