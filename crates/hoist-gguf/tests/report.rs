//! Deep inspection report.

mod common;

use common::{ModelBuilder, arr, qwen2_0_5b};
use hoist_gguf::synth::TinyModel;
use hoist_gguf::{FileKind, GgmlType, Value, ValueType, read_header_from_path};

#[test]
fn report_of_a_synthetic_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    TinyModel::default().write_to_path(&path).unwrap();
    let h = read_header_from_path(&path).unwrap();
    let r = h.report().unwrap();
    assert_eq!(r.kind, FileKind::Model);
    assert_eq!(r.header_bytes, h.data_offset);
    assert_eq!(r.tensors.len(), h.tensors.len());
    assert_eq!(r.tensors[0].name, "token_embd.weight");
    assert_eq!(r.tensors[0].bytes, 256 * 320 / 32 * 34);
    // Types histogram: Q8_0 matrices first (most bytes), then the F32 norms.
    assert_eq!(r.types[0].ggml_type, GgmlType::Q8_0);
    assert_eq!(r.types[1].ggml_type, GgmlType::F32);
    assert_eq!(r.types[1].tensors, 3);
    assert_eq!(r.types.iter().map(|t| t.parameters).sum::<u64>(), r.summary.parameters);
    assert_eq!(r.types.iter().map(|t| t.bytes).sum::<u64>(), r.summary.tensor_bytes);
    let tok = r.tokenizer.as_ref().unwrap();
    assert_eq!(tok.model.as_deref(), Some("llama"));
    assert_eq!(tok.vocab_size, Some(320));
    assert_eq!(tok.merges, None);
    let roles: Vec<(&str, u64, Option<&str>)> =
        tok.special.iter().map(|s| (s.role.as_str(), s.id, s.token.as_deref())).collect();
    assert_eq!(roles, vec![("bos", 1, Some("<s>")), ("eos", 2, Some("</s>")), ("unk", 0, Some("<unk>"))]);
    assert!(r.chat_template_chars.unwrap() > 50);
    assert_eq!(r.split, None);
    // Long arrays are summarised: count and the first values.
    let tokens = r.metadata.iter().find(|m| m.key == "tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.value, r#"[320 strings: "<unk>", "<s>", "</s>", "<0x00>", "<0x01>", …]"#);
    assert_eq!((tokens.value_type.as_str(), tokens.array_len), ("[string]", Some(320)));
    let scores = r.metadata.iter().find(|m| m.key == "tokenizer.ggml.scores").unwrap();
    assert!(scores.value.starts_with("[320 f32: -0, -1, -2"), "{}", scores.value);
    let text = r.to_string();
    for needle in ["kind:          model", "TOKENIZER", "vocabulary:  320 tokens", "bos:", "\"<s>\"", "TYPES", "Q8_0"] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    assert!(text.lines().all(|l| l.chars().count() < 250), "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["tensors"][0]["type"], "Q8_0");
    assert_eq!(json["kind"], "model");
    assert_eq!(json["byte_order"], "little");
}

#[test]
fn split_shards_projectors_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let shards = TinyModel::default().write_split(dir.path(), "m", 2).unwrap();
    let second = read_header_from_path(&shards[1]).unwrap().report().unwrap();
    let split = second.split.unwrap();
    assert_eq!((split.no, split.count, split.tensors_count), (1, 2, Some(12)));
    assert!(second.tokenizer.is_none());
    assert!(second.to_string().contains("split:         shard 2 of 2, 12 tensors in all"));

    let mmproj = ModelBuilder::new("clip")
        .kv("general.type", Value::String("mmproj".into()))
        .kv("clip.has_vision_encoder", Value::Bool(true))
        .header();
    assert_eq!(mmproj.report().unwrap().kind, FileKind::Projector);
    let lora = ModelBuilder::new("llama")
        .kv("general.type", Value::String("adapter".into()))
        .kv("adapter.type", Value::String("lora".into()))
        .kv("adapter.lora.alpha", Value::F32(16.0))
        .header();
    assert_eq!(lora.report().unwrap().kind, FileKind::Adapter);
    let cv = ModelBuilder::new("controlvector").kv("controlvector.layer_count", Value::U32(32)).header();
    assert_eq!(FileKind::of(&cv), FileKind::ControlVector);
}

#[test]
fn bpe_tokenizer_facts() {
    let s = |x: &str| Value::String(x.into());
    let tokens: Vec<Value> = (0..151_936).map(|i| s(&format!("t{i}"))).collect();
    let h = qwen2_0_5b()
        .kv("tokenizer.ggml.model", s("gpt2"))
        .kv("tokenizer.ggml.pre", s("qwen2"))
        .kv("tokenizer.ggml.tokens", arr(ValueType::String, tokens))
        .kv("tokenizer.ggml.merges", arr(ValueType::String, vec![s("t1 t2"); 20]))
        .kv("tokenizer.ggml.eos_token_id", Value::U32(151_643))
        .kv("tokenizer.ggml.padding_token_id", Value::U32(151_643))
        .kv("tokenizer.ggml.bos_token_id", Value::U32(999_999))
        .kv("tokenizer.ggml.add_bos_token", Value::Bool(false))
        .kv("tokenizer.chat_template", s("{{ x }}"))
        .kv("tokenizer.chat_template.tool_use", s("{{ y }}"))
        .header();
    let r = h.report().unwrap();
    let t = r.tokenizer.unwrap();
    assert_eq!((t.model.as_deref(), t.pre.as_deref()), (Some("gpt2"), Some("qwen2")));
    assert_eq!((t.vocab_size, t.merges, t.add_bos), (Some(151_936), Some(20), Some(false)));
    // An id past the vocabulary has no text.
    let roles: Vec<(&str, Option<&str>)> = t.special.iter().map(|s| (s.role.as_str(), s.token.as_deref())).collect();
    assert_eq!(roles, vec![("bos", None), ("eos", Some("t151643")), ("pad", Some("t151643"))]);
    assert_eq!(r.chat_template_chars, Some(7));
    assert_eq!(r.chat_template_names, vec!["tool_use".to_string()]);
    let tokens = r.metadata.iter().find(|m| m.key == "tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.value, r#"[151936 strings: "t0", "t1", "t2", "t3", "t4", …]"#);
}
