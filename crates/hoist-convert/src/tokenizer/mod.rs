//! Tokenizers: the `tokenizer.*` keys from tokenizer.model (SentencePiece), tokenizer.json
//! (BPE) and tokenizer_config.json, as llama.cpp's converter writes them.

pub mod bpe;
mod pre_hashes;
pub mod special;
pub mod spm;

use std::path::Path;

use serde_json::{Map, Value};

use crate::ConvertError;

/// GGUF token types (llama.cpp's `TokenType`).
pub const NORMAL: i32 = 1;
pub const UNKNOWN: i32 = 2;
pub const CONTROL: i32 = 3;
pub const USER_DEFINED: i32 = 4;
pub const UNUSED: i32 = 5;
pub const BYTE: i32 = 6;

/// tokenizer_config.json, when the model has one.
pub struct TokenizerConfig;

impl TokenizerConfig {
    pub fn load(dir: &Path) -> Result<Option<Map<String, Value>>, ConvertError> {
        read_json_object(&dir.join("tokenizer_config.json"))
    }
}

/// A JSON object file, `None` when the file is absent.
pub(crate) fn read_json_object(path: &Path) -> Result<Option<Map<String, Value>>, ConvertError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(ConvertError::io(path))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(ConvertError::Tokenizer { path: path.to_path_buf(), reason: "not a JSON object".into() }),
        Err(e) => Err(ConvertError::Tokenizer { path: path.to_path_buf(), reason: format!("invalid JSON: {e}") }),
    }
}

/// llama.cpp's `does_token_look_special`: added tokens some models forget to mark special.
pub fn looks_special(token: &str) -> bool {
    matches!(token, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (token.starts_with("<|") && token.ends_with("|>"))
        || (token.starts_with("<｜") && token.ends_with("｜>"))
        || (token.starts_with("<unused") && token.ends_with('>'))
}
