//! Architectures: which GGUF architecture a Hugging Face model class becomes, how its
//! hyperparameters become metadata, how its tensors are named and transformed.

mod bert;
mod common;
mod gemma;
mod llama;
mod phi3;
mod qwen;

use std::path::Path;

use hoist_gguf::{GgufWriter, Value};

use crate::ConvertError;
use crate::config::Config;

pub use bert::Bert;
pub use gemma::Gemma;
pub use llama::Llama;
pub use phi3::Phi3;
pub use qwen::Qwen;

/// What a source tensor becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// Dropped, as llama.cpp drops it (rotary caches, attention masks).
    Skip,
    /// Written under `name`, with `transform` applied to its elements.
    Tensor { name: String, transform: Transform },
}

/// An element-level change made on the way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    None,
    /// Gemma's RMS norm weights: `w + 1` (in F16 when the tensor is F16, as torch adds).
    AddOne,
    /// Only the first rows (gemma3 drops embedding rows past the real vocabulary).
    TakeRows(u64),
    /// llama's q/k rows: `reshape(heads, 2, rows / heads / 2, ...).swapaxes(1, 2)`, undoing
    /// the rotary layout Hugging Face's conversion applied.
    Permute {
        heads: u64,
    },
}

/// A tensor the converter makes rather than reads (llama3's rope_freqs).
#[derive(Debug, Clone)]
pub struct Generated {
    pub name: String,
    pub values: Vec<f32>,
}

/// One supported architecture.
pub trait Architecture: Send + Sync {
    /// The GGUF `general.architecture`.
    fn gguf_name(&self) -> &'static str;
    /// Keys the reference adds while making its tensors, right after `general.architecture`.
    fn early_metadata(&self, _cfg: &Config, _kv: &mut Kv) -> Result<(), ConvertError> {
        Ok(())
    }
    /// `{arch}.*` keys (and `general.file_type`), in the reference's order.
    fn set_parameters(&self, cfg: &Config, w: &mut Kv, file_type: u32) -> Result<(), ConvertError>;
    /// Maps a checkpoint tensor name; `None` when the mapping does not know it.
    fn map_tensor(&self, cfg: &Config, name: &str) -> Result<Option<Mapped>, ConvertError>;
    /// Tensors written before the checkpoint's.
    fn generated(&self, cfg: &Config) -> Result<Vec<Generated>, ConvertError>;
    /// The tokenizer keys.
    fn set_vocab(&self, dir: &Path, cfg: &Config, w: &mut Kv) -> Result<(), ConvertError>;
}

/// The Hugging Face classes supported, for messages.
pub const SUPPORTED: &str = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, BertModel, BertForMaskedLM, Phi3ForCausalLM";

/// The architecture of a model class (`architectures[0]` of config.json); applies the
/// defaults its transformers config class would add, as the reference sees them.
pub fn detect(cfg: &mut Config) -> Result<Box<dyn Architecture>, ConvertError> {
    let class = cfg.architecture()?.to_string();
    match class.as_str() {
        "LlamaForCausalLM" | "LLaMAForCausalLM" | "MistralForCausalLM" => {
            Llama::apply_defaults(cfg, &class);
            Ok(Box::new(Llama))
        }
        "Qwen2ForCausalLM" | "Qwen3ForCausalLM" => {
            let qwen = Qwen { v3: class == "Qwen3ForCausalLM" };
            qwen.apply_defaults(cfg);
            let dir = cfg.path().parent().unwrap_or(Path::new(".")).to_path_buf();
            qwen.check_supported(&dir, cfg)?;
            Ok(Box::new(qwen))
        }
        "Gemma2ForCausalLM" | "Gemma3ForCausalLM" => {
            let gemma = Gemma { v3: class == "Gemma3ForCausalLM" };
            gemma.apply_defaults(cfg);
            Ok(Box::new(gemma))
        }
        "BertModel" | "BertForMaskedLM" => {
            Bert::apply_defaults(cfg);
            Bert::check_supported(cfg)?;
            Ok(Box::new(Bert))
        }
        "Phi3ForCausalLM" => {
            Phi3::apply_defaults(cfg);
            Ok(Box::new(Phi3))
        }
        _ => Err(ConvertError::UnsupportedArchitecture {
            path: cfg.path().to_path_buf(),
            arch: class,
            supported: SUPPORTED,
        }),
    }
}

