//! phi3: llama.cpp's `Phi3MiniModel` (fused qkv and gate_up projections, partial rotary,
//! LongRoPE factor tensors for the 128k models).

use std::path::Path;

use serde_json::{Value, json};

use super::common::{block_count, full_attention, rope_parameters};
use super::{Architecture, Generated, Kv, Mapped, Transform, always_skipped, lookup};
use crate::ConvertError;
use crate::config::Config;
use crate::tokenizer;

const NAMES: &[(&str, &str)] = &[
    ("model.embed_tokens", "token_embd"),
    ("model.norm", "output_norm"),
    ("lm_head", "output"),
    ("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"),
    ("model.layers.{bid}.self_attn.qkv_proj", "blk.{bid}.attn_qkv"),
    ("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"),
    ("model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"),
    ("model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"),
    ("model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"),
    ("model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"),
    ("model.layers.{bid}.mlp.gate_up_proj", "blk.{bid}.ffn_up"),
    ("model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"),
];

pub struct Phi3;

impl Phi3 {
    /// Phi3Config defaults the reference sees through `AutoConfig`.
    pub fn apply_defaults(cfg: &mut Config) {
        cfg.set_default("vocab_size", json!(32064));
        cfg.set_default("hidden_size", json!(3072));
        cfg.set_default("intermediate_size", json!(8192));
        cfg.set_default("num_hidden_layers", json!(32));
        cfg.set_default("num_attention_heads", json!(32));
        let heads = cfg.get("num_attention_heads").cloned().unwrap_or(json!(32));
        cfg.set_default("num_key_value_heads", heads);
        cfg.set_default("max_position_embeddings", json!(4096));
        cfg.set_default("original_max_position_embeddings", json!(4096));
        cfg.set_default("rms_norm_eps", json!(1e-5));
        cfg.set_default("rope_theta", json!(10000.0));
        cfg.set_default("partial_rotary_factor", json!(1.0));
    }
}

struct Dims {
    ctx: u64,
    orig_ctx: u64,
    rope_dims: u64,
}

fn dims(cfg: &Config) -> Result<Dims, ConvertError> {
    let rope = rope_parameters(cfg);
    let n_embd = cfg.require_u64(&["hidden_size", "n_embd"])?;
    let n_head = cfg.require_u64(&["num_attention_heads", "n_head"])?.max(1);
    let ctx = cfg.require_u64(&["n_positions", "max_position_embeddings"])?;
    let orig_ctx = rope
        .get("original_max_position_embeddings")
        .and_then(Value::as_u64)
        .ok_or_else(|| cfg.error("missing original_max_position_embeddings"))?;
    let pct = rope.get("partial_rotary_factor").and_then(Value::as_f64).unwrap_or(1.0);
    Ok(Dims { ctx, orig_ctx, rope_dims: (pct * n_embd as f64) as u64 / n_head })
}

impl Architecture for Phi3 {
    fn gguf_name(&self) -> &'static str {
        "phi3"
    }

    /// The LongRoPE attention factor: the reference adds it while making the factor
    /// tensors, before any other key but the architecture.
    fn early_metadata(&self, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
        let rope = rope_parameters(cfg);
        if rope.get("long_factor").is_none_or(|f| f.as_array().is_none_or(Vec::is_empty)) {
            return Ok(());
        }
        let d = dims(cfg)?;
        let scale = d.ctx as f64 / d.orig_ctx as f64;
        let kind = rope.get("rope_type").and_then(Value::as_str).unwrap_or_default().to_lowercase();
        let attn_factor = match kind.as_str() {
            "su" | "longrope" if scale > 1.0 => (1.0 + scale.ln() / (d.orig_ctx as f64).ln()).sqrt(),
            "yarn" if scale > 1.0 => 0.1 * scale.ln() + 1.0,
            "su" | "longrope" | "yarn" => 1.0,
            "" => return Err(cfg.error("rope_scaling has long_factor but no type")),
            other => return Err(cfg.error(&format!("rope scaling type {other:?} is not supported"))),
        };
        kv.f32("{arch}.rope.scaling.attn_factor", attn_factor as f32);
        Ok(())
    }

    fn set_parameters(&self, cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
        let d = dims(cfg)?;
        kv.u32("{arch}.context_length", d.ctx)?;
        kv.u32("{arch}.rope.scaling.original_context_length", d.orig_ctx)?;
        kv.u32("{arch}.embedding_length", cfg.require_u64(&["hidden_size", "n_embd"])?)?;
        kv.u32("{arch}.feed_forward_length", cfg.require_u64(&["intermediate_size"])?)?;
        kv.u32("{arch}.block_count", block_count(cfg)?)?;
        kv.u32("{arch}.attention.head_count", cfg.require_u64(&["num_attention_heads", "n_head"])?)?;
        kv.u32("{arch}.attention.head_count_kv", cfg.require_u64(&["num_key_value_heads", "n_head_kv"])?)?;
        let eps = cfg.find_f32(&["rms_norm_eps"])?.ok_or_else(|| cfg.error("missing rms_norm_eps"))?;
        kv.f32("{arch}.attention.layer_norm_rms_epsilon", eps);
        kv.u32("{arch}.rope.dimension_count", d.rope_dims)?;
        let theta = full_attention(&rope_parameters(cfg)).get("rope_theta").and_then(Value::as_f64);
        kv.f32("{arch}.rope.freq_base", theta.ok_or_else(|| cfg.error("missing rope_theta"))? as f32);
        kv.u32("general.file_type", u64::from(file_type))?;
        kv.u32("{arch}.attention.sliding_window", cfg.find_u64(&["sliding_window"])?.unwrap_or(0))
    }

    fn map_tensor(&self, cfg: &Config, name: &str) -> Result<Option<Mapped>, ConvertError> {
        let name = name.replace("language_model.", "");
        if always_skipped(&name) {
            return Ok(Some(Mapped::Skip));
        }
        Ok(lookup(NAMES, &name, block_count(cfg)?).map(|name| Mapped::Tensor { name, transform: Transform::None }))
    }

    fn generated(&self, cfg: &Config) -> Result<Vec<Generated>, ConvertError> {
        let rope = rope_parameters(cfg);
        let factors = |key: &str| -> Option<Vec<f32>> {
            let list = rope.get(key)?.as_array()?;
            list.iter().map(|v| v.as_f64().map(|f| f as f32)).collect()
        };
        let Some(long) = factors("long_factor").filter(|f| !f.is_empty()) else { return Ok(Vec::new()) };
        let short =
            factors("short_factor").ok_or_else(|| cfg.error("rope_scaling has long_factor but no short_factor"))?;
        let half = dims(cfg)?.rope_dims / 2;
        if long.len() as u64 != half || short.len() as u64 != half {
            return Err(cfg.error(&format!("rope long and short factors must have {half} entries")));
        }
        Ok(vec![
            Generated { name: "rope_factors_long.weight".into(), values: long },
            Generated { name: "rope_factors_short.weight".into(), values: short },
        ])
    }

    fn set_vocab(&self, dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
        let class = tokenizer::TokenizerConfig::load(dir)?.and_then(|tc| tc.get("tokenizer_class").cloned());
        if class.as_ref().and_then(Value::as_str) == Some("GPT2Tokenizer") {
            return tokenizer::bpe::set_vocab(dir, cfg, kv);
        }
        tokenizer::spm::set_vocab_phi3(dir, cfg, kv)
    }
}
