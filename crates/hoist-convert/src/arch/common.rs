//! What every text model writes (llama.cpp's `TextModel.set_gguf_parameters`) and the
//! rope handling shared by the architectures.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Generated, Kv};
use crate::ConvertError;
use crate::config::Config;

/// Hugging Face -> GGUF tensor names of the llama family (gguf-py's tensor_mapping.py rows
/// that llama, mistral, qwen2 and qwen3 checkpoints use).
pub const LLAMA_NAMES: &[(&str, &str)] = &[
    ("model.embed_tokens", "token_embd"),
    ("model.norm", "output_norm"),
    ("lm_head", "output"),
    ("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"),
    ("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"),
    ("model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"),
    ("model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"),
    ("model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"),
    ("model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"),
    ("model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"),
    ("model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"),
    ("model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"),
];

/// `_try_set_pooling_type`: the sentence-transformers pooling of modules.json, if any.
pub fn pooling_type(dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
    if cfg.get("classifier_pooling").is_some() {
        return Err(cfg.error("classifier_pooling (a classification head) is not supported yet"));
    }
    let modules_path = dir.join("modules.json");
    if !modules_path.is_file() {
        return Ok(());
    }
    let bad = |path: &Path, reason: &str| ConvertError::Config { path: path.to_path_buf(), reason: reason.to_string() };
    let text = std::fs::read_to_string(&modules_path).map_err(ConvertError::io(&modules_path))?;
    let modules: Value = serde_json::from_str(&text).map_err(|e| bad(&modules_path, &format!("invalid JSON: {e}")))?;
    let pooling_dir = modules.as_array().into_iter().flatten().find_map(|m| {
        m.get("type").and_then(Value::as_str).filter(|t| t.ends_with("Pooling"))?;
        m.get("path").and_then(Value::as_str)
    });
    let Some(pooling_dir) = pooling_dir else { return Ok(()) };
    if pooling_dir.contains("..") || pooling_dir.starts_with('/') {
        return Err(bad(&modules_path, &format!("pooling path {pooling_dir:?} leaves the model directory")));
    }
    let path = dir.join(pooling_dir).join("config.json");
    let text = std::fs::read_to_string(&path).map_err(ConvertError::io(&path))?;
    let p: Value = serde_json::from_str(&text).map_err(|e| bad(&path, &format!("invalid JSON: {e}")))?;
    let flag = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
    // llama.cpp's PoolingType: MEAN 1, CLS 2, LAST 3.
    let kind = if flag("pooling_mode_mean_tokens") {
        1
    } else if flag("pooling_mode_cls_token") {
        2
    } else if flag("pooling_mode_lasttoken") {
        3
    } else {
        match p.get("pooling_mode").and_then(Value::as_str) {
            Some("mean") => 1,
            Some("cls") => 2,
            Some("lasttoken") => 3,
            _ => return Err(bad(&path, "only MEAN, CLS and LAST pooling are supported")),
        }
    };
    kv.u32("{arch}.pooling_type", kind)
}

/// The rope parameters as the reference assembles them: `rope_parameters` or
/// `rope_scaling`, with `rope_theta` and the other top-level values mirrored in.
pub fn rope_parameters(cfg: &Config) -> Map<String, Value> {
    let mut p = cfg.find(&["rope_parameters", "rope_scaling"]).and_then(Value::as_object).cloned().unwrap_or_default();
    if p.contains_key("full_attention") || p.contains_key("sliding_attention") {
        return p;
    }
    let mirror = |p: &mut Map<String, Value>, key: &str, keys: &[&str]| {
        if !p.contains_key(key)
            && let Some(v) = cfg.find(keys)
        {
            p.insert(key.to_string(), v.clone());
        }
    };
    if let Some(local) = cfg.find(&[
        "local_rope_theta",
        "rope_local_theta",
        "rope_theta_local",
        "swa_rope_theta",
        "rope_local_base_freq",
    ]) {
        p.insert("sliding_attention".into(), serde_json::json!({ "rope_theta": local }));
    }
    mirror(
        &mut p,
        "rope_theta",
        &["global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"],
    );
    if !p.contains_key("rope_type")
        && let Some(t) = p.get("type").cloned()
    {
        p.insert("rope_type".into(), t);
    }
    mirror(&mut p, "partial_rotary_factor", &["partial_rotary_factor", "rope_pct", "rope_percent"]);
    mirror(&mut p, "original_max_position_embeddings", &["original_max_position_embeddings"]);
    p
}

pub fn full_attention(p: &Map<String, Value>) -> Map<String, Value> {
    p.get("full_attention").and_then(Value::as_object).cloned().unwrap_or_else(|| p.clone())
}

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// The number of blocks (`block_count`).
pub fn block_count(cfg: &Config) -> Result<u64, ConvertError> {
    cfg.require_u64(&["n_layers", "num_hidden_layers", "n_layer", "num_layers"])
}

