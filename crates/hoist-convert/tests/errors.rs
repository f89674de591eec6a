//! Bad inputs: one-line errors naming what and where, and nothing left in the output
//! directory (no file, no temporary).

mod common;

use std::path::Path;

use common::*;
use hoist_convert::{ConvertError, NoReport, Options, OutType, convert, convert_lora};
use serde_json::json;

const SHAPE: Shape = Shape { layers: 1, hidden: 16, heads: 2, kv_heads: 1, ff: 32, vocab: 400 };

/// A valid tiny llama (SentencePiece vocabulary) in `dir`.
fn write_llama(dir: &Path, tensors: &[T]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(spm_model(), dir.join("tokenizer.model")).unwrap();
    write_json(
        &dir.join("config.json"),
        &json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 16, "intermediate_size": 32,
                "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 400}),
    );
    write_safetensors(&dir.join("model.safetensors"), tensors);
}

/// Converts and returns the error's message, checking that the output directory is empty.
fn fails(dir: &Path) -> (ConvertError, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.gguf");
    let err = convert(dir, &out, &Options { out_type: OutType::F16, threads: 1 }, &NoReport).unwrap_err();
    let left: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
    assert_eq!(left.len(), 0, "output directory not empty after: {err}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    (err, msg)
}

#[test]
fn a_valid_model_converts() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ok");
    write_llama(&dir, &llama_tensors(&SHAPE, DType::F32, false));
    let out = root.path().join("ok.gguf");
    let s = convert(&dir, &out, &Options { out_type: OutType::F16, threads: 1 }, &NoReport).unwrap();
    assert_eq!((s.tensors, s.file_type.as_str()), (12, "F16"));
    assert_eq!(s.bytes, std::fs::metadata(&out).unwrap().len());
}

#[test]
fn not_a_directory_and_no_config() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let (e, msg) = fails(&file);
    assert!(matches!(e, ConvertError::NotADirectory { .. }), "{msg}");
    assert!(msg.contains(&*file.to_string_lossy()), "{msg}");
    let (e, msg) = fails(root.path());
    assert!(matches!(e, ConvertError::NoConfig { .. }), "{msg}");
    assert!(msg.contains("no config.json"), "{msg}");
}

#[test]
fn unknown_architecture_is_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    write_llama(&dir, &llama_tensors(&SHAPE, DType::F32, false));
    write_json(&dir.join("config.json"), &json!({"architectures": ["GPT2LMHeadModel"], "n_layer": 1}));
    let (e, msg) = fails(&dir);
    assert!(matches!(e, ConvertError::UnsupportedArchitecture { .. }), "{msg}");
    assert!(msg.contains("\"GPT2LMHeadModel\"") && msg.contains("config.json"), "{msg}");
}

#[test]
fn unknown_tensor_is_named_with_its_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    let mut tensors = llama_tensors(&SHAPE, DType::F32, false);
    tensors.push(T { name: "model.layers.0.mystery.weight".into(), shape: vec![4, 4], dtype: DType::F32, seed: 99 });
    write_llama(&dir, &tensors);
    let (e, msg) = fails(&dir);
    assert!(matches!(e, ConvertError::UnknownTensor { .. }), "{msg}");
    assert!(msg.contains("model.layers.0.mystery.weight") && msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn unsupported_dtype_is_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    write_llama(&dir, &llama_tensors(&SHAPE, DType::F32, false));
    // Rewrite the header: lm_head stored as I32 (same byte size as F32).
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    let at = header.find("\"lm_head.weight\"").unwrap();
    let dtype = at + header[at..].find("\"F32\"").unwrap();
    let patched = format!("{}\"I32\"{}", &header[..dtype], &header[dtype + 5..]);
    let mut out = bytes[..8].to_vec();
    out.extend(patched.as_bytes());
    out.extend(&bytes[8 + n..]);
    std::fs::write(&path, out).unwrap();
    let (e, msg) = fails(&dir);
    assert!(matches!(e, ConvertError::UnsupportedDtype { .. }), "{msg}");
    assert!(msg.contains("lm_head.weight") && msg.contains("I32"), "{msg}");
}

#[test]
fn truncated_safetensors_is_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    write_llama(&dir, &llama_tensors(&SHAPE, DType::F32, false));
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let (e, msg) = fails(&dir);
    assert!(matches!(e, ConvertError::Safetensors { .. }), "{msg}");
    assert!(msg.contains("truncated") && msg.contains("model.safetensors"), "{msg}");
    // A file shorter than the 8-byte length prefix.
    std::fs::write(&path, [1, 2, 3]).unwrap();
    let (_, msg) = fails(&dir);
    assert!(msg.contains("not a safetensors file"), "{msg}");
}

