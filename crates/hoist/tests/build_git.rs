//! ADD of git repositories against a real git server on loopback: the test
//! kit's `GitServer` (git's own `git http-backend` behind a small HTTP server,
//! with a Git LFS batch endpoint). The repository is made here: a config, a
//! README, a subdirectory and a GGUF stored in LFS (the commit holds its
//! pointer, the server its object), tagged v1, then a second commit on main.
//! The image holds the real GGUF, checked against its oid; a rebuild of the
//! same commit fetches no LFS byte; a corrupt object, a missing ref and an
//! unreachable remote fail in one line without showing credentials.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::Sandbox;
use hoist_testkit::GitServer;

struct Repo {
    server: GitServer,
    url: String,
    gguf: Vec<u8>,
    oid: String,
    /// The commit tagged v1.
    v1: String,
}

/// Runs git with no user config, as the test's author; its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(hoist_testkit::require_tool("git"))
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The repository `team/model.git` on a new server (wanting `lfs_credentials`
/// on its LFS endpoint, if given).
fn repo(sandbox: &Sandbox, lfs_credentials: Option<(&str, &str)>) -> Repo {
    let server = GitServer::start(lfs_credentials);
    let gguf = std::fs::read(sandbox.tiny_gguf("tiny.gguf")).unwrap();
    let oid = server.add_lfs_object(&gguf);
    let work = sandbox.path("work");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    git(&work, &["init", "-q"]);
    sandbox.write("work/.gitattributes", "*.gguf filter=lfs diff=lfs merge=lfs -text\n");
    sandbox.write("work/config.json", "{\"architectures\": [\"LlamaForCausalLM\"]}\n");
    sandbox.write("work/README.md", "first\n");
    sandbox.write("work/sub/notes.txt", "notes\n");
    let pointer = format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n", gguf.len());
    sandbox.write("work/model.gguf", pointer);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    git(&work, &["tag", "-a", "v1", "-m", "v1"]);
    let v1 = git(&work, &["rev-parse", "HEAD"]);
    sandbox.write("work/README.md", "second\n");
    git(&work, &["commit", "-q", "-am", "second"]);
    let bare = server.repos().join("team/model.git");
    git(&work, &["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    let url = server.url("team/model.git");
    Repo { server, url, gguf, oid, v1 }
}

fn build(sandbox: &Sandbox, file: &str, tag: &str) -> Output {
    sandbox.write("ctx/GGUFPackerfile", file);
    sandbox.hoist().args(["build", "--progress", "none", "-t", tag]).arg(sandbox.path("ctx")).output().unwrap()
}

fn succeeds(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails_in_one_line(out: &Output, expected: &[&str]) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{stderr:?} should say {e:?}");
    }
    stderr
}

fn tags(sandbox: &Sandbox) -> Vec<String> {
    let list = sandbox.json(&["list", "--json"]);
    list.as_array().unwrap().iter().map(|m| m["reference"].as_str().unwrap().to_string()).collect()
}

/// The image's layers extracted in order into a new directory (its root file system).
fn unpack(sandbox: &Sandbox, tag: &str) -> PathBuf {
    let dir = sandbox.path(&format!("rootfs-{}", tag.replace(':', "-")));
    std::fs::create_dir_all(&dir).unwrap();
    let inspected = sandbox.json(&["inspect", "--json", tag]);
    for layer in inspected["manifest"]["layers"].as_array().unwrap() {
        let digest = layer["digest"].as_str().unwrap();
        let blob = sandbox.store().join("blobs/sha256").join(&digest["sha256:".len()..]);
        let out = std::process::Command::new("tar").arg("-xf").arg(blob).arg("-C").arg(&dir).output().unwrap();
        assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
    }
    dir
}

#[test]
fn a_tag_builds_with_its_lfs_weights_and_a_rebuild_fetches_nothing() {
    let sandbox = Sandbox::new();
    let repo = repo(&sandbox, None);
    let file = format!("FROM scratch\nADD {}#v1 /model/\nCMD [\"-m\", \"/model/model.gguf\"]\n", repo.url);
    let out = succeeds(&build(&sandbox, &file, "git:1"));
    assert!(out.contains("(1 layer, 0 steps cached)"), "{out}");
    assert_eq!(repo.server.lfs_bytes_served(), repo.gguf.len() as u64);

    let root = unpack(&sandbox, "git:1");
    let model = std::fs::read(root.join("model/model.gguf")).unwrap();
    assert!(model == repo.gguf, "the layer holds the LFS object, not its pointer");
    let sha = std::process::Command::new("sha256sum").arg(root.join("model/model.gguf")).output().unwrap();
    assert!(String::from_utf8(sha.stdout).unwrap().starts_with(&repo.oid));
    assert_eq!(std::fs::read_to_string(root.join("model/README.md")).unwrap(), "first\n");
    assert!(root.join("model/sub/notes.txt").is_file());
    assert!(!root.join("model/.git").exists(), "no .git without --keep-git-dir");

    let dry = sandbox.hoist().args(["run", "--dry-run", "git:1"]).output().unwrap();
    let line = succeeds(&dry);
    assert!(line.split_whitespace().nth(2).unwrap().ends_with("/model/model.gguf"), "{line}");
    let inspected = sandbox.json(&["inspect", "--json", "git:1"]);
    let labels = &inspected["config"]["config"]["Labels"];
    assert_eq!(labels["gguf.model.filetype"], "Q8_0", "{labels:#}");

    // The same commit again: a cache hit, no LFS byte and no batch request.
    let batches = |server: &GitServer| server.requests().iter().filter(|r| r.path.ends_with("/objects/batch")).count();
    assert_eq!(batches(&repo.server), 1);
    let again = succeeds(&build(&sandbox, &file, "git:2"));
    assert!(again.contains("(1 layer, 1 step cached)"), "{again}");
    assert_eq!(repo.server.lfs_bytes_served(), repo.gguf.len() as u64);
    assert_eq!(batches(&repo.server), 1);
    let first = sandbox.json(&["inspect", "--json", "git:1"]);
    assert_eq!(first["descriptor"]["digest"], sandbox.json(&["inspect", "--json", "git:2"])["descriptor"]["digest"]);

    // A moved branch rebuilds.
    let main = format!("FROM scratch\nADD {}#main /model/\n", repo.url);
    succeeds(&build(&sandbox, &main, "main:1"));
    let work = sandbox.path("work");
    sandbox.write("work/README.md", "third\n");
    git(&work, &["commit", "-q", "-am", "third"]);
    git(&work, &["push", "-q", repo.server.repos().join("team/model.git").to_str().unwrap(), "main"]);
    let moved = succeeds(&build(&sandbox, &main, "main:2"));
    assert!(moved.contains("0 steps cached"), "{moved}");
    assert_eq!(std::fs::read_to_string(unpack(&sandbox, "main:2").join("model/README.md")).unwrap(), "third\n");
}

#[test]
fn branches_commits_subdirectories_and_the_git_dir() {
    let sandbox = Sandbox::new();
    let repo = repo(&sandbox, None);
    let url = &repo.url;
    let file = format!(
        "FROM scratch\nADD {url}#main /main/\nADD {url}#{} /commit/\nADD {url}#v1:sub /sub/\n\
         ADD --keep-git-dir {url}#v1 /kept/\n",
        repo.v1
    );
    let out = succeeds(&build(&sandbox, &file, "refs:1"));
    assert!(out.contains("(4 layers, 0 steps cached)"), "{out}");
    // One build fetches an object once, however many steps check it out.
    assert_eq!(repo.server.lfs_bytes_served(), repo.gguf.len() as u64);
    let root = unpack(&sandbox, "refs:1");
    assert_eq!(std::fs::read_to_string(root.join("main/README.md")).unwrap(), "second\n");
    assert_eq!(std::fs::read_to_string(root.join("commit/README.md")).unwrap(), "first\n");
    assert!(std::fs::read(root.join("commit/model.gguf")).unwrap() == repo.gguf);
    let sub: Vec<String> =
        std::fs::read_dir(root.join("sub")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(sub, ["notes.txt"]);
    assert!(!root.join("main/.git").exists());
    assert!(root.join("kept/.git/HEAD").is_file(), "--keep-git-dir keeps .git");
    assert!(std::fs::read(root.join("kept/model.gguf")).unwrap() == repo.gguf);
    let kept = git(&root.join("kept"), &["rev-parse", "HEAD"]);
    assert_eq!(kept, repo.v1);
}

#[test]
fn corrupt_objects_missing_refs_and_unreachable_remotes_fail_in_one_line() {
    let sandbox = Sandbox::new();
    let repo = repo(&sandbox, None);
    repo.server.corrupt_lfs_object(&repo.oid);
    let out = build(&sandbox, &format!("FROM scratch\nADD {}#v1 /model/\n", repo.url), "bad:1");
    fails_in_one_line(&out, &["GGUFPackerfile:2:1: ", "model.gguf", "sha256", &repo.oid]);

    let out = build(&sandbox, &format!("FROM scratch\nADD {}#nope /model/\n", repo.url), "bad:2");
    fails_in_one_line(&out, &["GGUFPackerfile:2:1: ", "no branch or tag \"nope\""]);

    let out = build(&sandbox, &format!("FROM scratch\nADD {}#v1:missing /model/\n", repo.url), "bad:3");
    fails_in_one_line(&out, &["GGUFPackerfile:2:1: ", "no directory \"missing\""]);

    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let remote = format!("http://bob:hunter2@127.0.0.1:{port}/team/model.git");
    let out = build(&sandbox, &format!("FROM scratch\nADD {remote}#v1 /model/\n"), "bad:4");
    let stderr = fails_in_one_line(&out, &["GGUFPackerfile:2:1: git ls-remote http://127.0.0.1:"]);
    assert!(!stderr.contains("hunter2") && !stderr.contains("bob"), "{stderr}");

    let no_git = sandbox
        .hoist()
        .env("PATH", "/nonexistent")
        .args(["build", "--progress", "none", "-t", "bad:5"])
        .arg(sandbox.path("ctx"))
        .output()
        .unwrap();
    let stderr =
        fails_in_one_line(&no_git, &["GGUFPackerfile:2:1: ADD of a git repository needs git", "apt-get install git"]);
    assert!(!stderr.contains("ls-remote"), "{stderr}");
    assert_eq!(tags(&sandbox), Vec::<String>::new(), "nothing tagged");
}

#[test]
fn credentials_in_the_url_reach_the_lfs_endpoint_and_nothing_else() {
    let sandbox = Sandbox::new();
    let repo = repo(&sandbox, Some(("bob", "hunter2")));
    let without = build(&sandbox, &format!("FROM scratch\nADD {}#v1 /model/\n", repo.url), "lfs:0");
    fails_in_one_line(&without, &["GGUFPackerfile:2:1: ", "HTTP 401", "Credentials needed"]);

    let with = repo.url.replacen("http://", "http://bob:hunter2@", 1);
    let out = build(&sandbox, &format!("FROM scratch\nADD {with}#v1 /model/\n"), "lfs:1");
    succeeds(&out);
    assert_eq!(repo.server.lfs_bytes_served(), repo.gguf.len() as u64);
    let inspected = sandbox.json(&["inspect", "--json", "lfs:1"]);
    let history = inspected["config"]["history"].to_string();
    assert!(!history.contains("hunter2") && history.contains("http://***@127.0.0.1"), "{history}");
}

#[test]
fn lfsconfig_names_another_lfs_endpoint() {
    let sandbox = Sandbox::new();
    let repo = repo(&sandbox, None);
    let work = sandbox.path("work");
    let elsewhere = repo.server.url("store/weights.git/info/lfs");
    sandbox.write("work/.lfsconfig", format!("[lfs]\n\turl = {elsewhere}\n"));
    git(&work, &["checkout", "-q", "-b", "moved"]);
    git(&work, &["add", ".lfsconfig"]);
    git(&work, &["commit", "-q", "-m", "objects elsewhere"]);
    git(&work, &["push", "-q", repo.server.repos().join("team/model.git").to_str().unwrap(), "moved"]);
    succeeds(&build(&sandbox, &format!("FROM scratch\nADD {}#moved /model/\n", repo.url), "moved:1"));
    let batches: Vec<String> =
        repo.server.requests().into_iter().filter(|r| r.path.ends_with("/objects/batch")).map(|r| r.path).collect();
    assert_eq!(batches, ["/store/weights.git/info/lfs/objects/batch"]);
    assert!(std::fs::read(unpack(&sandbox, "moved:1").join("model/model.gguf")).unwrap() == repo.gguf);
}

#[test]
fn a_symlinked_subdirectory_never_leads_out_of_the_repository() {
    let sandbox = Sandbox::new();
    let repo = repo(&sandbox, None);
    // A branch whose `up` is a symlink to a directory of the machine.
    let work = sandbox.path("work");
    let outside = sandbox.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    sandbox.write("outside/secret.txt", "the machine's own file\n");
    git(&work, &["checkout", "-q", "-b", "evil"]);
    std::os::unix::fs::symlink(&outside, work.join("up")).unwrap();
    git(&work, &["add", "up"]);
    git(&work, &["commit", "-q", "-m", "a link out"]);
    let bare = repo.server.repos().join("team/model.git");
    git(&work, &["push", "-q", bare.to_str().unwrap(), "evil"]);

    let out = build(&sandbox, &format!("FROM scratch\nADD {}#evil:up /x/\n", repo.url), "evil:1");
    fails_in_one_line(&out, &["GGUFPackerfile:2:1: ", "\"up\" leads out of the repository"]);
    // The whole branch is fine: the link stays a link in the image.
    let out = build(
        &sandbox,
        &format!("FROM scratch\nADD {}#evil /x/\nCMD [\"-m\", \"/x/model.gguf\"]\n", repo.url),
        "evil:2",
    );
    succeeds(&out);
    let root = unpack(&sandbox, "evil:2");
    assert!(std::fs::symlink_metadata(root.join("x/up")).unwrap().file_type().is_symlink());
    assert_eq!(tags(&sandbox), ["evil:2"]);
}
