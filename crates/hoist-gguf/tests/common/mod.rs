//! Shared test helpers.
#![allow(dead_code)] // each test binary uses a different subset

use hoist_gguf::{Array, ByteOrder, GgmlType, GgufWriter, Value, ValueType};

pub fn arr(element_type: ValueType, values: Vec<Value>) -> Value {
    Value::Array(Array { element_type, values })
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
