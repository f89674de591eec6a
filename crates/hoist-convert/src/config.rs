//! config.json: the hyperparameters, as a JSON object with a few typed getters.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::ConvertError;

/// The model's config.json (with `text_config` merged into the top level, as llama.cpp's
/// converter does for multimodal wrappers).
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    map: Map<String, Value>,
}

impl Config {
    pub fn load(dir: &Path) -> Result<Config, ConvertError> {
        if !dir.is_dir() {
            return Err(ConvertError::NotADirectory { path: dir.to_path_buf() });
        }
        let path = dir.join("config.json");
        if !path.is_file() {
            return Err(ConvertError::NoConfig { path: dir.to_path_buf() });
        }
        let text = std::fs::read_to_string(&path).map_err(ConvertError::io(&path))?;
        Config::parse(&path, &text)
    }

    /// Parses config.json text; `path` is only for messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConvertError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ConvertError::Config { path: path.to_path_buf(), reason: format!("invalid JSON: {e}") })?;
        let Value::Object(mut map) = value else {
            return Err(ConvertError::Config { path: path.to_path_buf(), reason: "not a JSON object".into() });
        };
        if let Some(Value::Object(text)) = map.get("text_config").cloned() {
            map.extend(text);
        }
        Ok(Config { path: path.to_path_buf(), map })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first entry of `architectures`, as llama.cpp picks the converter by it.
    pub fn architecture(&self) -> Result<&str, ConvertError> {
        self.map
            .get("architectures")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .ok_or_else(|| self.error("no \"architectures\" list naming the model class"))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Sets a key only when config.json lacks it (a default of the transformers config class).
    pub(crate) fn set_default(&mut self, key: &str, value: Value) {
        if self.get(key).is_none() {
            self.map.insert(key.to_string(), value);
        }
    }

    /// The first of `keys` present (llama.cpp's `find_hparam`).
    pub fn find(&self, keys: &[&str]) -> Option<&Value> {
        keys.iter().find_map(|k| self.get(k))
    }

    pub fn find_u64(&self, keys: &[&str]) -> Result<Option<u64>, ConvertError> {
        match self.find(keys) {
            None => Ok(None),
            Some(v) => {
                v.as_u64().map(Some).ok_or_else(|| self.error(&format!("{} is not a non-negative integer", keys[0])))
            }
        }
    }

    pub fn find_f32(&self, keys: &[&str]) -> Result<Option<f32>, ConvertError> {
        match self.find(keys) {
            None => Ok(None),
            Some(v) => {
                v.as_f64().map(|f| Some(f as f32)).ok_or_else(|| self.error(&format!("{} is not a number", keys[0])))
            }
        }
    }

    pub fn require_u64(&self, keys: &[&str]) -> Result<u64, ConvertError> {
        self.find_u64(keys)?.ok_or_else(|| self.error(&format!("missing {}", keys.join(" / "))))
    }

    pub fn error(&self, reason: &str) -> ConvertError {
        ConvertError::Config { path: self.path.clone(), reason: reason.to_string() }
    }
}
