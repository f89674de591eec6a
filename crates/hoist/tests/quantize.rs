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
    fails_cleanly(&sandbox, &["quantize", &input, out.to_str().unwrap(), "Q2_K_S"], "requires an importance matrix");
    fails_cleanly(&sandbox, &["quantize", &input, out.to_str().unwrap(), "IQ2_XXS"], "IQ2_XXS");
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
