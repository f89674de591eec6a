//! `hoist quantize`: the file form end to end, and its refusals: a one-line error, a
//! non-zero exit and no output file left behind.

mod common;

use common::Sandbox;
use hoist_gguf::read_header_from_path;
use hoist_quant::synth::SynthModel;

/// A synthetic F32 model and its Q8_0 form (made by hoist itself).
fn sandbox_with_models() -> (Sandbox, String, String) {
    let sandbox = Sandbox::new();
    let f32_model = sandbox.path("in.gguf");
    SynthModel::odd().write(&f32_model).unwrap();
    let q8 = sandbox.path("q8.gguf");
    let out =
        sandbox.hoist().args(["quantize", "--progress", "none"]).arg(&f32_model).arg(&q8).arg("q8_0").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (sandbox, f32_model.display().to_string(), q8.display().to_string())
}

fn fails_cleanly(sandbox: &Sandbox, args: &[&str], expect_in_error: &str) {
    let stderr = sandbox.fails_with_one_error(args, expect_in_error);
    assert_eq!(stderr.lines().count(), 1, "{args:?}: nothing but the error: {stderr:?}");
    assert!(!sandbox.path("out.gguf").exists(), "{args:?} left an output file");
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.path(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hoist-quant-"))
        .collect();
    assert!(leftovers.is_empty(), "{args:?} left temporary files");
}

#[test]
fn quantizes_a_file_and_reports_json() {
    let (sandbox, input, _) = sandbox_with_models();
    let out_path = sandbox.path("out.gguf");
    let out = sandbox
        .hoist()
        .args(["quantize", "--json", "--progress", "none", &input, out_path.to_str().unwrap(), "Q4_K_M"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["type"], "Q4_K_M");
    assert_eq!(json["tensors"], 20);
    // Rows of 144 values fit no 32-value block (F16: the embeddings and 6 matrices in
    // each of 2 layers); rows of 320 fall back from Q4_K to Q5_0 (and Q6_K to Q8_0).
    assert_eq!(json["types"]["F16"], 13);
    assert_eq!(json["fallbacks"], 15);
    assert_eq!(json["output_bytes"], out_path.metadata().unwrap().len());
    let header = read_header_from_path(&out_path).unwrap();
    assert_eq!(header.summary().unwrap().file_type.as_deref(), Some("Q4_K_M"));
}

#[test]
fn an_unknown_type() {
    let (sandbox, input, _) = sandbox_with_models();
    fails_cleanly(&sandbox, &["quantize", &input, sandbox.path("out.gguf").to_str().unwrap(), "Q9_Z"], "Q9_Z");
}

#[test]
fn a_type_that_needs_an_importance_matrix() {
    let sandbox = Sandbox::new();
    // Rows of 256 values, so Q2_K_S keeps Q2_K (which needs the matrix) in the layers.
    let model = SynthModel { n_embd: 256, n_ff: 256, n_head: 2, n_head_kv: 2, n_layer: 1, ..SynthModel::odd() };
    model.write(&sandbox.path("in.gguf")).unwrap();
    let input = sandbox.path("in.gguf").display().to_string();
    let out = sandbox.path("out.gguf");
    fails_cleanly(&sandbox, &["quantize", &input, out.to_str().unwrap(), "Q2_K_S"], "needs an importance matrix");
    fails_cleanly(
        &sandbox,
        &["quantize", &input, out.to_str().unwrap(), "iq2_xxs"],
        "IQ2_XXS needs an importance matrix",
    );
}

#[test]
fn requantizing_needs_the_flag() {
    let (sandbox, _, q8) = sandbox_with_models();
    let out = sandbox.path("out.gguf");
    fails_cleanly(&sandbox, &["quantize", &q8, out.to_str().unwrap(), "Q4_K_M"], "--allow-requantize");
    let ok = sandbox
        .hoist()
        .args(["quantize", "--allow-requantize", "--progress", "none", &q8, out.to_str().unwrap(), "Q4_K_M"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}

#[test]
fn a_truncated_input() {
    let (sandbox, input, _) = sandbox_with_models();
    let bytes = std::fs::read(&input).unwrap();
    let cut = sandbox.write("cut.gguf", &bytes[..bytes.len() - 1000]);
    let out = sandbox.path("out.gguf");
    fails_cleanly(&sandbox, &["quantize", cut.to_str().unwrap(), out.to_str().unwrap(), "Q8_0"], "cut.gguf");
}

/// The small synthetic model whole (`whole.gguf`) and split in three
/// (`split-0000i-of-00003.gguf`).
fn sandbox_with_split_model() -> (Sandbox, String, String) {
    let sandbox = Sandbox::new();
    let model = SynthModel::small();
    model.write(&sandbox.path("whole.gguf")).unwrap();
    let shards = model.write_split(&sandbox.path(""), "split", 3).unwrap();
    let whole = sandbox.path("whole.gguf").display().to_string();
    (sandbox, whole, shards[0].display().to_string())
}

fn quantize_json(sandbox: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["quantize", "--json", "--progress", "none"];
    all.extend_from_slice(args);
    sandbox.json(&all)
}

#[test]
fn a_split_input_is_read_as_one_model() {
    let (sandbox, whole, first_shard) = sandbox_with_split_model();
    let (from_whole, from_split) = (sandbox.path("from-whole.gguf"), sandbox.path("from-split.gguf"));
    quantize_json(&sandbox, &[&whole, from_whole.to_str().unwrap(), "Q4_K_M"]);
    let json = quantize_json(&sandbox, &[&first_shard, from_split.to_str().unwrap(), "Q4_K_M"]);
    assert_eq!(json["tensors"], 75);
    assert_eq!(json["outputs"], serde_json::json!([from_split]));
    assert_eq!(std::fs::read(&from_split).unwrap(), std::fs::read(&from_whole).unwrap());
    let header = read_header_from_path(&from_split).unwrap();
    assert!(header.get("split.count").is_none(), "one output file carries no split keys");
}

#[test]
fn keep_split_writes_a_shard_per_input_shard() {
    let (sandbox, _, first_shard) = sandbox_with_split_model();
    let json =
        quantize_json(&sandbox, &["--keep-split", &first_shard, sandbox.path("out.gguf").to_str().unwrap(), "Q8_0"]);
    let shards: Vec<_> = (1..=3).map(|i| sandbox.path(&format!("out-{i:05}-of-00003.gguf"))).collect();
    assert_eq!(json["outputs"], serde_json::json!(shards));
    assert!(!sandbox.path("out.gguf").exists());
    let sizes: u64 = shards.iter().map(|s| s.metadata().unwrap().len()).sum();
    assert_eq!(json["output_bytes"], sizes);
    let mut tensors = 0;
    for (i, shard) in shards.iter().enumerate() {
        let h = read_header_from_path(shard).unwrap();
        assert_eq!(h.get("split.no").and_then(|v| v.as_u64()), Some(i as u64), "{}", shard.display());
        assert_eq!(h.get("split.count").and_then(|v| v.as_u64()), Some(3));
        assert_eq!(h.get("split.tensors.count").and_then(|v| v.as_u64()), Some(75));
        // The model's metadata stays in the first shard, as llama-quantize leaves it.
        assert_eq!(h.get("general.file_type").is_some(), i == 0);
        tensors += h.tensors.len();
    }
    assert_eq!(tensors, 75);
}

#[test]
fn keep_split_with_a_truncated_shard_leaves_nothing() {
    let (sandbox, _, first_shard) = sandbox_with_split_model();
    let last = sandbox.path("split-00003-of-00003.gguf");
    let bytes = std::fs::read(&last).unwrap();
    std::fs::write(&last, &bytes[..bytes.len() - 1000]).unwrap();
    let out = sandbox.path("out.gguf");
    fails_cleanly(
        &sandbox,
        &["quantize", "--keep-split", &first_shard, out.to_str().unwrap(), "Q8_0"],
        "split-00003-of-00003.gguf",
    );
    let shards: Vec<_> = std::fs::read_dir(sandbox.path(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("out-"))
        .collect();
    assert!(shards.is_empty(), "no shard of the output is left behind");
}
