//! `--json` on every command that reports something: the fields the README
//! documents, with values checked against the store and the registry.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Sandbox;
use hoist_testkit::{RegistryAuth, RegistryOptions, RegistryServer};
use serde_json::Value;

/// The sizes of a stored model's config and layers: what a push of it moves.
fn blob_bytes(sandbox: &Sandbox, reference: &str) -> (u64, u64) {
    let manifest = &sandbox.json(&["inspect", "--json", reference])["manifest"];
    let layers = manifest["layers"].as_array().unwrap();
    let bytes =
        manifest["config"]["size"].as_u64().unwrap() + layers.iter().map(|l| l["size"].as_u64().unwrap()).sum::<u64>();
    (1 + layers.len() as u64, bytes)
}

fn counts(json: &Value) -> [u64; 6] {
    ["blobs_copied", "bytes_copied", "blobs_skipped", "blobs_mounted", "manifests_pushed", "bytes_read_back"]
        .map(|field| json[field].as_u64().unwrap_or_else(|| panic!("{field} in {json}")))
}

#[test]
fn push_pull_and_copy_report_what_moved() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let digest = sandbox.pack_tiny("tiny:q8");
    let (blobs, bytes) = blob_bytes(&sandbox, "tiny:q8");
    let remote = format!("{}/team/tiny:1", registry.host());

    let pushed = sandbox.json(&["push", "--json", "--progress", "none", "tiny:q8", &remote]);
    assert_eq!(pushed["action"], "pushed");
    assert_eq!(pushed["reference"], remote.as_str());
    assert_eq!(pushed["digest"], digest.as_str());
    assert_eq!(counts(&pushed), [blobs, bytes, 0, 0, 1, 0]);
    assert!(pushed["seconds"].as_f64().unwrap() >= 0.0);
    let again = sandbox.json(&["push", "--json", "--progress", "none", "tiny:q8", &remote]);
    // The registry has the manifest: nothing under it is even asked about.
    assert_eq!(counts(&again), [0, 0, 0, 0, 0, 0], "{again}");
    assert_eq!(again["manifests_skipped"], 1);

    let other = format!("{}/elsewhere/tiny:2", registry.host());
    let copied = sandbox.json(&["copy", "--json", "--progress", "none", &remote, &other]);
    assert_eq!(copied["action"], "copied");
    assert_eq!(counts(&copied), [0, 0, 0, blobs, 1, 0], "mounted inside one registry: {copied}");

    let fresh = Sandbox::new();
    let pulled = fresh.json(&["pull", "--json", "--progress", "none", &other]);
    assert_eq!(pulled["action"], "pulled");
    assert_eq!(pulled["digest"], digest.as_str());
    assert_eq!(counts(&pulled), [blobs, bytes, 0, 0, 1, 0], "{pulled}");
    assert_eq!(pulled["layers_filtered"], 0);
}

#[test]
fn tag_rm_prune_and_verify_report_names_and_bytes() {
    let sandbox = Sandbox::new();
    let digest = sandbox.pack_tiny("tiny:q8");
    let first = sandbox.pack_tiny("other:1");
    let tagged = sandbox.json(&["tag", "--json", "tiny:q8", "other:1"]);
    assert_eq!(tagged, serde_json::json!({"reference": "other:1", "digest": digest, "replaced": first}));

    let store_bytes = |sandbox: &Sandbox| -> u64 {
        walkdir::WalkDir::new(sandbox.store().join("blobs"))
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    let verified = sandbox.json(&["verify", "--json", "--progress", "none"]);
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["bytes_checked"].as_u64().unwrap(), store_bytes(&sandbox));
    assert_eq!(verified["corrupt"], serde_json::json!([]));

    // other:1's first model is now untagged: prune frees exactly its blobs.
    let before = store_bytes(&sandbox);
    let pruned = sandbox.json(&["prune", "--json"]);
    let freed = pruned["bytes_freed"].as_u64().unwrap();
    assert!(pruned["blobs_removed"].as_u64().unwrap() > 0, "{pruned}");
    assert_eq!(before - freed, store_bytes(&sandbox), "{pruned}");
    assert_eq!(pruned["partial_files_removed"], 0);

    let removed = sandbox.json(&["rm", "--json", "tiny:q8"]);
    assert_eq!(removed["untagged"], serde_json::json!([{"reference": "tiny:q8", "digest": digest}]));
    assert_eq!(removed["blobs_removed"], 0, "other:1 still holds them");
    let before = store_bytes(&sandbox);
    let removed = sandbox.json(&["rm", "--json", "other:1"]);
    assert_eq!(removed["pruned"], true);
    assert_eq!(removed["blobs_removed"], 3, "manifest, config and layer");
    assert_eq!(removed["bytes_freed"].as_u64().unwrap(), before);
}

#[test]
fn verify_json_lists_a_corrupt_blob_and_fails() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("tiny:q8");
    let layer = sandbox.json(&["inspect", "--json", "tiny:q8"])["manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = sandbox.store().join("blobs/sha256").join(&layer[7..]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let out = sandbox.hoist().args(["verify", "--json", "--progress", "none"]).output().unwrap();
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["corrupt"].as_array().unwrap().len(), 1);
    assert_eq!(report["corrupt"][0]["digest"], layer.as_str());
}

#[test]
fn login_json_names_the_registry_and_user_but_never_the_password() {
    let password = "s3cret-Pa55";
    let registry = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Basic { user: "alice".into(), password: password.into() },
        tls: false,
    });
    let sandbox = Sandbox::new();
    let docker_config = sandbox.path("docker");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("hoist"))
        .arg("--store")
        .arg(sandbox.store())
        .env("DOCKER_CONFIG", &docker_config)
        .args(["login", "--json", &registry.host(), "-u", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains(password), "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let config = docker_config.join("config.json");
    assert_eq!(
        json,
        serde_json::json!({"registry": registry.host(), "username": "alice", "config": config.display().to_string()})
    );
}
