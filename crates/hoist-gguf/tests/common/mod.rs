//! Shared test helpers.
#![allow(dead_code)] // each test binary uses a different subset

use hoist_gguf::{Array, ByteOrder, GgmlType, GgufWriter, Value, ValueType};

pub fn arr(element_type: ValueType, values: Vec<Value>) -> Value {
    Value::Array(Array::from_values(element_type, values).unwrap())
}

/// Metadata with every value type, including arrays of strings, of ints, nested and empty arrays.
pub fn all_values() -> Vec<(String, Value)> {
    let s = |x: &str| Value::String(x.to_string());
    vec![
        ("general.architecture".into(), s("llama")),
        ("t.u8".into(), Value::U8(200)),
        ("t.i8".into(), Value::I8(-5)),
        ("t.u16".into(), Value::U16(60000)),
        ("t.i16".into(), Value::I16(-30000)),
        ("t.u32".into(), Value::U32(4_000_000_000)),
        ("t.i32".into(), Value::I32(-2_000_000_000)),
        ("t.f32".into(), Value::F32(1.5)),
        ("t.bool".into(), Value::Bool(true)),
        ("t.string".into(), s("héllo ▁wörld")),
        ("t.u64".into(), Value::U64(u64::MAX - 7)),
        ("t.i64".into(), Value::I64(i64::MIN + 3)),
        ("t.f64".into(), Value::F64(-3.25e100)),
        ("t.strings".into(), arr(ValueType::String, vec![s("a"), s(""), s("<0x0A>")])),
        ("t.ints".into(), arr(ValueType::I32, vec![Value::I32(1), Value::I32(-2), Value::I32(3)])),
        ("t.empty".into(), arr(ValueType::U64, vec![])),
        (
            "t.nested".into(),
            arr(
                ValueType::Array,
                vec![arr(ValueType::U8, vec![Value::U8(1), Value::U8(2)]), arr(ValueType::String, vec![s("x")])],
            ),
        ),
    ]
}

/// A small file with every value type and a few tensors.
pub fn sample_writer(version: u32, order: ByteOrder) -> GgufWriter {
    let mut w = GgufWriter::new().with_version(version).with_byte_order(order);
    for (k, v) in all_values() {
        w.add_metadata(k, v);
    }
    w.add_tensor("token_embd.weight", &[64, 3], GgmlType::Q8_0).unwrap();
    w.add_tensor("norm.weight", &[5], GgmlType::F32).unwrap();
    w.add_tensor("blk.0.w", &[256, 2, 1, 1], GgmlType::Q4_K).unwrap();
    w.add_tensor("half", &[3, 3], GgmlType::F16).unwrap();
    w
}

pub fn sample_file(version: u32, order: ByteOrder) -> Vec<u8> {
    let mut out = Vec::new();
    sample_writer(version, order).write_file(&mut out, |i, _, buf| buf.fill(i as u8 + 1)).unwrap();
    out
}

/// Deterministic xorshift64 for property-style tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A model header (no tensor data): `general.architecture`, the given metadata and tensors.
pub struct ModelBuilder {
    pub writer: GgufWriter,
    pub arch: String,
}

impl ModelBuilder {
    pub fn new(arch: &str) -> Self {
        let mut writer = GgufWriter::new();
        writer.add_metadata("general.architecture", Value::String(arch.into()));
        ModelBuilder { writer, arch: arch.into() }
    }

    /// `{arch}.<suffix>`.
    pub fn hp(mut self, suffix: &str, v: Value) -> Self {
        self.writer.add_metadata(format!("{}.{suffix}", self.arch), v);
        self
    }

    pub fn kv(mut self, key: &str, v: Value) -> Self {
        self.writer.add_metadata(key, v);
        self
    }

    pub fn tensor(mut self, name: &str, dims: &[u64], ty: GgmlType) -> Self {
        self.writer.add_tensor(name, dims, ty).unwrap();
        self
    }

    /// Standard llama-style blocks: norms F32, matrices `ty`.
    pub fn blocks(mut self, n_layer: u64, n_embd: u64, kv_width: &[u64], n_ff: u64, ty: GgmlType) -> Self {
        for l in 0..n_layer {
            let kv = kv_width.get(l as usize).copied().unwrap_or(kv_width[0]);
            let b = |n: &str| format!("blk.{l}.{n}.weight");
            self = self
                .tensor(&b("attn_norm"), &[n_embd], GgmlType::F32)
                .tensor(&b("attn_q"), &[n_embd, n_embd], ty)
                .tensor(&b("attn_k"), &[n_embd, kv], ty)
                .tensor(&b("attn_v"), &[n_embd, kv], ty)
                .tensor(&b("attn_output"), &[n_embd, n_embd], ty)
                .tensor(&b("ffn_norm"), &[n_embd], GgmlType::F32)
                .tensor(&b("ffn_gate"), &[n_embd, n_ff], ty)
                .tensor(&b("ffn_up"), &[n_embd, n_ff], ty)
                .tensor(&b("ffn_down"), &[n_ff, n_embd], ty);
        }
        self
    }

    pub fn header_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.writer.write_header(&mut out).unwrap();
        out
    }

    pub fn header(&self) -> hoist_gguf::GgufHeader {
        let bytes = self.header_bytes();
        hoist_gguf::parse_header(&bytes, None).unwrap()
    }
}

/// Qwen2-0.5B's shape (24 layers, n_embd 896, 14 heads, 2 KV heads of 64, n_ff 4864,
/// vocabulary 151936, context 32768, tied embeddings), Q8_0 matrices.
pub fn qwen2_0_5b() -> ModelBuilder {
    ModelBuilder::new("qwen2")
        .hp("context_length", Value::U32(32768))
        .hp("embedding_length", Value::U32(896))
        .hp("block_count", Value::U32(24))
        .hp("feed_forward_length", Value::U32(4864))
        .hp("attention.head_count", Value::U32(14))
        .hp("attention.head_count_kv", Value::U32(2))
        .hp("vocab_size", Value::U32(151936))
        .tensor("token_embd.weight", &[896, 151936], GgmlType::Q8_0)
        .blocks(24, 896, &[128], 4864, GgmlType::Q8_0)
        .tensor("output_norm.weight", &[896], GgmlType::F32)
}
