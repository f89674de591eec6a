//! gemma2 and gemma3 (text): llama.cpp's `Gemma2Model` and `Gemma3Model`. Norm weights
//! are stored as `w + 1` (Gemma's RMSNorm multiplies by `1 + w`); no q/k permutation.

use std::path::Path;

use serde_json::{Value, json};

use super::common::{LLAMA_NAMES, block_count, full_attention, rope_parameters, text_parameters};
use super::{Architecture, Generated, Kv, Mapped, Transform, always_skipped, lookup};
use crate::ConvertError;
use crate::config::Config;
use crate::tokenizer;

/// Gemma's block norms (gguf-py maps post_attention_layernorm to ATTN_POST_NORM for gemma).
const GEMMA_NAMES: &[(&str, &str)] = &[
    ("model.embed_tokens", "token_embd"),
    ("model.norm", "output_norm"),
    ("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"),
    ("model.layers.{bid}.post_attention_layernorm", "blk.{bid}.post_attention_norm"),
    ("model.layers.{bid}.pre_feedforward_layernorm", "blk.{bid}.ffn_norm"),
    ("model.layers.{bid}.post_feedforward_layernorm", "blk.{bid}.post_ffw_norm"),
];

/// gemma3's q/k norms (gemma2 has none).
const QK_NORMS: &[(&str, &str)] = &[
    ("model.layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"),
    ("model.layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"),
];

pub struct Gemma {
    pub v3: bool,
}

impl Gemma {
    /// Gemma2Config / Gemma3TextConfig defaults the reference sees through `AutoConfig`.
    pub fn apply_defaults(&self, cfg: &mut Config) {
        cfg.set_default("vocab_size", json!(if self.v3 { 262208 } else { 256000 }));
        cfg.set_default("max_position_embeddings", json!(if self.v3 { 131072 } else { 8192 }));
        cfg.set_default("hidden_size", json!(2304));
        cfg.set_default("intermediate_size", json!(9216));
        cfg.set_default("num_hidden_layers", json!(26));
        cfg.set_default("num_attention_heads", json!(8));
        cfg.set_default("head_dim", json!(256));
        cfg.set_default("num_key_value_heads", json!(4));
        cfg.set_default("rms_norm_eps", json!(1e-6));
        cfg.set_default("rope_theta", json!(if self.v3 { 1_000_000.0 } else { 10000.0 }));
        cfg.set_default("sliding_window", json!(4096));
        if self.v3 {
            cfg.set_default("rope_local_base_freq", json!(10000.0));
        } else {
            cfg.set_default("final_logit_softcapping", json!(30.0));
            cfg.set_default("attn_logit_softcapping", json!(50.0));
        }
    }

    fn gemma2_parameters(&self, cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
        kv.u32("{arch}.context_length", cfg.require_u64(&["max_position_embeddings"])?)?;
        kv.u32("{arch}.embedding_length", cfg.require_u64(&["hidden_size"])?)?;
        kv.u32("{arch}.block_count", block_count(cfg)?)?;
        kv.u32("{arch}.feed_forward_length", cfg.require_u64(&["intermediate_size"])?)?;
        kv.u32("{arch}.attention.head_count", cfg.require_u64(&["num_attention_heads"])?)?;
        kv.u32("{arch}.attention.head_count_kv", cfg.require_u64(&["num_key_value_heads", "num_attention_heads"])?)?;
        let eps = cfg.find_f32(&["rms_norm_eps"])?.ok_or_else(|| cfg.error("missing rms_norm_eps"))?;
        kv.f32("{arch}.attention.layer_norm_rms_epsilon", eps);
        let head_dim = cfg.require_u64(&["head_dim"])?;
        kv.u32("{arch}.attention.key_length", head_dim)?;
        kv.u32("{arch}.attention.value_length", head_dim)?;
        kv.u32("general.file_type", u64::from(file_type))?;
        let softcap = |key: &str| cfg.find_f32(&[key])?.ok_or_else(|| cfg.error(&format!("missing {key}")));
        kv.f32("{arch}.attn_logit_softcapping", softcap("attn_logit_softcapping")?);
        kv.f32("{arch}.final_logit_softcapping", softcap("final_logit_softcapping")?);
        kv.u32("{arch}.attention.sliding_window", cfg.require_u64(&["sliding_window"])?)
    }

