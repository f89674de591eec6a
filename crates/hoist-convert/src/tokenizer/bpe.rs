//! Byte-level BPE (GPT-2 style) from tokenizer.json: llama.cpp's `_set_vocab_gpt2`, with
//! the pre-tokenizer named by the hash of the check text's token ids.

use std::collections::HashMap;
use std::path::Path;

use hoist_gguf::{Array, StringArray};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use super::{CONTROL, NORMAL, UNUSED, USER_DEFINED, looks_special, pre_hashes, read_json_object, special};
use crate::ConvertError;
use crate::arch::Kv;
use crate::config::Config;

/// True when tokenizer.json is a SentencePiece-converted BPE (byte fallback, a Sequence
/// decoder) that llama.cpp reads as a "llama" vocabulary rather than GPT-2 BPE.
pub fn is_llama_hf(dir: &Path) -> Result<bool, ConvertError> {
    let path = dir.join("tokenizer.json");
    // Only four small fields matter: read them without building the vocabulary and merges
    // as JSON values (a large tokenizer.json is parsed three times otherwise); anything
    // unexpected falls back to the full parse, whose errors name the file.
    if let Ok(text) = std::fs::read(&path)
        && let Ok(shape) = serde_json::from_slice::<TokenizerShape>(&text)
    {
        let (model, decoder) = (shape.model.unwrap_or_default(), shape.decoder.unwrap_or_default());
        let is_bpe = model.kind.as_deref() == Some("BPE");
        let llama3 = is_bpe && model.ignore_merges.unwrap_or(false) && !model.byte_fallback.unwrap_or(true);
        return Ok(!llama3
            && is_bpe
            && model.byte_fallback == Some(true)
            && decoder.kind.as_deref() == Some("Sequence"));
    }
    let Some(tok) = read_json_object(&path)? else { return Ok(false) };
    let model = tok.get("model");
    let field = |k: &str| model.and_then(|m| m.get(k));
    let is_bpe = field("type").and_then(Value::as_str) == Some("BPE");
    let byte_fallback = field("byte_fallback").and_then(Value::as_bool);
    let llama3 =
        is_bpe && field("ignore_merges").and_then(Value::as_bool).unwrap_or(false) && !byte_fallback.unwrap_or(true);
    let sequence_decoder = tok.get("decoder").and_then(|d| d.get("type")).and_then(Value::as_str) == Some("Sequence");
    Ok(!llama3 && is_bpe && byte_fallback == Some(true) && sequence_decoder)
}

/// The fields of tokenizer.json that [`is_llama_hf`] reads.
#[derive(serde::Deserialize)]
struct TokenizerShape {
    model: Option<ModelShape>,
    decoder: Option<DecoderShape>,
}

#[derive(serde::Deserialize, Default)]
struct ModelShape {
    #[serde(rename = "type")]
    kind: Option<String>,
    byte_fallback: Option<bool>,
    ignore_merges: Option<bool>,
}

#[derive(serde::Deserialize, Default)]
struct DecoderShape {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub fn load(dir: &Path) -> Result<Tokenizer, ConvertError> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(ConvertError::Tokenizer {
            path: dir.to_path_buf(),
            reason: "no tokenizer.json and no tokenizer.model".into(),
        });
    }
    Tokenizer::from_file(&path).map_err(|e| ConvertError::Tokenizer { path, reason: format!("cannot load: {e}") })
}

/// The pre-tokenizer name llama.cpp derives from the sha256 of `str(token_ids)`.
pub fn pre_tokenizer(dir: &Path, tokenizer: &mut Tokenizer) -> Result<&'static str, ConvertError> {
    let path = dir.join("tokenizer.json");
    // transformers encodes without the truncation and padding a tokenizer.json may set
    // (all-MiniLM-L6-v2 truncates at 128), and so must the hash.
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| ConvertError::Tokenizer {
        path: path.clone(),
        reason: format!("cannot turn truncation off: {e}"),
    })?;
    let enc = tokenizer.encode(pre_hashes::CHECK_TEXT, true).map_err(|e| ConvertError::Tokenizer {
        path: path.clone(),
        reason: format!("cannot encode the check text: {e}"),
    })?;
    let ids: Vec<String> = enc.get_ids().iter().map(u32::to_string).collect();
    let hash = hex(&Sha256::digest(format!("[{}]", ids.join(", ")).as_bytes()));
    match pre_hashes::KNOWN.binary_search_by(|(h, _)| h.cmp(&hash.as_str())) {
        Ok(i) => Ok(pre_hashes::KNOWN.get(i).map(|(_, n)| *n).unwrap_or_default()),
        Err(_) => Err(ConvertError::UnknownPreTokenizer { path, hash }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tokens and types (llama.cpp's `get_vocab_base`), `[PAD{i}]` for ids with no token.
pub fn vocab_base(dir: &Path, cfg: &Config, tokenizer: &Tokenizer) -> Result<(Vec<String>, Vec<i32>), ConvertError> {
    let vocab = tokenizer.get_vocab(true);
    let size = match cfg.find_u64(&["vocab_size"])? {
        Some(n) => n as usize,
        None => vocab.len(),
    };
    if vocab.values().any(|&id| id as usize >= size) {
        return Err(ConvertError::Tokenizer {
            path: dir.join("tokenizer.json"),
            reason: format!("token ids reach past vocab_size {size} of config.json"),
        });
    }
    let reverse: HashMap<u32, &String> = vocab.iter().map(|(t, &id)| (id, t)).collect();
    let added = tokenizer.get_added_tokens_decoder();
    let added_contents: HashMap<&str, bool> = added.values().map(|t| (t.content.as_str(), t.special)).collect();
    let mut tokens = Vec::with_capacity(size);
    let mut types = Vec::with_capacity(size);
    for i in 0..size as u32 {
        let Some(&token) = reverse.get(&i) else {
            tokens.push(format!("[PAD{i}]"));
            types.push(UNUSED);
            continue;
        };
        if added_contents.contains_key(token.as_str()) {
            let special = added.get(&i).map(|t| t.special).unwrap_or(false);
            if special || looks_special(token) {
                types.push(CONTROL);
                tokens.push(token.clone());
            } else {
                types.push(USER_DEFINED);
                tokens.push(token.replace('\u{2581}', " "));
            }
        } else {
            types.push(NORMAL);
            tokens.push(token.clone());
        }
    }
    Ok((tokens, types))
}

/// llama.cpp's `_set_vocab_gpt2`.
pub fn set_vocab(dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
    // The tokenizer and the special tokens both read tokenizer.json: on both cores at once.
    let (tokenizer, special) = rayon::join(|| load(dir), || special::SpecialVocab::load(dir, true, None));
    let mut tokenizer = tokenizer?;
    let (tokens, types) = vocab_base(dir, cfg, &tokenizer)?;
    let pre = pre_tokenizer(dir, &mut tokenizer)?;
    kv.string("tokenizer.ggml.model", "gpt2");
    kv.string("tokenizer.ggml.pre", pre);
    let mut list = StringArray::new();
    for t in &tokens {
        list.push(t);
    }
    kv.array("tokenizer.ggml.tokens", Array::String(list));
    kv.array("tokenizer.ggml.token_type", Array::I32(types));
    special?.write(kv)
}
