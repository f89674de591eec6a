//! Path safety for runtime directories: every path written is split into checked
//! components and walked one directory at a time, never through a symbolic
//! link, so nothing is ever written outside the runtime directory.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a write was refused or failed.
#[derive(Debug)]
pub(super) enum Fail {
    /// The path (or a link) would leave the runtime directory.
    Unsafe(String),
    Io(PathBuf, io::Error),
}

impl Fail {
    pub(super) fn io(path: &Path) -> impl FnOnce(io::Error) -> Fail + '_ {
        move |e| Fail::Io(path.to_path_buf(), e)
    }
}

/// The normal components of a relative path (`.` dropped). Refuses absolute
/// paths and `..`.
pub(super) fn rel_components(path: &Path) -> Result<Vec<OsString>, Fail> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Fail::Unsafe("a `..` component would leave the runtime directory".into()));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Fail::Unsafe("an absolute path would leave the runtime directory".into()));
            }
        }
    }
    Ok(parts)
}

/// Walks `parts[..len-1]` below `root`, creating missing directories, refusing
/// symbolic links and files on the way; returns the full path of the last part.
/// `parts` must not be empty.
pub(super) fn prepare_parent(root: &Path, parts: &[OsString]) -> Result<PathBuf, Fail> {
    let (last, parents) = parts.split_last().expect("a path with at least one component");
    let mut current = root.to_path_buf();
    for part in parents {
        current.push(part);
        ensure_dir(&current)?;
    }
    current.push(last);
    Ok(current)
}

/// Makes `path` a real directory: keeps one, creates a missing one, refuses a
/// symbolic link (never followed) or a file.
pub(super) fn ensure_dir(path: &Path) -> Result<(), Fail> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => Ok(()),
        Ok(meta) if meta.file_type().is_symlink() => Err(Fail::Unsafe(format!(
            "{} is a symbolic link; hoist never writes through links",
            path.file_name().unwrap_or_default().to_string_lossy()
        ))),
        Ok(_) => Err(Fail::Io(path.to_path_buf(), io::Error::other("a file is in the way of a directory"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(path).map_err(Fail::io(path)),
        Err(e) => Err(Fail::Io(path.to_path_buf(), e)),
    }
}

/// Walks to an existing entry below `root` without following links; None if
/// it (or a parent) does not exist. Links on the way are refused.
pub(super) fn existing(root: &Path, parts: &[OsString]) -> Result<Option<PathBuf>, Fail> {
    let mut current = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if i + 1 == parts.len() || meta.file_type().is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Fail::Unsafe(format!(
                    "{} is a symbolic link; hoist never follows links it extracted",
                    part.to_string_lossy()
                )));
            }
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Fail::Io(current, e)),
        }
    }
    Ok(Some(current))
}

/// Removes whatever is at `path` (a link itself, never its target).
pub(super) fn remove_existing(path: &Path) -> Result<(), Fail> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => fs::remove_dir_all(path).map_err(Fail::io(path)),
        Ok(_) => fs::remove_file(path).map_err(Fail::io(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Fail::Io(path.to_path_buf(), e)),
    }
}

/// Checks a symbolic link's target: relative, its `..` only leading and no
/// more of them than the link's depth below the root (`depth` = number of
/// directories above the link). With every directory a real one (links are
/// never written through), such a link resolves inside the root however the
/// links it passes through are set, because each of them obeys the same rule.
pub(super) fn check_link_target(target: &Path, depth: usize) -> Result<(), Fail> {
    let mut ups = 0;
    let mut named = false;
    for component in target.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => {
                return Err(Fail::Unsafe(format!("symbolic link to the absolute path {}", target.display())));
            }
            Component::CurDir => {}
            Component::ParentDir if named => {
                return Err(Fail::Unsafe(format!("symbolic link target {} has `..` after a name", target.display())));
            }
            Component::ParentDir => ups += 1,
            Component::Normal(_) => named = true,
        }
    }
    if target.as_os_str().is_empty() {
        return Err(Fail::Unsafe("symbolic link with an empty target".into()));
    }
    if ups > depth {
        return Err(Fail::Unsafe(format!(
            "symbolic link to {} points outside the runtime directory",
            target.display()
        )));
    }
    Ok(())
}

