//! ADD of git repositories, through the `git` program (no git library does
//! more here than the CLI, and every machine that builds from git has it).
//!
//! A source is BuildKit's: a remote (`https://host/repo.git`, `git@host:repo`,
//! `git://`, `ssh://`) with an optional `#ref` (branch, tag, full commit id)
//! and `#ref:subdir`. The ref is resolved with `git ls-remote` before anything
//! is fetched, so the step's cache key (the commit) is known without a clone:
//! a rebuild of the same commit fetches nothing and a moved branch rebuilds.
//! The commit is then fetched shallowly into the build's scratch directory
//! (a full fetch when the server refuses a commit by id) and checked out there.
//!
//! Git runs with no user or system config, no hooks, no terminal prompt and
//! LFS smudging off, so the machine's git set-up cannot change what is built.
//! Credentials in an http(s) URL never reach git's command line or its
//! messages: they go to git as an `Authorization` header through the
//! environment, and every URL shown is [`redact`]ed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;

use super::tree::{Data, Entry, Node, Tree};

/// A git source of ADD, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    /// The URL git fetches: without credentials.
    pub(crate) url: String,
    /// User and password from an http(s) URL (percent-decoded).
    pub(crate) auth: Option<(String, String)>,
    /// The ref as written (empty: the remote's HEAD).
    pub(crate) reference: String,
    /// The directory of the repository to add ("" for all of it).
    pub(crate) subdir: String,
}

/// A remote with its ref resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) remote: Remote,
    /// The full commit id.
    pub(crate) commit: String,
    /// The full name of the ref (`refs/heads/main`), unless a commit id was given.
    pub(crate) ref_name: Option<String>,
}

impl Remote {
    pub(crate) fn parse(source: &str) -> Result<Remote, String> {
        let (address, fragment) = source.split_once('#').unwrap_or((source, ""));
        let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
        let mut parts = Vec::new();
        for part in subdir.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if part == ".." {
                return Err(format!("{}: the subdirectory {subdir:?} leaves the repository", redact(source)));
            }
            parts.push(part);
        }
        let (url, auth) = match address.split_once("://") {
            Some((scheme, rest)) if scheme == "http" || scheme == "https" => {
                let authority_end = rest.find('/').unwrap_or(rest.len());
                match rest[..authority_end].rsplit_once('@') {
                    Some((userinfo, host)) => {
                        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                        let auth = (percent_decode(user), percent_decode(password));
                        (format!("{scheme}://{host}{}", &rest[authority_end..]), Some(auth))
                    }
                    None => (address.to_string(), None),
                }
            }
            _ => (address.to_string(), None),
        };
        Ok(Remote { url, auth, reference: reference.to_string(), subdir: parts.join("/") })
    }

    /// The Git LFS endpoint git-lfs derives from the remote: `<url>.git/info/lfs`,
    /// over https for ssh and git remotes.
    pub(crate) fn lfs_endpoint(&self) -> String {
        let url = self.url.trim_end_matches('/');
        let https = if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else if let Some((_, rest)) = url.split_once("://") {
            // ssh://[user@]host[:port]/path and git://host/path: the host, no port.
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            let host = host.split(':').next().unwrap_or(host);
            format!("https://{host}/{path}")
        } else {
            // git@host:path
            let rest = url.split_once('@').map_or(url, |(_, r)| r);
            let (host, path) = rest.split_once(':').unwrap_or((rest, ""));
            format!("https://{host}/{}", path.trim_start_matches('/'))
        };
        if https.ends_with(".git") { format!("{https}/info/lfs") } else { format!("{https}.git/info/lfs") }
    }
}

