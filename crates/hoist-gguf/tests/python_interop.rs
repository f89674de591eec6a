//! Interop with llama.cpp's reference Python package `gguf`: it reads what we write, we
//! read what it writes.

use std::path::Path;
use std::process::Command;

use hoist_gguf::synth::TinyModel;
use hoist_gguf::{Array, ByteOrder, GgmlType, GgufHeader, GgufWriter, Value, ValueType, read_header_from_path};
use serde_json::{Value as Json, json};

fn require_python_gguf() {
    let ok = Command::new("python3").args(["-c", "import gguf"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "python package `gguf` missing: pip install gguf");
}

fn python(script: &str, args: &[&Path]) -> String {
    require_python_gguf();
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("run python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const PY_WRITE: &str = r#"
import sys, numpy as np, gguf
endian = gguf.GGUFEndian.BIG if sys.argv[2] == "big" else gguf.GGUFEndian.LITTLE
w = gguf.GGUFWriter(sys.argv[1], "llama", endianess=endian)
w.add_name("py-model")
w.add_uint8("t.u8", 200)
w.add_int8("t.i8", -5)
w.add_uint16("t.u16", 60000)
w.add_int16("t.i16", -30000)
w.add_uint32("t.u32", 4000000000)
w.add_int32("t.i32", -2000000000)
w.add_float32("t.f32", 1.5)
w.add_uint64("t.u64", 2**64 - 8)
w.add_int64("t.i64", -2**62)
w.add_float64("t.f64", -3.25)
w.add_bool("t.bool", True)
w.add_string("t.str", "héllo")
w.add_array("t.strs", ["a", "bc", "<0x0A>"])
w.add_array("t.ints", [1, -2, 3])
w.add_array("t.floats", [0.5, 2.0])
w.add_file_type(7)
w.add_tensor("t.f32", np.arange(8, dtype=np.float32).reshape(2, 4))
w.add_tensor("t.f16", np.ones((3, 32), dtype=np.float16))
w.add_tensor("t.q8", np.zeros((2, 68), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
"#;

#[test]
fn we_read_what_python_writes() {
    let dir = tempfile::tempdir().unwrap();
    for (endian, order) in [("little", ByteOrder::Little), ("big", ByteOrder::Big)] {
        let path = dir.path().join(format!("py-{endian}.gguf"));
        python(PY_WRITE, &[&path, Path::new(endian)]);
        let h = read_header_from_path(&path).unwrap();
        assert_eq!((h.version, h.byte_order), (3, order));
        let s = |x: &str| Value::String(x.into());
        let arr = |element_type, values: Vec<Value>| Value::Array(Array::from_values(element_type, values).unwrap());
        let expected = [
            ("general.architecture", s("llama")),
            ("general.name", s("py-model")),
            ("t.u8", Value::U8(200)),
            ("t.i8", Value::I8(-5)),
            ("t.u16", Value::U16(60000)),
            ("t.i16", Value::I16(-30000)),
            ("t.u32", Value::U32(4_000_000_000)),
            ("t.i32", Value::I32(-2_000_000_000)),
            ("t.f32", Value::F32(1.5)),
            ("t.u64", Value::U64(u64::MAX - 7)),
            ("t.i64", Value::I64(-(1 << 62))),
            ("t.f64", Value::F64(-3.25)),
            ("t.bool", Value::Bool(true)),
            ("t.str", s("héllo")),
            ("t.strs", arr(ValueType::String, vec![s("a"), s("bc"), s("<0x0A>")])),
            ("t.ints", arr(ValueType::I32, vec![Value::I32(1), Value::I32(-2), Value::I32(3)])),
            ("t.floats", arr(ValueType::F32, vec![Value::F32(0.5), Value::F32(2.0)])),
            ("general.file_type", Value::U32(7)),
        ];
        let got: Vec<(&str, &Value)> = h.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let want: Vec<(&str, &Value)> = expected.iter().map(|(k, v)| (*k, v)).collect();
        assert_eq!(got, want, "{endian}");
        let tensors: Vec<(&str, &[u64], GgmlType, u64)> =
            h.tensors.iter().map(|t| (t.name.as_str(), t.dims.as_slice(), t.ggml_type, t.offset)).collect();
        assert_eq!(
            tensors,
            [
                ("t.f32", &[4u64, 2][..], GgmlType::F32, 0),
                ("t.f16", &[32, 3][..], GgmlType::F16, 32),
                ("t.q8", &[64, 2][..], GgmlType::Q8_0, 224),
            ]
        );
        let summary = h.summary().unwrap();
        assert_eq!(summary.file_type.as_deref(), Some("Q8_0"));
        assert_eq!(summary.parameters, 8 + 96 + 128);
    }
}

const PY_READ: &str = r#"
import sys, json, gguf
r = gguf.GGUFReader(sys.argv[1])
fields = []
for name, f in r.fields.items():
    if name.startswith("GGUF."):
        continue
    fields.append([name, int(f.types[0]), f.contents()])
tensors = [[t.name, [int(d) for d in t.shape], int(t.tensor_type), int(t.data_offset), int(t.n_bytes)] for t in r.tensors]
print(json.dumps({"endian": r.endianess.name, "fields": fields, "tensors": tensors}))
"#;

fn to_json(v: &Value) -> Json {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::F32(x) => json!(f64::from(*x)),
        Value::Bool(x) => json!(x),
        Value::String(x) => json!(x),
        Value::Array(a) => Json::Array(a.iter().map(|v| to_json(&v)).collect()),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F64(x) => json!(x),
    }
}

/// What the Python reader should print for our header.
fn expected_json(h: &GgufHeader) -> Json {
    let fields: Vec<Json> = h.metadata.iter().map(|(k, v)| json!([k, v.value_type().id(), to_json(v)])).collect();
    let tensors: Vec<Json> = h
        .tensors
        .iter()
        .map(|t| json!([t.name, t.dims, t.ggml_type.id(), h.data_offset + t.offset, t.byte_size().unwrap()]))
        .collect();
    let endian = if h.byte_order == ByteOrder::Big { "BIG" } else { "LITTLE" };
    json!({"endian": endian, "fields": fields, "tensors": tensors})
}

fn python_reads(path: &Path) {
    let ours = read_header_from_path(path).unwrap();
    let theirs: Json = serde_json::from_str(&python(PY_READ, &[path])).unwrap();
    assert_eq!(theirs, expected_json(&ours), "{}", path.display());
}

#[test]
fn python_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.gguf");
    TinyModel::default().write_to_path(&tiny).unwrap();
    python_reads(&tiny);

    let k_quant = dir.path().join("q4k.gguf");
    TinyModel { file_type: GgmlType::Q4_K, seed: 7, ..TinyModel::default() }.write_to_path(&k_quant).unwrap();
    python_reads(&k_quant);

    for p in TinyModel::default().write_split(dir.path(), "split", 2).unwrap() {
        python_reads(&p);
    }

    // Big-endian, v2, custom alignment, every value type the Python reader supports.
    let mut w = GgufWriter::new().with_byte_order(ByteOrder::Big).with_version(2).with_alignment(64);
    w.add_metadata("general.architecture", Value::String("llama".into()));
    for (k, v) in [
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-5)),
        ("t.u16", Value::U16(60000)),
        ("t.i16", Value::I16(-30000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.f32", Value::F32(0.1)),
        ("t.bool", Value::Bool(false)),
        ("t.str", Value::String("wörld".into())),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.f64", Value::F64(1e300)),
    ] {
        w.add_metadata(k, v);
    }
    w.add_metadata("t.strs", Value::Array(Array::String(["x", "yz"].into_iter().collect())));
    w.add_metadata("t.ints", Value::Array(Array::U16(vec![1, 65535])));
    w.add_tensor("a", &[8, 2], GgmlType::F32).unwrap();
    w.add_tensor("b", &[256, 2], GgmlType::Q6_K).unwrap();
    w.add_tensor("c", &[4], GgmlType::F16).unwrap();
    let big = dir.path().join("big-endian.gguf");
    let mut file = std::fs::File::create(&big).unwrap();
    w.write_file(&mut file, |i, _, buf| buf.fill(i as u8)).unwrap();
    drop(file);
    python_reads(&big);
}
