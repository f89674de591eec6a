//! An image from the local store as a build's base (`FROM image`) or source
//! (`COPY --from=image`): its layers are reused by digest (never copied), its
//! config carried on, and its files listed from the uncompressed tar layers (by
//! seeking over the data, so listing a multi-GB layer reads only its headers),
//! whiteouts applied. Files in compressed layers are not listed, so they cannot be
//! copied from or named by CMD yet.

use std::io;

use hoist_oci::{Descriptor, ImageIndex, ImageManifest, media_types};
use hoist_store::{MAX_MANIFEST_SIZE, Store};
use serde_json::Value;

use super::copy::clean;
use super::tree::{Data, Entry, Node, Tree};

/// An image read from the store.
pub(crate) struct BaseImage {
    pub(crate) manifest: Descriptor,
    pub(crate) layers: Vec<Descriptor>,
    pub(crate) config: Value,
    pub(crate) files: Tree,
}

/// Largest image config read.
const MAX_CONFIG_SIZE: u64 = 16 << 20;

/// Reads `reference` from `store`, choosing `os/architecture` in an index.
pub(crate) fn load(store: &Store, reference: &str, os: &str, architecture: &str) -> Result<BaseImage, String> {
    let resolved = store.resolve(reference).map_err(|e| e.to_string())?;
    let mut descriptor = resolved.descriptor;
    let mut bytes = read(store, &descriptor, MAX_MANIFEST_SIZE)?;
    if descriptor.media_type == media_types::OCI_INDEX || descriptor.media_type == media_types::DOCKER_MANIFEST_LIST {
        let index = ImageIndex::from_slice(&bytes).map_err(|e| e.to_string())?;
        descriptor = index
            .manifests
            .into_iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| p.os == os && p.architecture == architecture))
            .ok_or_else(|| format!("{reference} has no image for {os}/{architecture}"))?;
        bytes = read(store, &descriptor, MAX_MANIFEST_SIZE)?;
    }
    let manifest = ImageManifest::from_slice(&bytes).map_err(|e| e.to_string())?;
    let config_bytes = read(store, &manifest.config, MAX_CONFIG_SIZE)?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| format!("{reference}'s config: {e}"))?;
    if config.get("rootfs").is_none() {
        return Err(format!("{reference} is a model artifact, not an image (FROM needs an image with tar layers)"));
    }
    let mut files = Tree::default();
    for layer in &manifest.layers {
        if layer.media_type == media_types::OCI_LAYER_TAR || layer.media_type.ends_with("image.rootfs.diff.tar") {
            list_layer(&store.blob_path(&layer.digest), &mut files)
                .map_err(|e| format!("listing layer {} of {reference}: {e}", layer.digest))?;
        }
    }
    Ok(BaseImage { manifest: descriptor, layers: manifest.layers, config, files })
}

fn read(store: &Store, d: &Descriptor, max: u64) -> Result<Vec<u8>, String> {
    store.read_blob(&d.digest, max).map_err(|e| e.to_string())
}

/// Adds a layer's files to `files`: `.wh.NAME` removes NAME, `.wh..wh..opq`
/// empties its directory, as in any image.
pub(crate) fn list_layer(path: &std::path::Path, files: &mut Tree) -> io::Result<()> {
    let mut archive = tar::Archive::new(std::fs::File::open(path)?);
    for entry in archive.entries_with_seek()? {
        let entry = entry?;
        let name = clean(&entry.path()?.to_string_lossy());
        let (dir, base) = name.rsplit_once('/').unwrap_or(("", name.as_str()));
        if base == ".wh..wh..opq" {
            let prefix = format!("{dir}/");
            files.entries.retain(|p, _| dir.is_empty() || !p.starts_with(&prefix));
            continue;
        }
        if let Some(gone) = base.strip_prefix(".wh.") {
            let gone = if dir.is_empty() { gone.to_string() } else { format!("{dir}/{gone}") };
            let prefix = format!("{gone}/");
            files.entries.retain(|p, _| *p != gone && !p.starts_with(&prefix));
            continue;
        }
        if name.is_empty() {
            continue;
        }
        let header = entry.header();
        let node = match header.entry_type() {
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => {
                Node::Symlink(entry.link_name()?.map(|l| l.to_string_lossy().into_owned()).unwrap_or_default())
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => Node::File {
                data: Data::Slice { path: path.to_path_buf(), offset: entry.raw_file_position(), len: entry.size() },
                size: entry.size(),
            },
            tar::EntryType::Link => {
                let target = entry.link_name()?.map(|l| clean(&l.to_string_lossy())).unwrap_or_default();
                match files.entries.get(&target) {
                    Some(e) => e.node.clone(),
                    None => continue,
                }
            }
            _ => continue,
        };
        files.insert(name, Entry { node, mode: header.mode()? & 0o7777, uid: header.uid()?, gid: header.gid()? });
    }
    Ok(())
}
