//! The SentencePiece `tokenizer.model` reader, through a whole conversion: a tiny llama
//! (config.json, F32 safetensors) with the input as its tokenizer.model. No input may
//! panic; an accepted one writes a GGUF whose vocabulary arrays agree in length.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hoist_convert::{NoReport, Options, OutType, convert};
use hoist_gguf::{Array, Value, read_header_from_path};
use libfuzzer_sys::fuzz_target;

/// A safetensors file of F32 tensors filled with small values.
fn safetensors(tensors: &[(String, Vec<usize>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let start = data.len();
        for k in 0..shape.iter().product::<usize>() {
            data.extend(((k % 7) as f32 / 8.0).to_le_bytes());
        }
        let sep = if i == 0 { "" } else { "," };
        header += &format!(r#"{sep}"{name}":{{"dtype":"F32","shape":{shape:?},"data_offsets":[{start},{}]}}"#, data.len());
    }
    header.push('}');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.bytes());
    out.extend(data);
    out
}

/// tmpfs when there is one: every conversion ends with an fsync, which would otherwise
/// make the disk the bottleneck of the run.
fn scratch_root() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() { shm } else { std::env::temp_dir() }
}

fn model_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_root().join(format!("hoist-convert-fuzz-spm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (h, ff, vocab) = (8, 16, 16);
        let mut tensors = vec![
            ("model.embed_tokens.weight".to_string(), vec![vocab, h]),
            ("model.norm.weight".to_string(), vec![h]),
        ];
        for (name, shape) in [
            ("input_layernorm", vec![h]),
            ("self_attn.q_proj", vec![h, h]),
            ("self_attn.k_proj", vec![h, h]),
            ("self_attn.v_proj", vec![h, h]),
            ("self_attn.o_proj", vec![h, h]),
            ("post_attention_layernorm", vec![h]),
            ("mlp.gate_proj", vec![ff, h]),
            ("mlp.up_proj", vec![ff, h]),
            ("mlp.down_proj", vec![h, ff]),
        ] {
            tensors.push((format!("model.layers.0.{name}.weight"), shape));
        }
        std::fs::write(dir.join("model.safetensors"), safetensors(&tensors)).unwrap();
        let config = format!(
            r#"{{"architectures": ["LlamaForCausalLM"], "hidden_size": {h}, "intermediate_size": {ff},
                "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": {vocab}}}"#
        );
        std::fs::write(dir.join("config.json"), config).unwrap();
        dir
    })
}

fn array_len(v: Option<&Value>) -> Option<usize> {
    match v? {
        Value::Array(Array::String(a)) => Some(a.len()),
        Value::Array(Array::F32(a)) => Some(a.len()),
        Value::Array(Array::I32(a)) => Some(a.len()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = model_dir();
    std::fs::write(dir.join("tokenizer.model"), data).unwrap();
    let out = dir.join("out.gguf");
    let opts = Options { out_type: OutType::F16, threads: 1 };
    if convert(dir, &out, &opts, &NoReport).is_err() {
        assert!(!out.exists() || std::fs::remove_file(&out).is_ok());
        return;
    }
    let header = read_header_from_path(&out).unwrap();
    let tokens = array_len(header.get("tokenizer.ggml.tokens")).unwrap();
    assert_eq!(array_len(header.get("tokenizer.ggml.scores")), Some(tokens));
    assert_eq!(array_len(header.get("tokenizer.ggml.token_type")), Some(tokens));
    std::fs::remove_file(&out).unwrap();
});