/// A container image's symbolic link made relative: in an image, `/usr/lib/x`
/// and `..` past the top mean the image's root (as inside a chroot), so the
/// target is resolved by name against the link's directory (`link_dir`, from
/// the root), clamped at the root, and written as `..`s up to the root plus
/// the path down. Absolute links such as `/usr/bin/python3` then point into the
/// runtime directory instead of the host, and pass [`check_link_target`].
pub(super) fn rootfs_link_target(target: &Path, link_dir: &[OsString]) -> PathBuf {
    let mut resolved: Vec<OsString> = if target.has_root() { Vec::new() } else { link_dir.to_vec() };
    for component in target.components() {
        match component {
            Component::Normal(name) => resolved.push(name.to_os_string()),
            Component::ParentDir => {
                resolved.pop();
            }
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
        }
    }
    let mut relative: PathBuf = std::iter::repeat_n(OsStr::new(".."), link_dir.len()).collect();
    relative.extend(&resolved);
    if relative.as_os_str().is_empty() { PathBuf::from(".") } else { relative }
}

/// Writes `content` to a new read-only file at `dst`: a compressed layer has
/// no blob holding the file to link.
pub(super) fn write_read_only(content: &mut dyn io::Read, dst: &Path) -> Result<(), Fail> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(dst).map_err(Fail::io(dst))?;
    io::copy(content, &mut file).map_err(Fail::io(dst))?;
    Ok(())
}

/// Hardlinks `src` at `dst` (zero copy); copies only across file systems.
pub(super) fn link_or_copy(src: &Path, dst: &Path) -> Result<(), Fail> {
    match fs::hard_link(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            fs::copy(src, dst).map_err(Fail::io(dst))?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dst, fs::Permissions::from_mode(0o444)).map_err(Fail::io(dst))
        }
        Err(e) => Err(Fail::Io(dst.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_escapes() {
        assert!(rel_components(Path::new("a/./b/")).is_ok_and(|p| p.len() == 2));
        assert!(matches!(rel_components(Path::new("../evil")), Err(Fail::Unsafe(_))));
        assert!(matches!(rel_components(Path::new("a/../../evil")), Err(Fail::Unsafe(_))));
        assert!(matches!(rel_components(Path::new("/abs")), Err(Fail::Unsafe(_))));
    }

    #[test]
    fn link_targets() {
        assert!(check_link_target(Path::new("b/c"), 0).is_ok());
        assert!(check_link_target(Path::new("../c"), 1).is_ok());
        assert!(check_link_target(Path::new("../c"), 0).is_err());
        assert!(check_link_target(Path::new("../../x"), 1).is_err());
        assert!(check_link_target(Path::new("/etc"), 3).is_err());
        assert!(check_link_target(Path::new("s/../.."), 3).is_err());
        assert!(check_link_target(Path::new(""), 3).is_err());
    }

    #[test]
    fn image_links_stay_in_the_root() {
        let dir: Vec<OsString> = ["usr", "bin"].iter().map(OsString::from).collect();
        let at = |target: &str| rootfs_link_target(Path::new(target), &dir);
        assert_eq!(at("/usr/bin/python3.11"), Path::new("../../usr/bin/python3.11"));
        assert_eq!(at("python3.11"), Path::new("../../usr/bin/python3.11"));
        assert_eq!(at("../../../../etc/passwd"), Path::new("../../etc/passwd"));
        assert_eq!(rootfs_link_target(Path::new("/"), &[]), Path::new("."));
        for target in ["/usr/bin/python3.11", "../../../../etc/passwd", "/", "a/../../.."] {
            assert!(check_link_target(&at(target), dir.len()).is_ok(), "{target}");
        }
    }

    #[test]
    fn never_through_links() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/tmp", dir.path().join("l")).unwrap();
        let parts = rel_components(Path::new("l/x")).unwrap();
        assert!(matches!(prepare_parent(dir.path(), &parts), Err(Fail::Unsafe(_))));
        assert!(matches!(existing(dir.path(), &parts), Err(Fail::Unsafe(_))));
    }
}
