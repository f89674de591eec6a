//! `inspect --gguf` and `estimate` on files, stored models and remote models.

mod common;

use common::Sandbox;
use hoist_gguf::synth::TinyModel;
use hoist_testkit::RegistryServer;

fn stdout_of(cmd: &mut assert_cmd::Command) -> (String, String) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn estimate_reads_a_file_and_a_stored_model_alike() {
    let sandbox = Sandbox::new();
    let file = sandbox.tiny_gguf("m.gguf");
    sandbox.hoist().args(["pack", "-q", "--progress", "none", "-t", "m:1"]).arg(&file).assert().success();
    let (from_file, _) = stdout_of(sandbox.hoist().args(["estimate", "--json"]).arg(&file));
    let (from_store, _) = stdout_of(sandbox.hoist().args(["estimate", "--json", "m:1"]));
    assert_eq!(from_file, from_store);
    let json: serde_json::Value = serde_json::from_str(&from_file).unwrap();
    assert_eq!(json["architecture"], "llama");
    assert_eq!(json["context_size"], 2048);
    // One layer, 2 KV heads of 64: K = V = 2048 cells * 128 * 2 bytes (f16).
    assert_eq!(json["kv_cache"]["k_bytes"], 2048 * 128 * 2);
    assert_eq!(json["kv_cache"]["v_bytes"], 2048 * 128 * 2);

    let (q8, _) =
        stdout_of(sandbox.hoist().args(["estimate", "--json", "m:1", "-c", "4096", "--cache-type-k", "q8_0"]));
    let q8: serde_json::Value = serde_json::from_str(&q8).unwrap();
    // q8_0 rows: 34 bytes per 32 values.
    assert_eq!(q8["kv_cache"]["k_bytes"], 4096 * 128 / 32 * 34);
    let (table, _) = stdout_of(sandbox.hoist().args(["estimate", "m:1"]));
    for column in
        ["ARCH", "CONTEXT SIZE", "BATCH SIZE (L / P)", "FLASH ATTENTION", "OFFLOAD LAYERS", "RAM UMA", "VRAM 0 NONUMA"]
    {
        assert!(table.contains(column), "{column} missing from:\n{table}");
    }
    // Flash attention: auto (llama.cpp's default, on for every backend) unless told.
    let flash = |extra: &[&str]| {
        let (out, _) = stdout_of(sandbox.hoist().args(["estimate", "--json", "m:1"]).args(extra));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["flash_attention"].clone()
    };
    assert_eq!(json["flash_attention"], true);
    assert_eq!(flash(&["--flash-attn", "off"]), false);
    assert_eq!(flash(&["--flash-attn"]), true);
    assert_eq!(flash(&["--flash-attn", "auto"]), true);
    let bad = sandbox.hoist().args(["estimate", "m:1", "--cache-type-k", "q9_9"]).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown cache type"));
}

#[test]
fn inspect_gguf_shows_metadata_tensors_and_tokenizer() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("m:1");
    let (text, _) = stdout_of(sandbox.hoist().args(["inspect", "--gguf", "m:1"]));
    for expected in
        ["architecture:  llama", "TOKENIZER", "tokenizer.ggml.tokens", "strings:", "TYPES", "TENSORS", "Q8_0"]
    {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}

#[test]
fn remote_estimate_reads_only_the_header_bytes() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let model = sandbox.path("big.gguf");
    TinyModel { target_size: 120 << 20, ..TinyModel::default() }.write_to_path(&model).unwrap();
    sandbox.hoist().args(["pack", "-q", "--progress", "none", "-t", "big:1"]).arg(&model).assert().success();
    let remote = format!("{}/team/big:1", registry.host());
    sandbox.hoist().args(["push", "--progress", "none", "big:1", &remote]).assert().success();

    let fresh = Sandbox::new();
    let (json, cost) = stdout_of(fresh.hoist().args(["estimate", "--json", &remote]));
    let (local, _) = stdout_of(sandbox.hoist().args(["estimate", "--json", "big:1"]));
    assert_eq!(json, local, "the remote header gives the same estimate");
    let read: f64 = cost
        .split("read ")
        .nth(1)
        .and_then(|s| s.split(" of").next())
        .map_or(f64::MAX, |s| s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse().unwrap_or(f64::MAX));
    assert!(cost.contains("kB") && read < 1000.0, "more than a few hundred kB read: {cost}");
    let percent: f64 = cost.split('(').nth(1).and_then(|s| s.split('%').next()).unwrap().parse().unwrap();
    assert!(percent < 1.0, "{cost}");
    assert!(!fresh.store().exists(), "nothing is stored");

    let (text, _) = stdout_of(fresh.hoist().args(["inspect", "--remote", "--gguf", &remote]));
    assert!(text.contains("TENSORS") && text.contains("read "), "{text}");
}