/// `text` with the user information of every URL in it hidden
/// (`https://***@host/...`), for errors, history and progress.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(|c: char| c == '/' || c == '#' || c == '?' || c.is_whitespace()).unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                out.push_str(&after[userinfo_end..end]);
            }
            None => out.push_str(&after[..end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_commit_id(reference: &str) -> bool {
    matches!(reference.len(), 40 | 64) && reference.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The error when there is no git to run, said as it is (not as a failed git command).
const NO_GIT: &str = "ADD of a git repository needs git, which is not installed (apt-get install git)";

/// Runs git in `dir` (or anywhere) with the isolated environment; its stdout,
/// or its message on one line.
fn git(dir: Option<&Path>, remote: &Remote, args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    // Anything a calling git (a hook, a test harness) left in the environment
    // would point this git elsewhere.
    for name in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_COMMON_DIR",
    ] {
        command.env_remove(name);
    }
    command
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("LC_ALL", "C");
    if std::env::var_os("GIT_SSH_COMMAND").is_none() {
        command.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
    }
    // Credentials as a header through the environment: not on a command line
    // another user can list, not in a URL git could print.
    match &remote.auth {
        Some((user, password)) => {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            command
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", format!("Authorization: Basic {basic}"));
        }
        None => {
            command.env_remove("GIT_CONFIG_COUNT");
        }
    }
    command.args([
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "init.defaultBranch=main",
        "-c",
        "advice.detachedHead=false",
    ]);
    command.args(args).stdin(Stdio::null());
    let output = command.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => NO_GIT.to_string(),
        _ => format!("running git: {e}"),
    })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut message: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if message.is_empty() {
        message.push("failed");
    }
    let mut message = redact(&message.join("; "));
    if let Some((_, password)) = remote.auth.as_ref().filter(|(_, p)| !p.is_empty()) {
        message = message.replace(password.as_str(), "***");
    }
    Err(message)
}

/// Resolves the remote's ref to a commit with `git ls-remote` (a full commit id
/// is taken as it is). Tags win over branches, as in `git rev-parse`.
pub(crate) fn resolve(remote: &Remote) -> Result<Resolved, String> {
    if is_commit_id(&remote.reference) {
        let commit = remote.reference.to_ascii_lowercase();
        return Ok(Resolved { remote: remote.clone(), commit, ref_name: None });
    }
    let shown = redact(&remote.url);
    let listed = git(None, remote, &["ls-remote", &remote.url])
        .map_err(|e| if e == NO_GIT { e } else { format!("git ls-remote {shown}: {e}") })?;
    let refs: Vec<(&str, &str)> = listed.lines().filter_map(|l| l.split_once('\t')).collect();
    let r = &remote.reference;
    let candidates: Vec<String> = if r.is_empty() {
        vec!["HEAD".into()]
    } else if r.starts_with("refs/") {
        vec![format!("{r}^{{}}"), r.clone()]
    } else {
        vec![format!("refs/tags/{r}^{{}}"), format!("refs/tags/{r}"), format!("refs/heads/{r}")]
    };
    for candidate in &candidates {
        if let Some((commit, _)) = refs.iter().find(|(_, name)| name == candidate) {
            let name = candidate.trim_end_matches("^{}").to_string();
            return Ok(Resolved { remote: remote.clone(), commit: commit.to_string(), ref_name: Some(name) });
        }
    }
    Err(if r.is_empty() {
        format!("{shown} has no HEAD to check out")
    } else {
        format!("{shown} has no branch or tag {r:?} (a commit needs its full id)")
    })
}

/// Fetches the resolved commit into `dir` (a new, empty directory) and checks
/// it out there; returns the files of the subdirectory asked for, `.git`
/// included only with `keep_git_dir` and no subdirectory.
pub(crate) fn checkout(resolved: &Resolved, dir: &Path, keep_git_dir: bool) -> Result<Tree, String> {
    let remote = &resolved.remote;
    let shown = redact(&remote.url);
    let commit = resolved.commit.as_str();
    git(Some(dir), remote, &["init", "-q", "."])?;
    let shallow = git(Some(dir), remote, &["fetch", "-q", "--depth=1", "--no-tags", &remote.url, commit]);
    if shallow.is_err() {
        // Servers that refuse a commit by id still serve their refs, and the
        // commit among them.
        let all = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"];
        let mut args = vec!["fetch", "-q", "--no-tags", &remote.url];
        args.extend(all);
        git(Some(dir), remote, &args).map_err(|e| format!("git fetch {shown}: {e}"))?;
    }
    git(Some(dir), remote, &["checkout", "-q", "--detach", commit])
        .map_err(|_| format!("{shown} has no commit {commit}"))?;
    if keep_git_dir {
        // The kept repository names its remote, without credentials, and
        // keeps no record of the fetch.
        git(Some(dir), remote, &["remote", "add", "origin", &remote.url])?;
        let _ = std::fs::remove_file(dir.join(".git/FETCH_HEAD"));
    }
    let root = if remote.subdir.is_empty() { dir.to_path_buf() } else { dir.join(&remote.subdir) };
    if !root.is_dir() {
        return Err(format!("{shown}: commit {commit} has no directory {:?}", remote.subdir));
    }
    // A subdirectory that is a symlink in the repository must not lead the
    // build out of the checkout (to the machine's own files).
    let inside = match (root.canonicalize(), dir.canonicalize()) {
        (Ok(root), Ok(dir)) => root.starts_with(dir),
        _ => false,
    };
    if !inside {
        return Err(format!("{shown}: the directory {:?} leads out of the repository", remote.subdir));
    }
    let with_git = keep_git_dir && remote.subdir.is_empty();
    load(&root, with_git).map_err(|e| format!("reading the checkout of {shown}: {e}"))
}

