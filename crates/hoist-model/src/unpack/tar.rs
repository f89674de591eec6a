//! Streaming extraction of tar layers into a runtime directory's `model/`,
//! every entry through the checked paths of [`super::paths`].

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ::tar::{Archive, EntryType};

use super::paths::{
    Fail, check_link_target, ensure_dir, existing, prepare_parent, rel_components, remove_existing, rootfs_link_target,
};
use crate::util::compression::{Compression, decompressed};

/// An entry that failed, named by its path in the archive.
pub(super) struct EntryFail {
    pub entry: String,
    pub fail: Fail,
}

/// Extracts one tar layer (read from `blob`) into `root`, appending the
/// relative paths of the files and links it wrote to `files`.
pub(super) fn extract(
    blob: fs::File,
    compression: Compression,
    image_layer: bool,
    root: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<(), EntryFail> {
    let reader = decompressed(blob, compression).map_err(|e| archive_fail(root, e))?;
    let mut archive = Archive::new(reader);
    let mut written: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(|e| archive_fail(root, e))? {
        let mut entry = entry.map_err(|e| archive_fail(root, e))?;
        let path = entry.path().map_err(|e| archive_fail(root, e))?.into_owned();
        let name = path.display().to_string();
        let fail = |fail| EntryFail { entry: name.clone(), fail };
        let parts = rel_components(&path).map_err(fail)?;
        if parts.is_empty() {
            continue; // "./"
        }
        let rel: PathBuf = parts.iter().collect();
        let file_name = parts.last().expect("not empty").to_string_lossy().into_owned();
        if image_layer && let Some(hidden) = file_name.strip_prefix(".wh.") {
            whiteout(root, &parts[..parts.len() - 1], hidden, &written).map_err(fail)?;
            continue;
        }
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Directory => {
                let mut current = root.to_path_buf();
                for part in &parts {
                    current.push(part);
                    ensure_dir(&current).map_err(fail)?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                let dst = prepare_parent(root, &parts).map_err(fail)?;
                remove_existing(&dst).map_err(fail)?;
                let mode = entry.header().mode().unwrap_or(0o644) & 0o777 | 0o400;
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&dst)
                    .map_err(|e| fail(Fail::Io(dst.clone(), e)))?;
                io::copy(&mut entry, &mut file).map_err(|e| fail(Fail::Io(dst.clone(), e)))?;
                files.push(rel.clone());
            }
            EntryType::Symlink => {
                let target = entry.link_name().map_err(|e| archive_fail(root, e))?.map(|t| t.into_owned());
                let target = target.unwrap_or_default();
                let target = if image_layer { rootfs_link_target(&target, &parts[..parts.len() - 1]) } else { target };
                check_link_target(&target, parts.len() - 1).map_err(fail)?;
                let dst = prepare_parent(root, &parts).map_err(fail)?;
                remove_existing(&dst).map_err(fail)?;
                std::os::unix::fs::symlink(&target, &dst).map_err(|e| fail(Fail::Io(dst.clone(), e)))?;
                files.push(rel.clone());
            }
            EntryType::Link => {
                let target = entry.link_name().map_err(|e| archive_fail(root, e))?.map(|t| t.into_owned());
                let target = target.unwrap_or_default();
                let target_parts = rel_components(&target).map_err(fail)?;
                let src = match (!target_parts.is_empty()).then(|| existing(root, &target_parts)).transpose() {
                    Ok(Some(Some(src))) => src,
                    Ok(_) => {
                        return Err(fail(Fail::Unsafe(format!(
                            "hard link to {}, which is not an earlier file of the runtime directory",
                            target.display()
                        ))));
                    }
                    Err(f) => return Err(fail(f)),
                };
                let meta = fs::symlink_metadata(&src).map_err(|e| fail(Fail::Io(src.clone(), e)))?;
                if !meta.file_type().is_file() {
                    return Err(fail(Fail::Unsafe(format!("hard link to {}, which is not a file", target.display()))));
                }
                let dst = prepare_parent(root, &parts).map_err(fail)?;
                if dst != src {
                    remove_existing(&dst).map_err(fail)?;
                    fs::hard_link(&src, &dst).map_err(|e| fail(Fail::Io(dst.clone(), e)))?;
                }
                files.push(rel.clone());
            }
            // Devices, fifos, global headers: nothing a runtime needs from a model.
            _ => continue,
        }
        let mut ancestor = rel.as_path();
        while written.insert(ancestor.to_path_buf()) {
            match ancestor.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => ancestor = parent,
                _ => break,
            }
        }
    }
    Ok(())
}

/// `.wh.NAME` removes NAME from earlier layers; `.wh..wh..opq` empties the
/// directory of what earlier layers put there.
fn whiteout(root: &Path, dir: &[std::ffi::OsString], hidden: &str, written: &HashSet<PathBuf>) -> Result<(), Fail> {
    let Some(dir_path) = (if dir.is_empty() { Some(root.to_path_buf()) } else { existing(root, dir)? }) else {
        return Ok(());
    };
    if !fs::symlink_metadata(&dir_path).map_err(Fail::io(&dir_path))?.is_dir() {
        return Ok(());
    }
    let rel_dir: PathBuf = dir.iter().collect();
    if hidden == ".wh..opq" {
        for child in fs::read_dir(&dir_path).map_err(Fail::io(&dir_path))? {
            let child = child.map_err(Fail::io(&dir_path))?;
            if !written.contains(&rel_dir.join(child.file_name())) {
                remove_existing(&child.path())?;
            }
        }
        return Ok(());
    }
    if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
        return Err(Fail::Unsafe(format!("whiteout of {hidden:?}")));
    }
    remove_existing(&dir_path.join(hidden))
}

fn archive_fail(root: &Path, e: io::Error) -> EntryFail {
    EntryFail { entry: "(archive)".into(), fail: Fail::Io(root.to_path_buf(), e) }
}
