//! A layer read as one stream from its start, decompressed as it arrives: a
//! compressed tar cannot be entered in the middle, so it is read through up
//! to what is wanted and dropped there.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use hoist_oci::BlobStream;

use super::layer::READ_BLOCK;
use crate::util::compression::Compression;

/// A failure while streaming: the transfer's, or the content's (at a
/// decompressed offset).
pub(super) enum StreamFail {
    Transport(io::Error),
    Content(u64, String),
}

/// A layer read as one stream from its start, decompressed as it arrives.
pub(super) struct Streamed {
    stream: BlobStream,
    decoder: Decoder,
    /// Decompressed bytes passed so far.
    position: u64,
    /// Compressed bytes received so far.
    compressed: u64,
    /// Where skipped bytes are decompressed to.
    scratch: Vec<u8>,
}

enum Decoder {
    Plain(Feed),
    Gzip(flate2::bufread::MultiGzDecoder<Feed>),
    Zstd(zstd::stream::read::Decoder<'static, Feed>),
}

impl Streamed {
    pub fn new(stream: BlobStream, compression: Compression) -> Result<Streamed, String> {
        let feed = Feed::default();
        let decoder = match compression {
            Compression::None => Decoder::Plain(feed),
            Compression::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(feed)),
            Compression::Zstd => {
                Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(feed).map_err(|e| format!("zstd: {e}"))?)
            }
        };
        Ok(Streamed { stream, decoder, position: 0, compressed: 0, scratch: Vec::new() })
    }

    /// Compressed bytes received so far.
    pub fn compressed(&self) -> u64 {
        self.compressed
    }

    fn feed(&mut self) -> &mut Feed {
        match &mut self.decoder {
            Decoder::Plain(feed) => feed,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        }
    }

    /// Decompressed bytes into `out`; 0 at the end of the layer.
    async fn fill(&mut self, out: &mut [u8]) -> Result<usize, StreamFail> {
        loop {
            let result = match &mut self.decoder {
                Decoder::Plain(feed) => feed.read(out),
                Decoder::Gzip(d) => d.read(out),
                Decoder::Zstd(d) => d.read(out),
            };
            match result {
                Ok(n) => {
                    self.position += n as u64;
                    return Ok(n);
                }
                // The decoder has used every byte received: wait for more.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match self.stream.next().await {
                    Some(Ok(chunk)) => {
                        self.compressed += chunk.len() as u64;
                        if !chunk.is_empty() {
                            self.feed().chunks.push_back(chunk);
                        }
                    }
                    Some(Err(e)) => return Err(StreamFail::Transport(e)),
                    None => self.feed().ended = true,
                },
                Err(e) => return Err(StreamFail::Content(self.position, format!("decompressing the layer: {e}"))),
            }
        }
    }

    /// `len` bytes at `offset` (never before the bytes already passed),
    /// reading through what lies between; fewer at the end of the layer.
    pub async fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, StreamFail> {
        if offset < self.position {
            return Err(StreamFail::Content(offset, "a stream cannot go back".into()));
        }
        while self.position < offset {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.resize(READ_BLOCK as usize, 0);
            let want = (offset - self.position).min(READ_BLOCK) as usize;
            let n = self.fill(&mut scratch[..want]).await;
            self.scratch = scratch;
            if n? == 0 {
                return Ok(Vec::new());
            }
        }
        let mut out = Vec::new();
        while (out.len() as u64) < len {
            let have = out.len();
            out.resize(have + (len - have as u64).min(READ_BLOCK) as usize, 0);
            let n = self.fill(&mut out[have..]).await?;
            out.truncate(have + n);
            if n == 0 {
                break;
            }
        }
        Ok(out)
    }
}

/// The received, not yet decompressed chunks, as a `BufRead` that answers
/// `WouldBlock` when it has nothing until more arrives (the decoders keep
/// their state and are called again).
#[derive(Default)]
struct Feed {
    chunks: VecDeque<Bytes>,
    ended: bool,
}

impl Read for Feed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Feed {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.chunks.front() {
            Some(chunk) => Ok(chunk),
            None if self.ended => Ok(&[]),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn consume(&mut self, amount: usize) {
        if let Some(chunk) = self.chunks.front_mut() {
            chunk.advance(amount.min(chunk.len()));
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
        }
    }
}
