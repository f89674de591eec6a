//! ADD of a local tar archive unpacks it at the destination, as Docker does. An
//! archive is recognised by its content (a ustar/GNU header, plain or gzip), not
//! its name. Files of a plain tar are not copied out: the layer reads them from
//! the archive at their offsets. A gzip archive is unpacked in memory, so it suits
//! small archives (bzip2 and xz archives are copied as files).

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use super::copy::clean;
use super::tree::{Data, Entry, Node, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tar,
    GzipTar,
}

/// A tar header has "ustar" at byte 257.
fn is_tar_header(block: &[u8]) -> bool {
    block.len() >= 263 && &block[257..262] == b"ustar"
}

/// What `path` holds, if it is an archive ADD unpacks.
pub(crate) fn detect(path: &Path) -> io::Result<Option<Kind>> {
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)?.take(512).read_to_end(&mut head)?;
    if is_tar_header(&head) {
        return Ok(Some(Kind::Tar));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut inner = Vec::with_capacity(512);
        let file = std::fs::File::open(path)?;
        // A gzip stream that is not a tar (or is corrupt) is just a file.
        if flate2::read::GzDecoder::new(file).take(512).read_to_end(&mut inner).is_ok() && is_tar_header(&inner) {
            return Ok(Some(Kind::GzipTar));
        }
    }
    Ok(None)
}

/// The archive's entries as a tree (paths cleaned, so nothing lands outside the
/// destination). Hard links become copies of what they link to.
pub(crate) fn extract(path: &Path, kind: Kind) -> io::Result<Tree> {
    match kind {
        Kind::Tar => {
            entries(std::fs::File::open(path)?, |offset, len| Data::Slice { path: path.to_path_buf(), offset, len })
        }
        Kind::GzipTar => {
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut bytes)?;
            entries(bytes.as_slice(), |offset, len| {
                let start = offset as usize;
                let end = start.saturating_add(len as usize).min(bytes.len());
                Data::Bytes(Arc::new(bytes[start.min(end)..end].to_vec()))
            })
        }
    }
}

/// Walks the archive's headers; `data` says where an entry's bytes are, from
/// their offset in the (uncompressed) archive and their length.
fn entries<R: Read>(reader: R, data: impl Fn(u64, u64) -> Data) -> io::Result<Tree> {
    let mut tree = Tree::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let entry = entry?;
        let header = entry.header();
        let path = clean(&entry.path()?.to_string_lossy());
        if path.is_empty() {
            continue;
        }
        let mode = header.mode()? & 0o7777;
        let (uid, gid) = (header.uid()?, header.gid()?);
        let node = match header.entry_type() {
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => {
                Node::Symlink(entry.link_name()?.map(|l| l.to_string_lossy().into_owned()).unwrap_or_default())
            }
            tar::EntryType::Link => {
                let target = entry.link_name()?.map(|l| clean(&l.to_string_lossy())).unwrap_or_default();
                match tree.entries.get(&target) {
                    Some(e) => e.node.clone(),
                    None => continue,
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let len = entry.size();
                let offset = entry.raw_file_position();
                Node::File { data: data(offset, len), size: len }
            }
            // Devices, fifos: nothing a model image holds.
            _ => continue,
        };
        tree.insert(path, Entry { node, mode, uid, gid });
    }
    Ok(tree)
}