#[test]
fn missing_tokenizer_is_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    write_llama(&dir, &llama_tensors(&SHAPE, DType::F32, false));
    std::fs::remove_file(dir.join("tokenizer.model")).unwrap();
    let (e, msg) = fails(&dir);
    assert!(matches!(e, ConvertError::Tokenizer { .. }), "{msg}");
    assert!(msg.contains("no tokenizer.json and no tokenizer.model"), "{msg}");
}

#[test]
fn index_naming_a_path_outside_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    write_llama(&dir, &llama_tensors(&SHAPE, DType::F32, false));
    write_json(
        &dir.join("model.safetensors.index.json"),
        &json!({"weight_map": {"lm_head.weight": "../model.safetensors"}}),
    );
    let (e, msg) = fails(&dir);
    assert!(matches!(e, ConvertError::Safetensors { .. }), "{msg}");
    assert!(msg.contains("is not a file name") && msg.contains("index.json"), "{msg}");
}

#[test]
fn no_weights_is_named() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    write_llama(&dir, &llama_tensors(&SHAPE, DType::F32, false));
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let (e, msg) = fails(&dir);
    assert!(matches!(e, ConvertError::NoWeights { .. }), "{msg}");
}

/// Every truncation of a valid safetensors file is refused (never a panic, never a
/// checkpoint reading past the file); only the whole file opens.
#[test]
fn every_truncation_of_a_safetensors_file_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    let shape = Shape { layers: 1, hidden: 4, heads: 2, kv_heads: 1, ff: 8, vocab: 8 };
    write_llama(&dir, &llama_tensors(&shape, DType::BF16, false));
    let path = dir.join("model.safetensors");
    let whole = std::fs::read(&path).unwrap();
    let mut refused = 0;
    for len in 0..whole.len() {
        std::fs::write(&path, &whole[..len]).unwrap();
        match hoist_convert::safetensors::Checkpoint::open(&dir) {
            Err(ConvertError::Safetensors { .. }) => refused += 1,
            other => panic!("{len} of {} bytes: {:?}", whole.len(), other.map(|c| c.tensors().len())),
        }
    }
    assert_eq!(refused, whole.len());
    std::fs::write(&path, &whole).unwrap();
    assert_eq!(hoist_convert::safetensors::Checkpoint::open(&dir).unwrap().tensors().len(), 13);
}

/// Converts the adapter in `adapter` against `base` and returns the one-line error,
/// checking that nothing was left in the output directory.
fn lora_fails(adapter: &Path, base: &Path) -> String {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.gguf");
    let opts = Options { out_type: OutType::F16, threads: 1 };
    let err = convert_lora(adapter, base, &out, &opts, &NoReport).unwrap_err().to_string();
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0, "output directory not empty after: {err}");
    assert!(!err.contains('\n'), "one line: {err}");
    err
}

#[test]
fn bad_lora_adapters_are_refused_naming_the_tensor_or_key() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    write_llama(&base, &llama_tensors(&SHAPE, DType::F32, false));
    let adapter = root.path().join("adapter");
    std::fs::create_dir_all(&adapter).unwrap();
    let q = "base_model.model.model.layers.0.self_attn.q_proj";
    let a = |name: &str, shape: Vec<usize>| T { name: name.to_string(), shape, dtype: DType::F32, seed: 1 };
    let config = json!({"peft_type": "LORA", "r": 2, "lora_alpha": 4});
    write_json(&adapter.join("adapter_config.json"), &config);

    // lora_A without its lora_B.
    write_safetensors(&adapter.join("adapter_model.safetensors"), &[a(&format!("{q}.lora_A.weight"), vec![2, 16])]);
    let err = lora_fails(&adapter, &base);
    assert!(err.contains("lora_A.weight") && err.contains("no lora_B"), "{err}");

    // Ranks that disagree.
    write_safetensors(
        &adapter.join("adapter_model.safetensors"),
        &[a(&format!("{q}.lora_A.weight"), vec![2, 16]), a(&format!("{q}.lora_B.weight"), vec![16, 3])],
    );
    let err = lora_fails(&adapter, &base);
    assert!(err.contains("q_proj.weight") && err.contains("rank"), "{err}");

    // Embeddings (new tokens) are not an adapter PEFT writes as lora_A/lora_B.
    write_safetensors(
        &adapter.join("adapter_model.safetensors"),
        &[a("base_model.model.lm_head.weight", vec![400, 16])],
    );
    let err = lora_fails(&adapter, &base);
    assert!(err.contains("lm_head.weight") && err.contains("neither a lora_A nor a lora_B"), "{err}");

    // No lora_alpha.
    write_json(&adapter.join("adapter_config.json"), &json!({"peft_type": "LORA", "r": 2}));
    let err = lora_fails(&adapter, &base);
    assert!(err.contains("adapter_config.json") && err.contains("lora_alpha"), "{err}");
}
