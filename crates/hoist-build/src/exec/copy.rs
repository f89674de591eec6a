//! COPY and ADD of local files, Docker's way: a source is a path or a wildcard
//! pattern relative to the context (or the stage copied from); a directory copies
//! its contents; several sources, or a pattern matching several paths, need a
//! destination directory (ending in `/`); `--parents` keeps the source's path;
//! `--exclude` drops the paths it matches (relative to the source directory, or to
//! the context), and whatever is under them; `--chmod` (octal) and `--chown` (numeric `uid[:gid]`, a scratch
//! image has no user database) set mode and owner.

use super::glob::Glob;
use super::tree::{Entry, Tree};

/// How one COPY or ADD places files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    pub(crate) chmod: Option<u32>,
    pub(crate) owner: Option<(u64, u64)>,
    pub(crate) exclude: Vec<Glob>,
    pub(crate) parents: bool,
}

impl Placement {
    /// Sets `--chmod` and `--chown` on an entry.
    pub(crate) fn apply(&self, e: &mut Entry) {
        if let Some(mode) = self.chmod {
            e.mode = mode;
        }
        if let Some((uid, gid)) = self.owner {
            (e.uid, e.gid) = (uid, gid);
        }
    }
}

/// Why a copy cannot be done; the caller adds the instruction's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyError {
    NoMatch(String),
    BadPattern(String),
    NeedsDirectory,
    BadChmod(String),
    BadChown(String),
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::NoMatch(s) => write!(f, "{s:?} matches no file"),
            CopyError::BadPattern(s) => write!(f, "{s}"),
            CopyError::NeedsDirectory => {
                write!(f, "with more than one source the destination must be a directory ending in /")
            }
            CopyError::BadChmod(s) => write!(f, "--chmod={s}: the mode must be octal, like 644"),
            CopyError::BadChown(s) => {
                write!(f, "--chown={s}: give numeric ids (uid or uid:gid); a model image has no user database")
            }
        }
    }
}

/// A path made relative to `/`: `.` and empty parts dropped, `..` going up but
/// never above the root (as inside a container's file system).
pub(crate) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub(crate) fn parse_chmod(s: &str) -> Result<u32, CopyError> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !s.is_empty())
        .ok_or_else(|| CopyError::BadChmod(s.to_string()))
}