/// The metadata being built: keys in insertion order, a key set twice keeps its first place
/// (as the reference's dict does), and empty strings and arrays are not written.
pub struct Kv<'a> {
    pub arch: &'static str,
    pub w: &'a mut GgufWriter,
    /// The model's config.json, named when a value does not fit its key's type.
    pub source: &'a Path,
}

impl Kv<'_> {
    pub fn u32(&mut self, key: &str, v: u64) -> Result<(), ConvertError> {
        let v = u32::try_from(v).map_err(|_| ConvertError::Config {
            path: self.source.to_path_buf(),
            reason: format!("{key} = {v} does not fit a u32"),
        })?;
        self.w.add_metadata(self.key(key), Value::U32(v));
        Ok(())
    }
    pub fn i32(&mut self, key: &str, v: i32) {
        self.w.add_metadata(self.key(key), Value::I32(v));
    }
    pub fn f32(&mut self, key: &str, v: f32) {
        self.w.add_metadata(self.key(key), Value::F32(v));
    }
    pub fn bool(&mut self, key: &str, v: bool) {
        self.w.add_metadata(self.key(key), Value::Bool(v));
    }
    pub fn string(&mut self, key: &str, v: &str) {
        if !v.is_empty() {
            self.w.add_metadata(self.key(key), Value::String(v.to_string()));
        }
    }
    pub fn array(&mut self, key: &str, a: hoist_gguf::Array) {
        if !a.is_empty() {
            self.w.add_metadata(self.key(key), Value::Array(a));
        }
    }
    /// `{arch}` in a key is the architecture name.
    fn key(&self, key: &str) -> String {
        key.replace("{arch}", self.arch)
    }
}

/// Looks `name` up in a table of (Hugging Face, GGUF) names where `{bid}` stands for a
/// block number below `n_blocks`; tries the name as is, then without `.weight` / `.bias`
/// (re-added after).
pub fn lookup(table: &[(&str, &str)], name: &str, n_blocks: u64) -> Option<String> {
    let find = |key: &str| {
        table.iter().find_map(|(hf, gguf)| match hf.split_once("{bid}") {
            None => (*hf == key).then(|| gguf.to_string()),
            Some((pre, post)) => {
                let digits = key.strip_prefix(pre)?.strip_suffix(post)?;
                let bid: u64 = digits.parse().ok().filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))?;
                (bid < n_blocks).then(|| gguf.replace("{bid}", digits))
            }
        })
    };
    if let Some(n) = find(name) {
        return Some(n);
    }
    [".weight", ".bias"].iter().find_map(|suffix| Some(find(name.strip_suffix(suffix)?)? + suffix))
}

/// The tensors every converter drops (llama.cpp's prepare_tensors).
pub fn always_skipped(name: &str) -> bool {
    name.ends_with(".attention.masked_bias")
        || name.ends_with(".attention.bias")
        || name.ends_with(".rotary_emb.inv_freq")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_fills_the_block_and_keeps_the_suffix() {
        let t = [("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"), ("lm_head", "output")];
        assert_eq!(lookup(&t, "model.layers.12.self_attn.q_proj.weight", 13).as_deref(), Some("blk.12.attn_q.weight"));
        assert_eq!(lookup(&t, "model.layers.3.self_attn.q_proj.bias", 13).as_deref(), Some("blk.3.attn_q.bias"));
        assert_eq!(lookup(&t, "lm_head.weight", 13).as_deref(), Some("output.weight"));
        assert_eq!(lookup(&t, "model.layers.x.self_attn.q_proj.weight", 13), None);
        assert_eq!(lookup(&t, "model.layers.1.self_attn.q_proj.scale", 13), None);
        assert_eq!(lookup(&t, "model.layers.13.self_attn.q_proj.weight", 13), None);
    }
}
