//! list, inspect, tag, rm, prune and verify on a real store, read back by skopeo too.

mod common;

use std::process::Command;

use common::{Sandbox, filters, require_tool};

#[test]
fn list_shows_every_name_with_its_facts() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("tiny:q8");
    sandbox.hoist().args(["tag", "tiny:q8", "registry.example.com/team/tiny:latest"]).assert().success();
    let out = sandbox.hoist().arg("list").output().unwrap();
    assert!(out.status.success());
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
    });
    let json = sandbox.json(&["list", "--json"]);
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], rows[1]["id"]);
    assert_eq!(rows[1]["name"], "tiny");
    assert_eq!(rows[1]["tag"], "q8");
    assert_eq!(rows[0]["name"], "registry.example.com/team/tiny");
    let quiet = sandbox.hoist().args(["list", "-q"]).output().unwrap();
    assert_eq!(String::from_utf8(quiet.stdout).unwrap().lines().count(), 1, "one ID for one model");
}

#[test]
fn inspect_finds_models_by_name_digest_and_id_prefix() {
    let sandbox = Sandbox::new();
    let digest = sandbox.pack_tiny("tiny:q8");
    let id = &digest["sha256:".len().."sha256:".len() + 8];
    for query in ["tiny:q8", &format!("tiny@{digest}"), &digest, id] {
        let out = sandbox.hoist().args(["inspect", "--raw", query]).output().unwrap();
        assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
        let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
    }
    let out = sandbox.hoist().args(["inspect", "tiny:q8"]).output().unwrap();
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
    });
}

#[test]
fn skopeo_reads_what_hoist_wrote() {
    require_tool("skopeo", "apt-get install -y skopeo");
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("tiny:q8");
    sandbox.hoist().args(["tag", "tiny:q8", "localhost:5000/team/tiny:v1"]).assert().success();
    let ours = sandbox.hoist().args(["inspect", "--raw", "tiny:q8"]).output().unwrap().stdout;
    for reference in ["tiny:q8", "localhost:5000/team/tiny:v1"] {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:{reference}", sandbox.store().display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, ours, "skopeo sees the same manifest bytes for {reference}");
    }
    // skopeo can also copy the whole artifact out of the store: every blob is readable.
    let copy = sandbox.path("copy");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:tiny:q8", sandbox.store().display()))
        .arg(format!("oci:{}:tiny", copy.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rm_untags_and_removes_blobs_only_when_unreferenced() {
    let sandbox = Sandbox::new();
    let digest = sandbox.pack_tiny("tiny:q8");
    sandbox.hoist().args(["tag", "tiny:q8", "other:1"]).assert().success();
    let blobs = || std::fs::read_dir(sandbox.store().join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs(), 3, "manifest, config and one layer");

    // An ID with two names needs -f.
    let id = &digest[7..19];
    let out = sandbox.hoist().args(["rm", id]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("-f"));

    sandbox.hoist().args(["rm", "tiny:q8"]).assert().success();
    assert_eq!(blobs(), 3, "other:1 still references every blob");
    sandbox.hoist().args(["rm", "other:1"]).assert().success().stdout(predicates::str::contains("Deleted 3 blobs"));
    assert_eq!(blobs(), 0);

    let digest = sandbox.pack_tiny("a:1");
    sandbox.hoist().args(["tag", "a:1", "b:1"]).assert().success();
    sandbox.hoist().args(["rm", "-f", &digest[7..19]]).assert().success();
    assert_eq!(sandbox.json(&["list", "--json"]).as_array().unwrap().len(), 0);
}

#[test]
fn prune_removes_unreferenced_blobs_and_partial_files() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("keep:1");
    let before = common::tree_snapshot(&sandbox.store());
    sandbox.write("store/ingest/leftover-partial", "half a blob");
    let stray = "0000000000000000000000000000000000000000000000000000000000000000";
    sandbox.write(&format!("store/blobs/sha256/{stray}"), "nobody references me");
    sandbox.hoist().arg("prune").assert().success().stdout(predicates::str::contains("Removed 1 blobs"));
    assert_eq!(common::tree_snapshot(&sandbox.store()), before);
}

#[test]
fn verify_reports_a_corrupt_blob_and_fails() {
    let sandbox = Sandbox::new();
    let digest = sandbox.pack_tiny("tiny:q8");
    sandbox.hoist().args(["verify", "--progress", "none"]).assert().success();
    let json = sandbox.json(&["inspect", "--json", "tiny:q8"]);
    let layer = json["manifest"]["layers"][0]["digest"].as_str().unwrap().to_string();
    let path = sandbox.store().join("blobs/sha256").join(&layer[7..]);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let out = sandbox.hoist().args(["verify", "--progress", "none"]).output().unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&layer), "{stdout}");
    assert!(!stdout.contains(&digest[7..]), "the manifest itself is fine: {stdout}");
}

#[test]
fn concurrent_packs_tags_and_removals_lose_nothing() {
    let sandbox = Sandbox::new();
    let models: Vec<_> = (0..4).map(|i| sandbox.tiny_gguf(&format!("m{i}.gguf"))).collect();
    sandbox.pack_tiny("victim:1");
    let children: Vec<_> = models
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("hoist"));
            cmd.arg("--store").arg(sandbox.store()).args(["pack", "-q", "--progress", "none", "-t"]);
            cmd.arg(format!("m:{i}")).arg(model).spawn().unwrap()
        })
        .collect();
    let rm = sandbox.hoist().args(["rm", "victim:1"]).output().unwrap();
    assert!(rm.status.success(), "{}", String::from_utf8_lossy(&rm.stderr));
    let prune = sandbox.hoist().arg("prune").output().unwrap();
    assert!(prune.status.success());
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let names: Vec<String> = sandbox
        .json(&["list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["m:0", "m:1", "m:2", "m:3"]);
    sandbox.hoist().args(["verify", "--progress", "none"]).assert().success();
    for name in &names {
        sandbox.hoist().args(["inspect", name]).assert().success();
    }
}