pub(crate) fn parse_chown(s: &str) -> Result<(u64, u64), CopyError> {
    let bad = || CopyError::BadChown(s.to_string());
    let (u, g) = s.split_once(':').unwrap_or((s, s));
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

/// Whether `dest` names a directory: it ends in `/`, is the root, or is a
/// directory of the stage already, listed or implied by a file under it (a
/// stage read back from a layer lists the parents its tar holds; one built
/// here may not, and both must place files alike).
pub(crate) fn dest_is_dir(dest: &str, stage: &Tree) -> bool {
    let cleaned = clean(dest);
    let prefix = format!("{cleaned}/");
    dest.ends_with('/')
        || dest.ends_with("/.")
        || cleaned.is_empty()
        || stage.entries.get(&cleaned).is_some_and(|e| e.node == super::tree::Node::Dir)
        || stage.entries.range(prefix.clone()..).next().is_some_and(|(p, _)| p.starts_with(&prefix))
}

/// The files `sources` (patterns over `from`) add at `dest`.
pub(crate) fn copy(
    from: &Tree,
    sources: &[String],
    dest: &str,
    dest_dir: bool,
    how: &Placement,
) -> Result<Tree, CopyError> {
    let dest_root = clean(dest);
    let mut matched: Vec<&str> = Vec::new();
    for src in sources {
        let glob = Glob::parse(&clean(src), false).map_err(CopyError::BadPattern)?;
        let found: Vec<&str> = if clean(src).is_empty() {
            // The whole tree: the context's (or stage's) root.
            vec![""]
        } else {
            from.entries.keys().filter(|p| glob.matches(p)).map(String::as_str).collect()
        };
        if found.is_empty() {
            return Err(CopyError::NoMatch(src.clone()));
        }
        matched.extend(found);
    }
    let into_dir = dest_dir || matched.len() > 1;
    if sources.len() > 1 && !dest_dir {
        return Err(CopyError::NeedsDirectory);
    }
    let mut out = Tree::default();
    for m in matched {
        let is_dir = m.is_empty() || from.entries.get(m).is_some_and(|e| e.node == super::tree::Node::Dir);
        for (rel, entry) in from.subtree(m) {
            if rel.is_empty() && is_dir {
                continue;
            }
            let full = join(m, rel);
            // Patterns match the path under the source copied (BuildKit's rule),
            // or the path in the context.
            let under = if is_dir { rel } else { base_name(m) };
            if how.exclude.iter().any(|g| g.matches_or_parent(under) || g.matches_or_parent(&full)) {
                continue;
            }
            let target = match (is_dir, how.parents) {
                (true, false) => join(&dest_root, rel),
                (_, true) => join(&dest_root, &full),
                (false, false) if into_dir => join(&dest_root, base_name(m)),
                (false, false) => dest_root.clone(),
            };
            if target.is_empty() {
                continue;
            }
            let mut e: Entry = entry.clone();
            how.apply(&mut e);
            out.insert(target, e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::tree::{Data, Node};
    use super::*;

    fn tree(paths: &[&str]) -> Tree {
        let mut t = Tree::default();
        for p in paths {
            let node = if let Some(d) = p.strip_suffix('/') {
                t.insert(d.to_string(), Entry { node: Node::Dir, mode: 0o755, uid: 0, gid: 0 });
                continue;
            } else {
                Node::File { data: Data::Bytes(Arc::new(p.as_bytes().to_vec())), size: p.len() as u64 }
            };
            t.insert(p.to_string(), Entry { node, mode: 0o644, uid: 0, gid: 0 });
        }
        t
    }

    fn paths(t: &Tree) -> Vec<&str> {
        t.entries.keys().map(String::as_str).collect()
    }

    fn run(from: &Tree, sources: &[&str], dest: &str, how: &Placement) -> Result<Tree, CopyError> {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        copy(from, &sources, dest, dest_is_dir(dest, &Tree::default()), how)
    }

    #[test]
    fn files_directories_and_patterns() {
        let ctx = tree(&["m/", "m/a.gguf", "m/sub/", "m/sub/b.json", "x.gguf", "y.gguf", "README.md"]);
        let how = Placement::default();
        assert_eq!(paths(&run(&ctx, &["x.gguf"], "/models/model.gguf", &how).unwrap()), ["models/model.gguf"]);
        assert_eq!(paths(&run(&ctx, &["x.gguf"], "/models/", &how).unwrap()), ["models/x.gguf"]);
        assert_eq!(paths(&run(&ctx, &["m"], "/app", &how).unwrap()), ["app/a.gguf", "app/sub", "app/sub/b.json"]);
        assert_eq!(paths(&run(&ctx, &["*.gguf"], "/w", &how).unwrap()), ["w/x.gguf", "w/y.gguf"]);
        assert_eq!(paths(&run(&ctx, &["m/*.gguf"], ".", &how).unwrap()), ["a.gguf"]);
        assert_eq!(paths(&run(&ctx, &["../x.gguf"], "/", &how).unwrap()), ["x.gguf"]);
        assert_eq!(run(&ctx, &["nope*"], "/", &how).unwrap_err(), CopyError::NoMatch("nope*".into()));
        assert_eq!(run(&ctx, &["x.gguf", "y.gguf"], "/a", &how).unwrap_err(), CopyError::NeedsDirectory);
        let all = run(&ctx, &["."], "/all/", &how).unwrap();
        assert_eq!(all.entries.len(), 7);
    }

    #[test]
    fn parents_exclude_chmod_chown() {
        let ctx = tree(&["m/", "m/a.gguf", "m/docs/", "m/docs/r.md", "m/b.md"]);
        let how = Placement {
            chmod: Some(0o600),
            owner: Some((1000, 1001)),
            exclude: vec![Glob::parse("**/*.md", true).unwrap(), Glob::parse("m/docs", true).unwrap()],
            parents: true,
        };
        let out = run(&ctx, &["m"], "/p/", &how).unwrap();
        assert_eq!(paths(&out), ["p/m/a.gguf"]);
        let e = &out.entries["p/m/a.gguf"];
        assert_eq!((e.mode, e.uid, e.gid), (0o600, 1000, 1001));
    }

    #[test]
    fn a_directory_implied_by_its_files_is_a_directory() {
        let stage = tree(&["models/a.gguf", "modelsx"]);
        assert!(dest_is_dir("/models", &stage));
        assert!(!dest_is_dir("/model", &stage) && !dest_is_dir("/modelsx", &stage));
    }

    #[test]
    fn option_values() {
        assert_eq!(parse_chmod("755"), Ok(0o755));
        assert_eq!(parse_chmod("u+x"), Err(CopyError::BadChmod("u+x".into())));
        assert_eq!(parse_chmod("17777"), Err(CopyError::BadChmod("17777".into())));
        assert_eq!(parse_chown("1000"), Ok((1000, 1000)));
        assert_eq!(parse_chown("1:2"), Ok((1, 2)));
        assert!(parse_chown("root").is_err());
        assert_eq!(clean("/a/./b/../c//"), "a/c");
        assert_eq!(clean("../../x"), "x");
    }
}
