//! The step cache: every file-making step has a key, the digest of what its
//! layer depends on, and the store's `build` cache maps keys to the layers they
//! made (`hoist_store::WriteSession::cache_insert`). A step whose key is there
//! writes nothing and reads no file: its layer is reused by digest.
//!
//! A key is made of the step after expansion (its flags, sources and
//! destination), the build's epoch, whether the destination is a directory of
//! the stage (the only thing COPY takes from the stage it adds to), and the
//! identity of what it reads: a file of the context by its path, size,
//! modification time, device and inode (stat, never its bytes: that is what
//! makes a rebuild read no weights; a file rewritten with the same size inside
//! one mtime tick is missed, as `make` would miss it); a stage or image by the
//! digests of its layers; bytes the build made (heredocs, unpacked gzip
//! archives) by their digest. So a changed ARG rebuilds only the steps whose
//! expansion it changes, and those reading what they made.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use hoist_oci::{Descriptor, Digest};

use super::tree::{Data, Node, Tree};

/// The store cache holding the build's layers.
pub(crate) const NAME: &str = "build";

/// A key being made: length-prefixed parts, hashed at the end.
pub(crate) struct Key(Vec<u8>);

impl Key {
    pub(crate) fn new(epoch: u64) -> Key {
        let mut key = Key(Vec::new());
        key.part(concat!("hoist-build ", env!("CARGO_PKG_VERSION"), " step cache 1"));
        key.part(&epoch.to_string());
        key
    }

    pub(crate) fn part(&mut self, text: &str) {
        self.0.extend_from_slice(&(text.len() as u64).to_le_bytes());
        self.0.extend_from_slice(text.as_bytes());
    }

    /// Layers, by digest: a stage's or an image's files.
    pub(crate) fn layers(&mut self, layers: &[Descriptor]) {
        self.part(&format!("{} layers", layers.len()));
        for layer in layers {
            self.part(&layer.digest.to_string());
        }
    }

    /// Every entry of `tree`: path, mode, owner, kind, and where its bytes are.
    /// Reads metadata only.
    pub(crate) fn files(&mut self, tree: &Tree) -> Result<(), (std::path::PathBuf, std::io::Error)> {
        self.part(&format!("{} files", tree.entries.len()));
        for (path, entry) in &tree.entries {
            self.part(path);
            self.part(&format!("{:o} {}:{}", entry.mode, entry.uid, entry.gid));
            match &entry.node {
                Node::Dir => self.part("dir"),
                Node::Symlink(target) => self.part(&format!("symlink {target}")),
                Node::File { data, size } => {
                    self.part(&format!("file {size}"));
                    match data {
                        Data::Bytes(bytes) => self.part(&Digest::of(bytes).to_string()),
                        Data::Disk(p) => self.stat(p)?,
                        Data::Slice { path, offset, len } => {
                            self.stat(path)?;
                            self.part(&format!("at {offset} {len}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn stat(&mut self, path: &Path) -> Result<(), (std::path::PathBuf, std::io::Error)> {
        let m = std::fs::metadata(path).map_err(|e| (path.to_path_buf(), e))?;
        self.part(&path.to_string_lossy());
        self.part(&format!("{} {} {} {}.{}", m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()));
        Ok(())
    }

    pub(crate) fn finish(&self) -> String {
        Digest::of(&self.0).to_string()
    }
}
