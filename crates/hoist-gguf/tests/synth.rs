//! Synthetic models: valid, deterministic, sized as asked, split like gguf-split.

use hoist_gguf::synth::TinyModel;
use hoist_gguf::{GgmlType, Value, read_header_from_path};

#[test]
fn default_model_is_small_valid_and_llama_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    TinyModel::default().write_to_path(&path).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 100_000 && len < 1_000_000, "{len}");
    let h = read_header_from_path(&path).unwrap();
    assert_eq!(h.version, 3);
    assert_eq!(h.architecture(), Some("llama"));
    assert_eq!(h.get("general.file_type"), Some(&Value::U32(7)));
    assert_eq!(h.get("tokenizer.ggml.model").and_then(Value::as_str), Some("llama"));
    for key in ["llama.embedding_length", "llama.block_count", "llama.attention.head_count_kv"] {
        assert!(h.get(key).and_then(Value::as_u64).is_some(), "{key}");
    }
    let names: Vec<&str> = h.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"token_embd.weight"));
    assert_eq!(names.last(), Some(&"output.weight"));
    assert!(names.contains(&"blk.0.attn_q.weight") && names.contains(&"blk.0.ffn_norm.weight"));
    let s = h.summary().unwrap();
    assert_eq!(s.file_type.as_deref(), Some("Q8_0"));
    assert_eq!(s.context_length, Some(2048));
    assert!(s.has_chat_template);
    assert_eq!(s.name.as_deref(), Some("tiny"));
    assert!(s.bits_per_weight > 8.5 && s.bits_per_weight < 9.0, "{}", s.bits_per_weight);
    assert_eq!(h.data_offset + h.tensor_data_len().unwrap(), len);
}

#[test]
fn same_seed_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, seed| {
        let path = dir.path().join(name);
        TinyModel { seed, ..TinyModel::default() }.write_to_path(&path).unwrap();
        std::fs::read(path).unwrap()
    };
    let a = write("a.gguf", 1);
    assert_eq!(a, write("b.gguf", 1));
    let c = write("c.gguf", 2);
    assert_eq!(a.len(), c.len());
    assert_ne!(a, c);
}

#[test]
fn target_size_and_types() {
    let dir = tempfile::tempdir().unwrap();
    for (ty, target, ft) in [
        (GgmlType::Q4_K, 24u64 << 20, "Q4_K_M"),
        (GgmlType::F16, 8 << 20, "F16"),
        (GgmlType::Q4_0, 0, "Q4_0"),
        (GgmlType::I8, 0, "I8"),
    ] {
        let path = dir.path().join(format!("{}.gguf", ty.name()));
        let model = TinyModel { file_type: ty, target_size: target, chat_template: None, ..TinyModel::default() };
        model.write_to_path(&path).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        if target > 0 {
            let ratio = len as f64 / target as f64;
            assert!((0.8..1.2).contains(&ratio), "{ty:?}: {len} for target {target}");
        }
        let s = read_header_from_path(&path).unwrap().summary().unwrap();
        assert_eq!(s.file_type.as_deref(), Some(ft));
        assert!(!s.has_chat_template);
    }
}

#[test]
fn split_shards_like_gguf_split() {
    let dir = tempfile::tempdir().unwrap();
    let model = TinyModel::default();
    let single = dir.path().join("single.gguf");
    model.write_to_path(&single).unwrap();
    let whole = read_header_from_path(&single).unwrap();

    let paths = model.write_split(dir.path(), "tiny", 3).unwrap();
    let names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["tiny-00001-of-00003.gguf", "tiny-00002-of-00003.gguf", "tiny-00003-of-00003.gguf"]);
    let mut tensors = Vec::new();
    let single_bytes = std::fs::read(&single).unwrap();
    for (i, p) in paths.iter().enumerate() {
        let h = read_header_from_path(p).unwrap();
        let s = h.summary().unwrap();
        assert_eq!(s.split, Some((i as u16, 3)));
        assert_eq!(h.get("split.tensors.count"), Some(&Value::I32(whole.tensors.len() as i32)));
        assert_eq!(h.architecture(), Some("llama"));
        if i == 0 {
            assert!(h.get("tokenizer.ggml.tokens").is_some());
            assert_eq!(h.metadata.len(), whole.metadata.len() + 3);
        } else {
            let keys: Vec<&str> = h.metadata.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["general.architecture", "split.no", "split.count", "split.tensors.count"]);
        }
        // Each tensor's bytes match the single-file model.
        let bytes = std::fs::read(p).unwrap();
        for t in &h.tensors {
            let w = whole.tensors.iter().find(|w| w.name == t.name).unwrap();
            let size = t.byte_size().unwrap() as usize;
            let a = (h.data_offset + t.offset) as usize;
            let b = (whole.data_offset + w.offset) as usize;
            assert_eq!(bytes[a..a + size], single_bytes[b..b + size], "{}", t.name);
        }
        assert!(!h.tensors.is_empty());
        tensors.extend(h.tensors.into_iter().map(|t| (t.name, t.dims, t.ggml_type)));
    }
    let expected: Vec<_> = whole.tensors.into_iter().map(|t| (t.name, t.dims, t.ggml_type)).collect();
    assert_eq!(tensors, expected);

    assert!(model.write_split(dir.path(), "x", 0).is_err());
    assert!(model.write_split(dir.path(), "x", 1000).is_err());
    assert_eq!(model.write_split(dir.path(), "one", 1).unwrap().len(), 1);
}
