//! qwen2 and qwen3: llama.cpp's `Qwen2Model` and `Qwen3Model` (no q/k permutation;
//! q/k/v biases on qwen2, q/k norms on qwen3; sentence-transformers pooling when present).

use std::path::Path;

use serde_json::json;

use super::common::{LLAMA_NAMES, block_count, pooling_type, text_parameters};
use super::{Architecture, Generated, Kv, Mapped, Transform, always_skipped, lookup};
use crate::ConvertError;
use crate::config::Config;
use crate::tokenizer;

const QK_NORMS: &[(&str, &str)] = &[
    ("model.layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"),
    ("model.layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"),
];

pub struct Qwen {
    pub v3: bool,
}

impl Qwen {
    /// Qwen2Config / Qwen3Config defaults the reference sees through `AutoConfig`.
    pub fn apply_defaults(&self, cfg: &mut Config) {
        cfg.set_default("vocab_size", json!(151936));
        cfg.set_default("max_position_embeddings", json!(32768));
        cfg.set_default("hidden_size", json!(4096));
        cfg.set_default("intermediate_size", json!(22016));
        cfg.set_default("num_hidden_layers", json!(32));
        cfg.set_default("num_attention_heads", json!(32));
        let heads = cfg.get("num_attention_heads").cloned().unwrap_or(json!(32));
        cfg.set_default("num_key_value_heads", heads);
        cfg.set_default("rms_norm_eps", json!(1e-6));
        cfg.set_default("rope_theta", json!(10000.0));
        if self.v3 {
            cfg.set_default("head_dim", json!(128));
        }
    }

    /// Qwen3 rerankers add a classification head the converter does not write yet.
    pub fn check_supported(&self, dir: &Path, cfg: &Config) -> Result<(), ConvertError> {
        if !self.v3 {
            return Ok(());
        }
        let hints = [
            dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_lowercase(),
            cfg.get("_name_or_path").and_then(|v| v.as_str()).unwrap_or_default().to_lowercase(),
        ];
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default().to_lowercase();
        if hints.iter().any(|h| h.contains("qwen3-reranker")) || readme.contains("# qwen3-reranker") {
            return Err(cfg.error("Qwen3 rerankers are not supported yet"));
        }
        Ok(())
    }
}

impl Architecture for Qwen {
    fn gguf_name(&self) -> &'static str {
        if self.v3 { "qwen3" } else { "qwen2" }
    }

    fn set_parameters(&self, cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
        text_parameters(cfg, kv, file_type)?;
        let dir = cfg.path().parent().unwrap_or(Path::new("."));
        pooling_type(dir, cfg, kv)
    }

    fn map_tensor(&self, cfg: &Config, name: &str) -> Result<Option<Mapped>, ConvertError> {
        let name = name.replace("language_model.", "");
        if always_skipped(&name) {
            return Ok(Some(Mapped::Skip));
        }
        let n = block_count(cfg)?;
        let found = lookup(LLAMA_NAMES, &name, n).or_else(|| if self.v3 { lookup(QK_NORMS, &name, n) } else { None });
        Ok(found.map(|name| Mapped::Tensor { name, transform: Transform::None }))
    }

    fn generated(&self, _cfg: &Config) -> Result<Vec<Generated>, ConvertError> {
        Ok(Vec::new())
    }

    fn set_vocab(&self, dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
        if dir.join("tokenizer.model").is_file() {
            tokenizer::spm::set_vocab(dir, cfg, kv)
        } else {
            tokenizer::bpe::set_vocab(dir, cfg, kv)
        }
    }
}