/// `TextModel.set_gguf_parameters`: the keys in its order.
pub fn text_parameters(cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
    kv.u32("{arch}.block_count", block_count(cfg)?)?;
    let ctx =
        ["max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"];
    if let Some(n) = cfg.find_u64(&ctx)? {
        kv.u32("{arch}.context_length", n)?;
    }
    if let Some(n) = cfg.find_u64(&["hidden_size", "n_embd", "dim"])? {
        kv.u32("{arch}.embedding_length", n)?;
    }
    let ff =
        ["prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim"];
    if let Some(n) = cfg.find_u64(&ff)? {
        kv.u32("{arch}.feed_forward_length", n)?;
    }
    if let Some(n) = cfg.find_u64(&["num_attention_heads", "n_head", "n_heads"])? {
        kv.u32("{arch}.attention.head_count", n)?;
    }
    if let Some(n) = cfg.find_u64(&["num_key_value_heads", "n_kv_heads"])? {
        kv.u32("{arch}.attention.head_count_kv", n)?;
    }
    if cfg.get("is_causal").and_then(Value::as_bool) == Some(false) {
        kv.bool("{arch}.attention.causal", false);
    }
    let all = rope_parameters(cfg);
    let rope = full_attention(&all);
    if let Some(rope_type) = rope.get("rope_type").and_then(Value::as_str) {
        let factor = num(rope.get("factor"));
        match (rope_type, factor) {
            ("linear", Some(f)) => {
                kv.string("{arch}.rope.scaling.type", "linear");
                kv.f32("{arch}.rope.scaling.factor", f as f32);
            }
            ("yarn", Some(f)) => {
                kv.string("{arch}.rope.scaling.type", "yarn");
                kv.f32("{arch}.rope.scaling.factor", f as f32);
                let orig = rope
                    .get("original_max_position_embeddings")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| cfg.error("yarn rope scaling without original_max_position_embeddings"))?;
                kv.u32("{arch}.rope.scaling.original_context_length", orig)?;
                let opt = [
                    ("{arch}.rope.scaling.yarn_ext_factor", num(rope.get("extrapolation_factor"))),
                    (
                        "{arch}.rope.scaling.yarn_attn_factor",
                        num(rope.get("attention_factor")).or_else(|| num(rope.get("attn_factor"))),
                    ),
                    ("{arch}.rope.scaling.yarn_beta_fast", num(rope.get("beta_fast"))),
                    ("{arch}.rope.scaling.yarn_beta_slow", num(rope.get("beta_slow"))),
                ];
                for (key, v) in opt {
                    if let Some(v) = v {
                        kv.f32(key, v as f32);
                    }
                }
            }
            ("su" | "longrope", _) => kv.string("{arch}.rope.scaling.type", "longrope"),
            _ => {}
        }
    }
    if let Some(theta) = num(rope.get("rope_theta")) {
        kv.f32("{arch}.rope.freq_base", theta as f32);
    }
    if let Some(theta) = num(all.get("sliding_attention").and_then(|s| s.get("rope_theta"))) {
        kv.f32("{arch}.rope.freq_base_swa", theta as f32);
    }
    if let Some(eps) = cfg.find_f32(&["rms_norm_eps", "norm_eps"])? {
        kv.f32("{arch}.attention.layer_norm_rms_epsilon", eps);
    }
    if let Some(eps) = cfg.find_f32(&["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"])? {
        kv.f32("{arch}.attention.layer_norm_epsilon", eps);
    }
    if let Some(d) = cfg.find_u64(&["head_dim"])? {
        kv.u32("{arch}.attention.key_length", d)?;
        kv.u32("{arch}.attention.value_length", d)?;
    }
    kv.u32("general.file_type", u64::from(file_type))
}

/// llama3's `rope_freqs.weight`: per rotary frequency, 1, the scaling factor or the smooth
/// blend between them, computed in f32 as the reference's torch code does.
pub fn llama3_rope_freqs(cfg: &Config) -> Result<Vec<Generated>, ConvertError> {
    let rope = full_attention(&rope_parameters(cfg));
    if rope.get("rope_type").and_then(Value::as_str).map(str::to_lowercase).as_deref() != Some("llama3") {
        return Ok(Vec::new());
    }
    let base = num(rope.get("rope_theta")).unwrap_or(10000.0);
    let dim = match cfg.find_u64(&["head_dim"])? {
        Some(d) => d,
        None => cfg.require_u64(&["hidden_size"])? / cfg.require_u64(&["num_attention_heads"])?.max(1),
    };
    let factor = num(rope.get("factor")).unwrap_or(8.0);
    let low = num(rope.get("low_freq_factor")).unwrap_or(1.0);
    let high = num(rope.get("high_freq_factor")).unwrap_or(4.0);
    let old_ctx = num(rope.get("original_max_position_embeddings")).unwrap_or(8192.0);
    let low_wavelen = old_ctx / low;
    let high_wavelen = old_ctx / high;
    let mut values = Vec::new();
    for i in (0..dim).step_by(2) {
        // torch: base ** (arange(0, dim, 2, f32) / dim), then 1.0 / that, all in f32.
        let exponent = i as f32 / dim as f32;
        let freq = 1.0f32 / (base as f32).powf(exponent);
        let wavelen = (2.0 * std::f64::consts::PI) as f32 / freq;
        let v = if f64::from(wavelen) < high_wavelen {
            1.0
        } else if f64::from(wavelen) > low_wavelen {
            factor
        } else {
            let smooth = (old_ctx as f32 / wavelen - low as f32) / (high - low) as f32;
            f64::from(1.0f32 / ((1.0 - smooth) / factor as f32 + smooth))
        };
        values.push(v as f32);
    }
    Ok(vec![Generated { name: "rope_freqs.weight".into(), values }])
}