    fn gemma3_parameters(&self, cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
        text_parameters(cfg, kv, file_type)?;
        kv.u32("{arch}.context_length", cfg.find_u64(&["max_position_embeddings"])?.unwrap_or(131072))?;
        kv.u32("{arch}.attention.head_count", cfg.find_u64(&["num_attention_heads"])?.unwrap_or(8))?;
        kv.f32("{arch}.attention.layer_norm_rms_epsilon", cfg.find_f32(&["rms_norm_eps"])?.unwrap_or(1e-6));
        let head_dim = cfg.find_u64(&["head_dim"])?.unwrap_or(256);
        kv.u32("{arch}.attention.key_length", head_dim)?;
        kv.u32("{arch}.attention.value_length", head_dim)?;
        let theta =
            full_attention(&rope_parameters(cfg)).get("rope_theta").and_then(Value::as_f64).unwrap_or(1_000_000.0);
        kv.f32("{arch}.rope.freq_base", theta as f32);
        if cfg.get("attn_logit_softcapping").is_some() {
            return Err(cfg.error("attn_logit_softcapping is set, which gemma3 does not have"));
        }
        if let Some(cap) = cfg.find_f32(&["final_logit_softcapping"])?.filter(|c| *c != 0.0) {
            kv.f32("{arch}.final_logit_softcapping", cap);
        }
        if cfg.get("sliding_window_pattern").and_then(Value::as_u64) != Some(1) {
            kv.u32("{arch}.attention.sliding_window", cfg.require_u64(&["sliding_window"])?)?;
        }
        kv.u32("{arch}.attention.head_count_kv", cfg.find_u64(&["num_key_value_heads"])?.unwrap_or(4))
    }

    /// gemma3's real vocabulary size: the embedding rows kept.
    fn real_vocab(&self, cfg: &Config) -> Result<u64, ConvertError> {
        let dir = cfg.path().parent().unwrap_or(Path::new("."));
        if dir.join("tokenizer.model").is_file() {
            return tokenizer::spm::vocab_len(dir, cfg).map(|n| n as u64);
        }
        let path = dir.join("tokenizer.json");
        let tok = tokenizer::read_json_object(&path)?.ok_or_else(|| ConvertError::Tokenizer {
            path: dir.to_path_buf(),
            reason: "no tokenizer.json and no tokenizer.model".into(),
        })?;
        let vocab = tok.get("model").and_then(|m| m.get("vocab")).and_then(Value::as_object).map_or(0, |v| v.len());
        let added = tok.get("added_tokens").and_then(Value::as_array).map_or(0, Vec::len);
        Ok((vocab + added) as u64)
    }
}

impl Architecture for Gemma {
    fn gguf_name(&self) -> &'static str {
        if self.v3 { "gemma3" } else { "gemma2" }
    }

    fn set_parameters(&self, cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
        if self.v3 { self.gemma3_parameters(cfg, kv, file_type) } else { self.gemma2_parameters(cfg, kv, file_type) }
    }

    fn map_tensor(&self, cfg: &Config, name: &str) -> Result<Option<Mapped>, ConvertError> {
        let name = name.replace("language_model.", "");
        // gemma2 has no output tensor: llama.cpp skips an lm_head (AutoAWQ checkpoints add one).
        if always_skipped(&name) || (!self.v3 && name == "lm_head.weight") {
            return Ok(Some(Mapped::Skip));
        }
        let n = block_count(cfg)?;
        let found = lookup(GEMMA_NAMES, &name, n)
            .or_else(|| if self.v3 { lookup(QK_NORMS, &name, n) } else { None })
            .or_else(|| lookup(LLAMA_NAMES, &name, n));
        let Some(gguf) = found else { return Ok(None) };
        let transform = if name.ends_with("norm.weight") {
            Transform::AddOne
        } else if self.v3 && name.contains("embed_tokens.weight") {
            Transform::TakeRows(self.real_vocab(cfg)?)
        } else {
            Transform::None
        };
        Ok(Some(Mapped::Tensor { name: gguf, transform }))
    }

    fn generated(&self, _cfg: &Config) -> Result<Vec<Generated>, ConvertError> {
        Ok(Vec::new())
    }

    fn set_vocab(&self, dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
        if !self.v3 || dir.join("tokenizer.model").is_file() {
            tokenizer::spm::set_vocab(dir, cfg, kv)?;
            kv.bool("tokenizer.ggml.add_space_prefix", false);
            Ok(())
        } else {
            tokenizer::bpe::set_vocab(dir, cfg, kv)
        }
    }
}
