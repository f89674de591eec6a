//! How a layer's bytes are compressed, and reading them back decompressed.

use std::io::{self, BufReader, Read};

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// The layer is the content itself.
    #[default]
    None,
    Gzip,
    Zstd,
}

/// A blob's content, decompressed as it is read.
pub fn decompressed(blob: impl Read + 'static, compression: Compression) -> io::Result<Box<dyn Read>> {
    let reader = BufReader::with_capacity(1 << 20, blob);
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}
