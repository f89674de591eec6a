//! llama (and mistral): llama.cpp's `LlamaModel`.

use std::path::Path;

use serde_json::{Value, json};

use super::common::{LLAMA_NAMES, block_count};
use super::{Architecture, Generated, Kv, Mapped, Transform, always_skipped, lookup};
use crate::ConvertError;
use crate::config::Config;
use crate::tokenizer;

pub struct Llama;

impl Llama {
    /// The defaults of transformers' LlamaConfig / MistralConfig that the reference sees
    /// through `AutoConfig.to_dict()` when config.json leaves them out.
    pub fn apply_defaults(cfg: &mut Config, class: &str) {
        let mistral = class == "MistralForCausalLM";
        cfg.set_default("vocab_size", json!(32000));
        cfg.set_default("hidden_size", json!(4096));
        cfg.set_default("intermediate_size", json!(if mistral { 14336 } else { 11008 }));
        cfg.set_default("num_hidden_layers", json!(32));
        cfg.set_default("num_attention_heads", json!(32));
        let heads = cfg.get("num_attention_heads").cloned().unwrap_or(json!(32));
        cfg.set_default("num_key_value_heads", if mistral { json!(8) } else { heads.clone() });
        cfg.set_default("max_position_embeddings", json!(if mistral { 4096 * 32 } else { 2048 }));
        cfg.set_default("rms_norm_eps", json!(1e-6));
        cfg.set_default("rope_theta", json!(10000.0));
        // LlamaConfig fills head_dim; MistralConfig leaves it None (then no key_length).
        if !mistral
            && let (Some(h), Some(n)) = (cfg.get("hidden_size").and_then(Value::as_u64), heads.as_u64())
            && n > 0
        {
            cfg.set_default("head_dim", json!(h / n));
        }
    }
}

impl Architecture for Llama {
    fn gguf_name(&self) -> &'static str {
        "llama"
    }

    fn set_parameters(&self, cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
        super::common::text_parameters(cfg, kv, file_type)?;
        kv.u32("{arch}.vocab_size", cfg.require_u64(&["vocab_size"])?)?;
        let rope_dim = match cfg.find_u64(&["head_dim"])? {
            Some(d) => d,
            None => cfg.require_u64(&["hidden_size"])? / cfg.require_u64(&["num_attention_heads"])?.max(1),
        };
        kv.u32("{arch}.rope.dimension_count", rope_dim)
    }

    fn map_tensor(&self, cfg: &Config, name: &str) -> Result<Option<Mapped>, ConvertError> {
        let name = name.replace("language_model.", "").replace("text_model.", "");
        if always_skipped(&name) {
            return Ok(Some(Mapped::Skip));
        }
        let Some(gguf) = lookup(LLAMA_NAMES, &name, block_count(cfg)?) else { return Ok(None) };
        let heads = cfg.require_u64(&["n_heads", "num_attention_heads"])?;
        let transform = if name.ends_with("q_proj.weight") || name.ends_with("q_proj.bias") {
            Transform::Permute { heads }
        } else if name.ends_with("k_proj.weight") || name.ends_with("k_proj.bias") {
            Transform::Permute { heads: cfg.require_u64(&["n_kv_heads", "num_key_value_heads"])? }
        } else {
            Transform::None
        };
        Ok(Some(Mapped::Tensor { name: gguf, transform }))
    }

    fn generated(&self, cfg: &Config) -> Result<Vec<Generated>, ConvertError> {
        super::common::llama3_rope_freqs(cfg)
    }

    fn set_vocab(&self, dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
        if let Some(tc) = tokenizer::TokenizerConfig::load(dir)?
            && let Some(add_prefix_space) = tc.get("add_prefix_space").and_then(Value::as_bool)
        {
            kv.bool("tokenizer.ggml.add_space_prefix", add_prefix_space);
        }
        if dir.join("tokenizer.model").is_file() {
            tokenizer::spm::set_vocab(dir, cfg, kv)?;
        } else if tokenizer::bpe::is_llama_hf(dir)? {
            return Err(ConvertError::Tokenizer {
                path: dir.join("tokenizer.json"),
                reason: "a SentencePiece-style BPE tokenizer.json without tokenizer.model is not supported yet".into(),
            });
        } else {
            tokenizer::bpe::set_vocab(dir, cfg, kv)?;
        }
        // Granite small models (a llama vocabulary of 49152) never add BOS.
        let vocab_size = cfg.get("vocab_size").and_then(Value::as_u64).unwrap_or(32000);
        if vocab_size == 49152 {
            kv.bool("tokenizer.ggml.add_bos_token", false);
        }
        Ok(())
    }
}
