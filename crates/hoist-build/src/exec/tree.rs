//! The files a step adds, and the tar layer made of them. A layer is written
//! reproducibly: entries in path order, parent directories made explicit, every
//! time the build's epoch (`SOURCE_DATE_EPOCH`, else 0), owner 0:0 unless `--chown`
//! said otherwise, no user or group names.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Data {
    /// A file of the build context.
    Disk(PathBuf),
    /// Bytes made by the build (CAT, heredocs, gzip archives ADD unpacked).
    Bytes(Arc<Vec<u8>>),
    /// A file inside a plain tar archive of the context, `len` bytes at `offset`.
    Slice { path: PathBuf, offset: u64, len: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File { data: Data, size: u64 },
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) node: Node,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
}

/// Files by path: relative, `/`-separated, normalised (no `.`, `..` or empty parts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tree {
    pub(crate) entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// Adds `entry` at `path`; the later of two entries at one path wins, as the
    /// later layer does.
    pub(crate) fn insert(&mut self, path: String, entry: Entry) {
        self.entries.insert(path, entry);
    }

    /// Lays `other` over this tree.
    pub(crate) fn overlay(&mut self, other: &Tree) {
        for (p, e) in &other.entries {
            self.entries.insert(p.clone(), e.clone());
        }
    }

    /// The entries at `path` and below it, paths relative to `path` ("" for the
    /// entry itself).
    pub(crate) fn subtree<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
        self.entries.iter().filter_map(move |(p, e)| {
            if p == path {
                Some(("", e))
            } else if path.is_empty() {
                Some((p.as_str(), e))
            } else {
                p.strip_prefix(prefix.as_str()).map(|rest| (rest, e))
            }
        })
    }

    /// Writes the tree as a tar stream into `out`.
    pub(crate) fn write_tar<W: Write>(&self, out: W, mtime: u64) -> io::Result<W> {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        let mut dirs: BTreeMap<String, &Entry> = BTreeMap::new();
        let implicit = Entry { node: Node::Dir, mode: 0o755, uid: 0, gid: 0 };
        // Every parent directory gets an entry, so the layer unpacks alone.
        for (path, entry) in &self.entries {
            let mut parent = path.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                dirs.entry(p.to_string()).or_insert(&implicit);
                parent = p;
            }
            if entry.node == Node::Dir {
                dirs.insert(path.clone(), entry);
            }
        }
        let mut all: Vec<(&str, &Entry)> = dirs.iter().map(|(p, e)| (p.as_str(), *e)).collect();
        all.extend(self.entries.iter().filter(|(_, e)| e.node != Node::Dir).map(|(p, e)| (p.as_str(), e)));
        all.sort_by(|a, b| a.0.cmp(b.0));
        for (path, entry) in all {
            let mut header = tar::Header::new_gnu();
            header.set_mode(entry.mode);
            header.set_uid(entry.uid);
            header.set_gid(entry.gid);
            header.set_mtime(mtime);
            match &entry.node {
                Node::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    tar.append_data(&mut header, format!("{path}/"), io::empty())?;
                }
                Node::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    tar.append_link(&mut header, path, target)?;
                }
                Node::File { data, size } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(*size);
                    match data {
                        Data::Bytes(b) => tar.append_data(&mut header, path, b.as_slice())?,
                        Data::Slice { path: archive, offset, len } => {
                            let mut file = std::fs::File::open(archive)?;
                            file.seek(io::SeekFrom::Start(*offset))?;
                            let mut part = io::BufReader::with_capacity(READ_BUFFER, file).take(*len);
                            let mut counted = CountingReader { inner: &mut part, read: 0 };
                            tar.append_data(&mut header, path, &mut counted)?;
                            if counted.read != *len {
                                return Err(io::Error::other(format!("{} ended inside {path}", archive.display())));
                            }
                        }
                        Data::Disk(p) => {
                            let file = std::fs::File::open(p)?;
                            // A file that changed size since it was listed would
                            // break the header's promise.
                            let len = file.metadata()?.len();
                            if len != *size {
                                return Err(io::Error::other(format!(
                                    "{} changed while the build read it ({size} bytes, now {len})",
                                    p.display()
                                )));
                            }
                            // Big reads: few system calls, and the copy takes whole buffers.
                            tar.append_data(&mut header, path, io::BufReader::with_capacity(READ_BUFFER, file))?
                        }
                    }
                }
            }
        }
        tar.into_inner()
    }
}

/// How much of a file is read at once.
const READ_BUFFER: usize = 1 << 20;

/// Counts what passes, to catch an archive shorter than its headers say.
struct CountingReader<'a, R> {
    inner: &'a mut R,
    read: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8], mode: u32) -> Entry {
        Entry {
            node: Node::File { data: Data::Bytes(Arc::new(bytes.to_vec())), size: bytes.len() as u64 },
            mode,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn tar_entries_are_sorted_with_parents_and_fixed_times() {
        let mut t = Tree::default();
        t.insert("b/c/d.txt".into(), file(b"hello", 0o644));
        t.insert("a.gguf".into(), file(b"GGUF", 0o600));
        t.insert("b/link".into(), Entry { node: Node::Symlink("c/d.txt".into()), mode: 0o777, uid: 1, gid: 2 });
        let bytes = t.write_tar(Vec::new(), 1_700_000_000).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let got: Vec<(String, u32, u64, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a.gguf".into(), 0o600, 0, 1_700_000_000, 4),
                ("b/".into(), 0o755, 0, 1_700_000_000, 0),
                ("b/c/".into(), 0o755, 0, 1_700_000_000, 0),
                ("b/c/d.txt".into(), 0o644, 0, 1_700_000_000, 5),
                ("b/link".into(), 0o777, 1, 1_700_000_000, 0),
            ]
        );
        // The same tree gives the same bytes.
        assert_eq!(t.write_tar(Vec::new(), 1_700_000_000).unwrap(), bytes);
    }

    #[test]
    fn subtrees() {
        let mut t = Tree::default();
        t.insert("m/a".into(), file(b"1", 0o644));
        t.insert("m/b/c".into(), file(b"2", 0o644));
        t.insert("mm".into(), file(b"3", 0o644));
        let sub: Vec<&str> = t.subtree("m").map(|(p, _)| p).collect();
        assert_eq!(sub, ["a", "b/c"]);
        assert_eq!(t.subtree("").count(), 3);
        assert_eq!(t.subtree("mm").map(|(p, _)| p).collect::<Vec<_>>(), [""]);
    }
}
