//! verify (fsck): re-hash every blob, find referenced blobs that are missing.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use hoist_oci::{Digest, DigestWriter};

use crate::gc::Subjects;
use crate::index::is_partial;
use crate::lock::LockFile;
use crate::{Store, StoreError};

/// Hash in large reads: verify is bound by the disk and SHA-256, not syscalls.
const BUFFER_SIZE: usize = 1 << 20;

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyReport {
    pub blobs_checked: usize,
    pub bytes_checked: u64,
    /// Blobs whose content does not match their name or the size their
    /// descriptor gives, with what is wrong.
    pub corrupt: Vec<(Digest, String)>,
    /// Blobs reachable from index.json that are not in the store.
    pub missing: Vec<Digest>,
    /// Blobs absent on purpose: layers only partial models (`pull --include`,
    /// marked with [`ANNOTATION_PARTIAL`](crate::ANNOTATION_PARTIAL)) reach.
    pub not_pulled: Vec<Digest>,
}

impl VerifyReport {
    /// Whether nothing is corrupt or missing.
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty()
    }
}

/// Progress of [`Store::verify`]; the binary draws bars, the library never prints.
pub trait VerifyReporter {
    /// Called once before hashing starts, with what is about to be checked.
    fn started(&self, _blobs: usize, _bytes: u64) {}
    /// Called after each blob is hashed.
    fn blob_checked(&self, _digest: &Digest, _size: u64) {}
}

/// A reporter that ignores progress.
pub struct NoVerifyReporter;

impl VerifyReporter for NoVerifyReporter {}

impl Store {
    /// Re-hashes every blob, streaming; reports blobs whose content does not match
    /// their name or size, and blobs reachable from index.json that are missing.
    /// Modifies nothing. Holds the gc lock shared so a prune cannot remove blobs
    /// while they are checked.
    pub fn verify(&self, reporter: &dyn VerifyReporter) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        if !self.is_initialized() {
            return Ok(report);
        }
        let _gc_lock = LockFile::shared(&self.gc_lock_path())?;
        let entries = self.index_entries()?;
        let complete = self.reachable(entries.iter().filter(|entry| !is_partial(entry)), Subjects::Skip);
        let partial = self.reachable(entries.iter().filter(|entry| is_partial(entry)), Subjects::Skip);
        let size_of = |digest: &Digest| complete.get(digest).or_else(|| partial.get(digest)).and_then(|r| r.size);
        // Files whose names are not digests are not blobs; prune removes them.
        let blobs: Vec<_> = self.blob_files()?.into_iter().filter_map(|b| Some((b.digest?, b.path, b.size))).collect();
        reporter.started(blobs.len(), blobs.iter().map(|(_, _, size)| size).sum());
        let mut buffer = vec![0; BUFFER_SIZE];
        for (digest, path, size) in &blobs {
            let mut problems = Vec::new();
            if let Some(expected) = size_of(digest)
                && expected != *size
            {
                problems.push(format!("size {size}, expected {expected}"));
            }
            match hash_file(path, &mut buffer) {
                Ok(actual) if actual == *digest => {}
                Ok(actual) => problems.push(format!("content hashes to {actual}")),
                Err(e) => problems.push(format!("could not read {}: {e}", path.display())),
            }
            if !problems.is_empty() {
                report.corrupt.push((digest.clone(), problems.join("; ")));
            }
            report.blobs_checked += 1;
            report.bytes_checked += size;
            reporter.blob_checked(digest, *size);
        }
        // A partial model's manifests and config are always there; only its layers may be absent.
        let is_partial_layer =
            |digest: &Digest| !complete.contains_key(digest) && partial.get(digest).is_some_and(|r| r.layer);
        let reached: BTreeSet<&Digest> = complete.keys().chain(partial.keys()).collect();
        (report.not_pulled, report.missing) =
            reached.into_iter().filter(|digest| !self.has_blob(digest)).cloned().partition(is_partial_layer);
        Ok(report)
    }
}

fn hash_file(path: &Path, buffer: &mut [u8]) -> io::Result<Digest> {
    let mut file = File::open(path)?;
    let mut hasher = DigestWriter::new(io::sink());
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => hasher.write_all(&buffer[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finish().0)
}
