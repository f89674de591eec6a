//! The build context as a [`Tree`]: every file, directory and symlink under the
//! context directory that the ignore file does not exclude (`ignore`), with its
//! mode, owned by 0:0 (as BuildKit sends it). Only metadata is read here; file
//! bytes are read once, when a layer is written.
//!
//! The ignore file is BuildKit's: `FILE.dockerignore` beside the build file
//! FILE when there is one (so build files sharing a context can each leave out
//! their own files), else the context's `.dockerignore`. It decides what is in
//! the tree, and so what the step cache looks at: an ignored file changes no key.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::ignore::Ignore;
use super::tree::{Data, Entry, Node, Tree};

/// The context `dir` as the build file `build_file` sees it.
pub(crate) fn load(dir: &Path, build_file: Option<&Path>) -> Result<Tree, (PathBuf, std::io::Error)> {
    let ignore_file = ignore_file(dir, build_file);
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

/// `FILE.dockerignore` beside the build file when it exists, else the
/// context's `.dockerignore` (which may not exist).
fn ignore_file(dir: &Path, build_file: Option<&Path>) -> PathBuf {
    if let Some(file) = build_file {
        let mut name = file.as_os_str().to_owned();
        name.push(".dockerignore");
        let beside = PathBuf::from(name);
        // A dangling link is there too, and fails when read.
        if beside.symlink_metadata().is_ok() {
            return beside;
        }
    }
    dir.join(".dockerignore")
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
        let t = load(dir.path(), None).unwrap();
        let paths: Vec<&str> = t.entries.keys().map(String::as_str).collect();
        assert_eq!(paths, ["link", "m", "m/a.gguf"]);
        assert_eq!(t.entries["m/a.gguf"].mode, 0o640);
        assert_eq!(t.entries["m"].node, Node::Dir);
        assert_eq!(t.entries["link"].node, Node::Symlink("m/a.gguf".into()));
        assert_eq!(t.entries["m/a.gguf"].node, Node::File { data: Data::Disk(dir.path().join("m/a.gguf")), size: 8 });

        std::fs::write(dir.path().join(".dockerignore"), "m\n!m/a.gguf\n.dockerignore\n").unwrap();
        std::fs::write(dir.path().join("m/b.bin"), b"no").unwrap();
        let paths: Vec<String> = load(dir.path(), None).unwrap().entries.into_keys().collect();
        assert_eq!(paths, ["link", "m/a.gguf"]);
        std::fs::write(dir.path().join(".dockerignore"), "[\n").unwrap();
        let (path, error) = load(dir.path(), None).unwrap_err();
        assert_eq!((path, error.to_string()), (dir.path().join(".dockerignore"), "line 1: bad pattern \"[\"".into()));
    }

    /// The build file's own ignore file wins over the context's; without one,
    /// the context's applies, whichever build file is used.
    #[test]
    fn the_build_files_ignore_file_first() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("a.md", "a");
        write("b.txt", "b");
        write(".dockerignore", "*.md\n.dockerignore\n");
        write("sub/Model.GGUFPackerfile", "FROM scratch\n");
        write("sub/Model.GGUFPackerfile.dockerignore", "*.txt\nsub\n");
        let files = |build_file: Option<&str>| -> Vec<String> {
            let build_file = build_file.map(|f| dir.path().join(f));
            load(dir.path(), build_file.as_deref()).unwrap().entries.into_keys().collect()
        };
        assert_eq!(files(Some("sub/Model.GGUFPackerfile")), [".dockerignore", "a.md"]);
        assert_eq!(
            files(Some("GGUFPackerfile")),
            ["b.txt", "sub", "sub/Model.GGUFPackerfile", "sub/Model.GGUFPackerfile.dockerignore"]
        );
        assert_eq!(files(None), files(Some("GGUFPackerfile")));
        // Only the build file's full name counts, not its stem.
        write("sub/Model.dockerignore", "*\n");
        assert_eq!(files(Some("sub/Model.GGUFPackerfile")), [".dockerignore", "a.md"]);
        // A bad pattern names the file it is in.
        write("sub/Model.GGUFPackerfile.dockerignore", "[\n");
        let build_file = dir.path().join("sub/Model.GGUFPackerfile");
        let (path, _) = load(dir.path(), Some(&build_file)).unwrap_err();
        assert_eq!(path, dir.path().join("sub/Model.GGUFPackerfile.dockerignore"));
    }
}
