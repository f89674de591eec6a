//! Writing past the page cache where the file system allows it (`O_DIRECT` on
//! Linux): the block-aligned bytes go from an aligned buffer of ours straight
//! to the disk. A new blob's bytes are never read again before commit, so
//! caching them only costs: the kernel's copy into fresh pages, memory pressure
//! that makes the same pack take 1 s one run and 4 s the next, and an fsync
//! that has everything left to write. File systems without direct I/O (tmpfs)
//! and the unaligned ends of a write take the page cache.

use std::fs::File;
use std::io;
use std::path::Path;

/// Direct writes must start, end and sit in memory on this boundary (the
/// logical block size of any disk in use, or a multiple of it).
pub(crate) const ALIGN: u64 = 4096;

/// A reusable buffer whose window starts on an [`ALIGN`] boundary.
#[derive(Default)]
pub(crate) struct AlignedBuffer {
    memory: Vec<u8>,
}

impl AlignedBuffer {
    /// The first `len` bytes of the aligned window, grown if need be.
    pub(crate) fn window(&mut self, len: usize) -> &mut [u8] {
        if self.memory.len() < len + ALIGN as usize {
            self.memory.resize(len + ALIGN as usize, 0);
        }
        let start = self.memory.as_ptr().align_offset(ALIGN as usize);
        &mut self.memory[start..start + len]
    }

    /// The first `len` bytes of the aligned window as [`window`](Self::window)
    /// left them (fewer if it never grew so far).
    pub(crate) fn filled(&self, len: usize) -> &[u8] {
        let start = self.memory.as_ptr().align_offset(ALIGN as usize).min(self.memory.len());
        &self.memory[start..(start + len).min(self.memory.len())]
    }
}

/// A second handle on `path` that writes past the page cache; `None` where
/// the file system refuses it.
#[cfg(target_os = "linux")]
pub(crate) fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path).ok()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn open_direct(_path: &Path) -> Option<File> {
    None
}

#[cfg(unix)]
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(windows)]
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < bytes.len() {
        match file.seek_write(&bytes[done..], offset + done as u64)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => done += n,
        }
    }
    Ok(())
}

/// Bytes staged before a direct write: large writes, few system calls.
const STAGE: usize = 4 << 20;

/// Writes a file from start to end: block-aligned runs directly where a
/// direct handle could be opened, the last unaligned bytes (and everything,
/// without one) through the page cache.
pub(crate) struct SequentialWriter {
    file: File,
    direct: Option<File>,
    stage: AlignedBuffer,
    staged: usize,
    /// Bytes already on their way to the disk.
    offset: u64,
}

impl SequentialWriter {
    pub(crate) fn new(file: File, path: &Path) -> SequentialWriter {
        SequentialWriter { file, direct: open_direct(path), stage: AlignedBuffer::default(), staged: 0, offset: 0 }
    }

    pub(crate) fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let Some(direct) = &self.direct else {
            self.file_write(bytes)?;
            return Ok(());
        };
        while !bytes.is_empty() {
            let stage = self.stage.window(STAGE);
            let n = (STAGE - self.staged).min(bytes.len());
            stage[self.staged..self.staged + n].copy_from_slice(&bytes[..n]);
            self.staged += n;
            bytes = &bytes[n..];
            if self.staged == STAGE {
                write_all_at(direct, stage, self.offset)?;
                self.offset += STAGE as u64;
                self.staged = 0;
            }
        }
        Ok(())
    }

    /// Writes what is staged (the aligned part directly, the rest through the
    /// page cache) and returns the file.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        if let Some(direct) = &self.direct {
            let stage = self.stage.window(STAGE);
            let aligned = self.staged - self.staged % ALIGN as usize;
            write_all_at(direct, &stage[..aligned], self.offset)?;
            write_all_at(&self.file, &stage[aligned..self.staged], self.offset + aligned as u64)?;
        }
        Ok(self.file)
    }

    fn file_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_all_at(&self.file, bytes, self.offset)?;
        // Without direct I/O, at least start writeback now so the fsync
        // before commit finds little left to do.
        crate::background::start_writeback(&self.file, self.offset, bytes.len() as u64);
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the sizes of the writes, and whether or not the file system
    /// takes direct writes, the file holds exactly the bytes written.
    #[test]
    fn sequential_writes_land_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..(9 << 20) + 4321u32).map(|i| (i * 7 % 251) as u8).collect();
        for sizes in [vec![1000usize, 7192, 4096, 12_000, 3], vec![STAGE - 1, 2, STAGE + 5000], vec![1 << 20]] {
            let path = dir.path().join(format!("blob-{}", sizes.len()));
            let file = File::options().write(true).create_new(true).open(&path).unwrap();
            let mut writer = SequentialWriter::new(file, &path);
            let mut offset = 0;
            while offset < content.len() {
                for &size in &sizes {
                    let end = (offset + size).min(content.len());
                    writer.write(&content[offset..end]).unwrap();
                    offset = end;
                }
            }
            drop(writer.finish().unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), content, "{sizes:?}");
        }
    }
}
