//! `pull --include/--exclude`: partial models, what works with them, and the
//! full pull that completes them, against a real registry.

mod common;

use std::path::{Path, PathBuf};

use common::{Sandbox, tree_snapshot};
use hoist_testkit::RegistryServer;

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn stderr_of_failure(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

/// A Hugging Face style model (weights, config, tokenizer, README) pushed to a
/// fresh registry; returns the registry and the remote reference.
fn pushed_model(sandbox: &Sandbox) -> (RegistryServer, String) {
    let registry = RegistryServer::anonymous();
    let dir = sandbox.hf_model("hf", r#"{"architectures":["BertModel"],"model_type":"bert"}"#);
    sandbox.write("hf/README.md", "# tiny\n");
    sandbox.hoist().args(["pack", "--progress", "none", "-t", "bert:1"]).arg(&dir).assert().success();
    let remote = format!("{}/team/bert:1", registry.host());
    sandbox.hoist().args(["push", "--progress", "none", "bert:1", &remote]).assert().success();
    (registry, remote)
}

fn bundle_files(sandbox: &Sandbox, reference: &str) -> Vec<String> {
    let out = sandbox.json(&["unpack", "--json", reference]);
    let model_dir = PathBuf::from(out["model_dir"].as_str().unwrap());
    let mut files: Vec<String> = walkdir::WalkDir::new(&model_dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(&model_dir).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

fn has_blob(store: &Path, digest: &str) -> bool {
    let digest: hoist_oci::Digest = digest.parse().unwrap();
    store.join("blobs/sha256").join(digest.hex()).exists()
}

#[test]
fn an_included_subset_is_a_partial_model_that_a_full_pull_completes() {
    let sandbox = Sandbox::new();
    let (_registry, remote) = pushed_model(&sandbox);
    let layers = sandbox.json(&["inspect", "--json", "bert:1"])["manifest"]["layers"].clone();
    let weights = layers
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["annotations"]["org.cncf.model.filepath"] == "model.safetensors")
        .unwrap();
    let weights_digest = weights["digest"].as_str().unwrap().to_string();

    let other = Sandbox::new();
    let out = stdout_of(other.hoist().args(["pull", "--progress", "none", "--include", "*.json", &remote]));
    assert!(out.contains("Partial: 2 layers not pulled (--include '*.json')"), "{out}");
    assert!(!has_blob(&other.store(), &weights_digest));
    assert_eq!(bundle_files(&other, &remote), ["config.json", "tokenizer.json"]);
    // Not pulled is not damage.
    let verified = stdout_of(other.hoist().args(["verify", "--progress", "none"]));
    assert!(verified.contains("2 layers of partial models not pulled"), "{verified}");
    // A partial model cannot be pushed: the registry would get a manifest without its blobs.
    let push =
        stderr_of_failure(other.hoist().args(["push", "--progress", "none", &remote, &format!("{remote}-copy")]));
    assert!(push.contains("lacks 2 blobs") && push.contains("--include '*.json'"), "{push}");

    let out = stdout_of(other.hoist().args(["pull", "--progress", "none", &remote]));
    assert!(out.contains("2 blobs copied") && out.contains("already there"), "{out}");
    assert!(!out.contains("Partial"), "{out}");
    assert!(has_blob(&other.store(), &weights_digest));
    let verified = stdout_of(other.hoist().args(["verify", "--progress", "none"]));
    assert!(!verified.contains("not pulled"), "{verified}");
    // The bundle built from the subset is rebuilt now that the rest is there.
    assert_eq!(bundle_files(&other, &remote), ["README.md", "config.json", "model.safetensors", "tokenizer.json"]);
    other.hoist().args(["push", "--progress", "none", &remote, &format!("{remote}-copy")]).assert().success();
}

#[test]
fn excluded_layers_are_left_out_and_a_selection_matching_nothing_changes_nothing() {
    let sandbox = Sandbox::new();
    let (_registry, remote) = pushed_model(&sandbox);

    let other = Sandbox::new();
    let out = stdout_of(other.hoist().args([
        "pull",
        "--progress",
        "none",
        "--exclude",
        "*.md",
        "--exclude",
        "model.safetensors",
        &remote,
    ]));
    assert!(out.contains("Partial: 2 layers not pulled"), "{out}");
    assert_eq!(bundle_files(&other, &remote), ["config.json", "tokenizer.json"]);

    let before = tree_snapshot(&other.store());
    let error = stderr_of_failure(other.hoist().args(["pull", "--progress", "none", "--include", "*.gguf", &remote]));
    assert!(error.contains("--include '*.gguf' selects none of the layers"), "{error}");
    assert!(error.contains("model.safetensors") && error.contains("README.md"), "{error}");
    assert_eq!(tree_snapshot(&other.store()), before);

    // Everything selected: a complete model, not a partial one.
    let third = Sandbox::new();
    let out = stdout_of(third.hoist().args(["pull", "--progress", "none", "--include", "*", &remote]));
    assert!(!out.contains("Partial"), "{out}");
    let verified = stdout_of(third.hoist().args(["verify", "--progress", "none"]));
    assert!(!verified.contains("not pulled"), "{verified}");
}
