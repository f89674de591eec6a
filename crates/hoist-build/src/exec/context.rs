//! The build context as a [`Tree`]: every file, directory and symlink under the
//! context directory that `.dockerignore` does not exclude (`ignore`), with its
//! mode, owned by 0:0 (as BuildKit sends it). Only metadata is read here; file
//! bytes are read once, when a layer is written.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::ignore::Ignore;
use super::tree::{Data, Entry, Node, Tree};

pub(crate) fn load(dir: &Path) -> Result<Tree, (std::path::PathBuf, std::io::Error)> {
    let ignore_file = dir.join(".dockerignore");
    let ignore = match std::fs::read_to_string(&ignore_file) {
        Ok(text) => Some(Ignore::parse(&text).map_err(|e| (ignore_file.clone(), std::io::Error::other(e)))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err((ignore_file, e)),
    };
    let mut tree = Tree::default();
    for item in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).sort_by_file_name() {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            (path, std::io::Error::other(e.to_string()))
        })?;
        let rel = item.path().strip_prefix(dir).unwrap_or(item.path());
        let Some(rel) = rel.to_str() else {
            return Err((item.path().to_path_buf(), std::io::Error::other("the file name is not UTF-8")));
        };
        if ignore.as_ref().is_some_and(|i| i.excludes(rel)) {
            continue;
        }
        let meta = item.metadata().map_err(|e| (item.path().to_path_buf(), std::io::Error::other(e.to_string())))?;
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        let node = if ft.is_dir() {
            Node::Dir
        } else if ft.is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(|e| (item.path().to_path_buf(), e))?;
            Node::Symlink(target.to_string_lossy().into_owned())
        } else if ft.is_file() {
            Node::File { data: Data::Disk(item.path().to_path_buf()), size: meta.len() }
        } else {
            // Sockets, fifos and devices have no place in a model image.
            continue;
        };
        tree.insert(rel.replace(std::path::MAIN_SEPARATOR, "/"), Entry { node, mode, uid: 0, gid: 0 });
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_dirs_links_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/a.gguf"), b"GGUF1234").unwrap();
        std::fs::set_permissions(dir.path().join("m/a.gguf"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("m/a.gguf", dir.path().join("link")).unwrap();
        let t = load(dir.path()).unwrap();
        let paths: Vec<&str> = t.entries.keys().map(String::as_str).collect();
        assert_eq!(paths, ["link", "m", "m/a.gguf"]);
        assert_eq!(t.entries["m/a.gguf"].mode, 0o640);
        assert_eq!(t.entries["m"].node, Node::Dir);
        assert_eq!(t.entries["link"].node, Node::Symlink("m/a.gguf".into()));
        assert_eq!(t.entries["m/a.gguf"].node, Node::File { data: Data::Disk(dir.path().join("m/a.gguf")), size: 8 });

        std::fs::write(dir.path().join(".dockerignore"), "m\n!m/a.gguf\n.dockerignore\n").unwrap();
        std::fs::write(dir.path().join("m/b.bin"), b"no").unwrap();
        let paths: Vec<String> = load(dir.path()).unwrap().entries.into_keys().collect();
        assert_eq!(paths, ["link", "m/a.gguf"]);
        std::fs::write(dir.path().join(".dockerignore"), "[\n").unwrap();
        let (path, error) = load(dir.path()).unwrap_err();
        assert_eq!((path, error.to_string()), (dir.path().join(".dockerignore"), "line 1: bad pattern \"[\"".into()));
    }
}