/// The files under `root`, with git's modes (644, or 755 for executables),
/// never those of the machine's umask; `.git` only if `with_git`.
fn load(root: &Path, with_git: bool) -> Result<Tree, String> {
    let mut tree = Tree::default();
    let walk = walkdir::WalkDir::new(root).follow_links(false).min_depth(1).sort_by_file_name();
    for item in walk.into_iter().filter_entry(|e| with_git || e.depth() != 1 || e.file_name() != ".git") {
        let item = item.map_err(|e| e.to_string())?;
        let rel = item.path().strip_prefix(root).unwrap_or(item.path());
        let rel = rel.to_str().ok_or_else(|| format!("{}: the file name is not UTF-8", rel.display()))?;
        let meta = item.metadata().map_err(|e| e.to_string())?;
        let ft = meta.file_type();
        let (node, mode) = if ft.is_dir() {
            (Node::Dir, 0o755)
        } else if ft.is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(|e| e.to_string())?;
            (Node::Symlink(target.to_string_lossy().into_owned()), 0o777)
        } else if ft.is_file() {
            let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            (Node::File { data: Data::Disk(item.path().to_path_buf()), size: meta.len() }, mode)
        } else {
            continue;
        };
        tree.insert(rel.to_string(), Entry { node, mode, uid: 0, gid: 0 });
    }
    Ok(tree)
}

/// `lfs.url` from the `.lfsconfig` at the top of the checkout, if any.
pub(crate) fn lfs_url_override(dir: &Path, remote: &Remote) -> Result<Option<String>, String> {
    let config = dir.join(".lfsconfig");
    // Not followed if a symlink: the repository's own file only.
    if !std::fs::symlink_metadata(&config).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let path = config.to_string_lossy();
    // `git config --get` exits 1 when the key is not set.
    Ok(git(None, remote, &["config", "-f", &path, "--get", "lfs.url"]).ok().map(|s| s.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_refs_subdirs_and_credentials() {
        let r = Remote::parse("https://bob:p%40ss@host.example/team/model.git#v1:weights/q4").unwrap();
        assert_eq!(r.url, "https://host.example/team/model.git");
        assert_eq!(r.auth, Some(("bob".into(), "p@ss".into())));
        assert_eq!((r.reference.as_str(), r.subdir.as_str()), ("v1", "weights/q4"));
        assert_eq!(r.lfs_endpoint(), "https://host.example/team/model.git/info/lfs");

        let r = Remote::parse("git@github.com:team/model").unwrap();
        assert_eq!((r.url.as_str(), r.reference.as_str(), r.auth.is_none()), ("git@github.com:team/model", "", true));
        assert_eq!(r.lfs_endpoint(), "https://github.com/team/model.git/info/lfs");
        let r = Remote::parse("ssh://git@host:2222/team/model.git#main").unwrap();
        assert_eq!(r.lfs_endpoint(), "https://host/team/model.git/info/lfs");
        assert!(Remote::parse("https://h/r.git#main:../x").unwrap_err().contains("leaves the repository"));
    }

    #[test]
    fn redaction_hides_user_information() {
        assert_eq!(
            redact("ADD https://bob:secret@h:8080/r.git#v1 /m/ and http://h/x"),
            "ADD https://***@h:8080/r.git#v1 /m/ and http://h/x"
        );
        assert_eq!(redact("https://token@h"), "https://***@h");
        assert_eq!(redact("no url"), "no url");
    }

    #[test]
    fn commit_ids() {
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(!is_commit_id("abc1234"));
        assert!(!is_commit_id(&"g".repeat(40)));
    }
}
