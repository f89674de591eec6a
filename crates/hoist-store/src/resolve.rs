//! Turning what a user typed into a tagged manifest.

use hoist_oci::{Descriptor, Digest, Reference};

use crate::index::ref_name;
use crate::{Store, StoreError};

/// Model IDs shorter than this are too likely to be meant as names.
const MIN_ID_PREFIX: usize = 4;

/// A tagged manifest found by [`Store::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The matching index entry, annotations as stored (for a digest or ID query,
    /// the first entry with that digest in reference order).
    pub descriptor: Descriptor,
    /// Every reference tagging this digest, sorted.
    pub references: Vec<String>,
}

impl Store {
    /// Resolves what a user typed, trying in this order:
    ///
    /// 1. an exact reference in index.json, as typed or normalised (`qwen2` finds
    ///    `qwen2:latest`);
    /// 2. a `name@sha256:<hex>` or bare `sha256:<hex>` digest of a tagged manifest;
    /// 3. a unique prefix of at least 4 hex characters (optionally `sha256:`-prefixed)
    ///    of a tagged manifest digest: the model ID.
    ///
    /// Errors: [`StoreError::NotFound`], or [`StoreError::Ambiguous`] for a prefix
    /// that matches several manifests.
    pub fn resolve(&self, query: &str) -> Result<Resolved, StoreError> {
        let mut entries = self.index_entries()?;
        entries.sort_by(|a, b| ref_name(a).cmp(&ref_name(b)));
        let not_found = || StoreError::NotFound { query: query.to_string(), store: self.root.clone() };
        let reference = query.parse::<Reference>().ok();

        let normalised = reference.as_ref().map(Reference::to_string);
        let by_name = |name: &str| entries.iter().find(|d| ref_name(d) == Some(name));
        if let Some(found) = by_name(query).or_else(|| by_name(normalised.as_deref()?)) {
            return Ok(resolved(&entries, found));
        }

        let digest = reference.as_ref().and_then(|r| r.digest().cloned()).or_else(|| query.parse::<Digest>().ok());
        if let Some(digest) = digest {
            let found = entries.iter().find(|d| d.digest == digest).ok_or_else(not_found)?;
            return Ok(resolved(&entries, found));
        }

        let prefix = query.strip_prefix("sha256:").unwrap_or(query).to_ascii_lowercase();
        if prefix.len() < MIN_ID_PREFIX || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut matches: Vec<&Descriptor> = Vec::new();
        for entry in entries.iter().filter(|d| d.digest.hex().starts_with(&prefix)) {
            if !matches.iter().any(|m| m.digest == entry.digest) {
                matches.push(entry);
            }
        }
        match matches.as_slice() {
            [] => Err(not_found()),
            [found] => Ok(resolved(&entries, found)),
            several => {
                let mut candidates: Vec<String> = several.iter().map(|d| d.digest.to_string()).collect();
                candidates.sort();
                Err(StoreError::Ambiguous { query: query.to_string(), candidates })
            }
        }
    }
}

fn resolved(entries: &[Descriptor], found: &Descriptor) -> Resolved {
    let mut references: Vec<String> =
        entries.iter().filter(|d| d.digest == found.digest).filter_map(ref_name).map(str::to_string).collect();
    references.sort();
    Resolved { descriptor: found.clone(), references }
}
