//! bert (embedding models such as all-MiniLM-L6-v2): llama.cpp's `BertModel`, with the
//! WordPiece vocabulary written as a "phantom space" vocabulary.

use std::path::Path;

use hoist_gguf::{Array, StringArray};
use serde_json::{Value, json};

use super::common::{block_count, pooling_type, text_parameters};
use super::{Architecture, Generated, Kv, Mapped, Transform, always_skipped, lookup};
use crate::ConvertError;
use crate::config::Config;
use crate::tokenizer::{self, CONTROL};

const NAMES: &[(&str, &str)] = &[
    ("embeddings.word_embeddings", "token_embd"),
    ("embeddings.token_type_embeddings", "token_types"),
    ("embeddings.position_embeddings", "position_embd"),
    ("embeddings.LayerNorm", "token_embd_norm"),
    ("encoder.layer.{bid}.attention.self.query", "blk.{bid}.attn_q"),
    ("encoder.layer.{bid}.attention.self.key", "blk.{bid}.attn_k"),
    ("encoder.layer.{bid}.attention.self.value", "blk.{bid}.attn_v"),
    ("encoder.layer.{bid}.attention.output.dense", "blk.{bid}.attn_output"),
    ("encoder.layer.{bid}.attention.output.LayerNorm", "blk.{bid}.attn_output_norm"),
    ("encoder.layer.{bid}.intermediate.dense", "blk.{bid}.ffn_up"),
    ("encoder.layer.{bid}.output.dense", "blk.{bid}.ffn_down"),
    ("encoder.layer.{bid}.output.LayerNorm", "blk.{bid}.layer_output_norm"),
];

pub struct Bert;

impl Bert {
    /// BertConfig defaults the reference sees through `AutoConfig`.
    pub fn apply_defaults(cfg: &mut Config) {
        cfg.set_default("vocab_size", json!(30522));
        cfg.set_default("hidden_size", json!(768));
        cfg.set_default("num_hidden_layers", json!(12));
        cfg.set_default("num_attention_heads", json!(12));
        cfg.set_default("intermediate_size", json!(3072));
        cfg.set_default("max_position_embeddings", json!(512));
        cfg.set_default("type_vocab_size", json!(2));
        cfg.set_default("layer_norm_eps", json!(1e-12));
    }

    /// A classification head (labels other than transformers' dummy LABEL_0/LABEL_1) is not
    /// written yet.
    pub fn check_supported(cfg: &Config) -> Result<(), ConvertError> {
        let Some(labels) = cfg.get("id2label").and_then(Value::as_object) else { return Ok(()) };
        let dummy = labels.len() == 2 && labels.get("0").and_then(Value::as_str) == Some("LABEL_0");
        if dummy { Ok(()) } else { Err(cfg.error("a sequence-classification head (id2label) is not supported yet")) }
    }
}

/// BertModel's renames before mapping: no `bert.` prefix, gamma/beta as weight/bias.
fn rename(name: &str) -> String {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    if let Some(stem) = name.strip_suffix(".gamma") {
        return format!("{stem}.weight");
    }
    if let Some(stem) = name.strip_suffix(".beta") {
        return format!("{stem}.bias");
    }
    name.to_string()
}

impl Architecture for Bert {
    fn gguf_name(&self) -> &'static str {
        "bert"
    }

    fn set_parameters(&self, cfg: &Config, kv: &mut Kv, file_type: u32) -> Result<(), ConvertError> {
        text_parameters(cfg, kv, file_type)?;
        kv.bool("{arch}.attention.causal", false);
        let dir = cfg.path().parent().unwrap_or(Path::new("."));
        pooling_type(dir, cfg, kv)
    }

    fn map_tensor(&self, cfg: &Config, name: &str) -> Result<Option<Mapped>, ConvertError> {
        let name = rename(name).replace("language_model.", "");
        // Only the encoder is used for embeddings: the pooler and the pretraining heads go.
        let unused = matches!(name.as_str(), "embeddings.position_ids" | "pooler.dense.weight" | "pooler.dense.bias")
            || name.starts_with("cls.predictions")
            || name.starts_with("cls.seq_relationship");
        if unused || always_skipped(&name) {
            return Ok(Some(Mapped::Skip));
        }
        Ok(lookup(NAMES, &name, block_count(cfg)?).map(|name| Mapped::Tensor { name, transform: Transform::None }))
    }

    fn generated(&self, _cfg: &Config) -> Result<Vec<Generated>, ConvertError> {
        Ok(Vec::new())
    }

    fn set_vocab(&self, dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
        let mut tok = tokenizer::bpe::load(dir)?;
        let (tokens, types) = tokenizer::bpe::vocab_base(dir, cfg, &tok)?;
        let pre = tokenizer::bpe::pre_tokenizer(dir, &mut tok)?;
        kv.u32("tokenizer.ggml.token_type_count", cfg.find_u64(&["type_vocab_size"])?.unwrap_or(1))?;
        // The phantom-space vocabulary: "##x" continues a word, anything else starts one.
        let mut list = StringArray::new();
        for (t, &ty) in tokens.iter().zip(&types) {
            if ty == CONTROL {
                list.push(t);
            } else if let Some(rest) = t.strip_prefix("##") {
                list.push(rest);
            } else {
                list.push(format!("\u{2581}{t}"));
            }
        }
        kv.string("tokenizer.ggml.model", "bert");
        kv.string("tokenizer.ggml.pre", pre);
        kv.array("tokenizer.ggml.tokens", Array::String(list));
        kv.array("tokenizer.ggml.token_type", Array::I32(types));
        tokenizer::special::SpecialVocab::load(dir, false, Some(tokens.len()))?.write(kv)
    }
}
