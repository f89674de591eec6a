//! ADD of http(s) URLs against a real HTTP server on loopback: a registry's
//! blob endpoint (it serves byte ranges) behind the test kit's fault proxy,
//! which cuts a download short and records every request. An interrupted
//! download resumes from the byte it reached; a checked URL is cached by its
//! checksum; a wrong checksum or a 404 fails in one line and tags nothing.

mod common;

use common::Sandbox;
use hoist_testkit::{Fault, FaultProxy, RegistryServer};

struct Served {
    _registry: RegistryServer,
    proxy: FaultProxy,
    /// The GGUF's digest and bytes, served at `url(digest)`.
    digest: String,
    bytes: Vec<u8>,
}

impl Served {
    fn url(&self, digest: &str) -> String {
        format!("http://{}/v2/team/tiny/blobs/{digest}", self.proxy.host())
    }
}

fn serve(sandbox: &Sandbox) -> Served {
    let registry = RegistryServer::anonymous();
    sandbox.push_tiny("tiny:q8", &format!("{}/team/tiny:1", registry.host()));
    let inspected = sandbox.json(&["inspect", "--json", "tiny:q8"]);
    let digest = inspected["manifest"]["layers"][0]["digest"].as_str().unwrap().to_string();
    let bytes = std::fs::read(sandbox.store().join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap();
    let proxy = FaultProxy::start(&registry);
    Served { _registry: registry, proxy, digest, bytes }
}

fn build(sandbox: &Sandbox, file: &str, tag: &str) -> std::process::Output {
    sandbox.write("ctx/GGUFPackerfile", file);
    sandbox.hoist().args(["build", "--progress", "none", "-t", tag]).arg(sandbox.path("ctx")).output().unwrap()
}

fn fails_in_one_line(out: &std::process::Output, expected: &str) {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(expected), "{stderr:?} should say {expected:?}");
}

fn tags(sandbox: &Sandbox) -> Vec<String> {
    let list = sandbox.json(&["list", "--json"]);
    list.as_array().unwrap().iter().map(|m| m["reference"].as_str().unwrap().to_string()).collect()
}

#[test]
fn an_interrupted_download_resumes_and_a_checked_url_is_cached() {
    let sandbox = Sandbox::new();
    let served = serve(&sandbox);
    let hex = &served.digest["sha256:".len()..];
    let file = format!(
        "FROM scratch\nADD --checksum={} {} /model.gguf\nCMD [\"-m\", \"model.gguf\"]\n",
        served.digest,
        served.url(&served.digest)
    );
    served.proxy.set_faults(vec![Fault::Truncate { path: hex.to_string(), keep: 1000, times: 1 }]);
    let cut = build(&sandbox, &file, "web:1");
    fails_in_one_line(&cut, "the download stopped after 1000 bytes");
    assert_eq!(tags(&sandbox), ["tiny:q8"], "nothing tagged");

    let out = build(&sandbox, &file, "web:1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let requests: Vec<_> = served.proxy.requests().into_iter().filter(|r| r.path.contains(hex)).collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!((requests[0].range.as_deref(), requests[0].body_bytes), (None, 1000));
    let rest = served.bytes.len() as u64 - 1000;
    assert_eq!((requests[1].range.as_deref(), requests[1].body_bytes), (Some("bytes=1000-"), rest));

    let unpacked = sandbox.path("unpacked");
    sandbox.hoist().args(["unpack", "web:1"]).arg(&unpacked).assert().success();
    let found = walkdir::WalkDir::new(&unpacked).into_iter().flatten().find(|e| e.file_name() == "model.gguf");
    assert!(std::fs::read(found.unwrap().path()).unwrap() == served.bytes, "the layer holds the served bytes");

    // Known by its checksum: a rebuild asks the server nothing.
    let again = build(&sandbox, &file, "web:2");
    assert!(String::from_utf8(again.stdout).unwrap().contains("(1 layer, 1 step cached)"));
    assert_eq!(served.proxy.requests().iter().filter(|r| r.path.contains(hex)).count(), 2);
}

/// `--progress plain` says what is downloaded, and from where it resumes.
#[test]
fn plain_progress_names_the_download() {
    let sandbox = Sandbox::new();
    let served = serve(&sandbox);
    let hex = &served.digest["sha256:".len()..];
    served.proxy.set_faults(vec![Fault::Truncate { path: hex.to_string(), keep: 1000, times: 1 }]);
    let url = served.url(&served.digest);
    sandbox.write("ctx/GGUFPackerfile", format!("FROM scratch\nADD {url} /m.gguf\n"));
    let run = || sandbox.hoist().args(["build", "--progress", "plain", "-t", "p:1"]).arg(sandbox.path("ctx")).output();
    let cut = run().unwrap();
    assert!(!cut.status.success());
    let stderr = String::from_utf8(cut.stderr).unwrap();
    assert!(stderr.starts_with(&format!("downloading {url} (")), "{stderr}");
    let resumed = run().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let stderr = String::from_utf8(resumed.stderr).unwrap();
    assert!(stderr.trim_end().ends_with(", resuming at 1000 bytes"), "{stderr}");
}

#[test]
fn checksums_and_missing_files_fail_in_one_line() {
    let sandbox = Sandbox::new();
    let served = serve(&sandbox);
    let url = served.url(&served.digest);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let out = build(&sandbox, &format!("FROM scratch\nADD --checksum={wrong} {url} /m.gguf\n"), "bad:1");
    fails_in_one_line(&out, &format!("checksum mismatch: expected {wrong}, downloaded {}", served.digest));
    let missing = served.url(&format!("sha256:{}", "1".repeat(64)));
    let out = build(&sandbox, &format!("FROM scratch\nADD {missing} /m.gguf\n"), "bad:2");
    fails_in_one_line(&out, "GGUFPackerfile:2:1: ");
    fails_in_one_line(&out, "HTTP 404");
    assert_eq!(tags(&sandbox), ["tiny:q8"], "nothing tagged");
    // Only the (empty) lock files of the two URLs are left, which prune removes.
    let mut left: Vec<String> = std::fs::read_dir(sandbox.store().join("ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    left.sort();
    assert_eq!(left, Vec::<String>::new(), "a failed check keeps nothing to resume from");

    // sha512 too; into a directory, the file is named after the URL's last part.
    let sha512 = std::process::Command::new("sha512sum")
        .arg(sandbox.store().join("blobs/sha256").join(&served.digest["sha256:".len()..]))
        .output()
        .unwrap();
    let sha512 = String::from_utf8(sha512.stdout).unwrap().split_whitespace().next().unwrap().to_string();
    let file = format!("FROM scratch\nADD --checksum=sha512:{sha512} {url} /models/\n");
    let out = build(&sandbox, &file, "ok:1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let unpacked = sandbox.path("unpacked");
    sandbox.hoist().args(["unpack", "ok:1"]).arg(&unpacked).assert().success();
    let found =
        walkdir::WalkDir::new(&unpacked).into_iter().flatten().find(|e| e.file_name() == served.digest.as_str());
    assert!(found.is_some(), "models/{} is in the image", served.digest);
}
