//! What a packed model is, gathered from the files themselves: GGUF headers,
//! safetensors headers and the Hugging Face `config.json`.

use std::collections::BTreeMap;

use hoist_gguf::{GgufHeader, Value, format_parameters};
use serde_json::Value as Json;

use super::classify::FileRole;
use super::safetensors::SafetensorsHeader;
use super::source::SourceFile;

/// GGUF arrays longer than this are left out of the config's metadata map
/// (token lists would otherwise make the config megabytes long).
const MAX_ARRAY_IN_CONFIG: usize = 50;

/// config.json keys that hold the context length, in order of preference.
const CONTEXT_KEYS: &[&str] =
    &["max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"];

/// What reading one file taught us.
#[derive(Debug, Clone)]
pub enum FileFacts {
    Gguf(Box<GgufHeader>),
    Safetensors(SafetensorsHeader),
    /// A top-level `config.json`.
    HfConfig(Json),
    Nothing,
}

/// The weight format of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFormat {
    Gguf,
    Safetensors,
    Dduf,
    /// Another weight file type, named by its extension (`bin`, `onnx` ...).
    Other(String),
}

impl ModelFormat {
    pub fn as_str(&self) -> &str {
        match self {
            ModelFormat::Gguf => "gguf",
            ModelFormat::Safetensors => "safetensors",
            ModelFormat::Dduf => "dduf",
            ModelFormat::Other(ext) => ext,
        }
    }
}

/// The facts a model artifact's config records.
#[derive(Debug, Clone)]
pub struct ModelFacts {
    pub format: ModelFormat,
    pub name: Option<String>,
    /// GGUF `general.architecture`, or config.json `architectures[0]`.
    pub architecture: Option<String>,
    /// config.json `model_type`, or the GGUF architecture.
    pub family: Option<String>,
    pub parameters: Option<u64>,
    /// GGUF file type (`Q4_K_M`) or config.json `quantization_config.quant_method`.
    pub quantization: Option<String>,
    /// `bfloat16`, `float16` ...
    pub precision: Option<String>,
    pub context_size: Option<u64>,
    /// Every scalar fact of the weights' headers, as strings (Docker's `gguf` / `safetensors` maps).
    pub metadata: BTreeMap<String, String>,
    /// The DDUF file name, for DDUF models.
    pub dduf_file: Option<String>,
}

impl ModelFacts {
    /// Gathers the facts from the files and what reading each taught us.
    pub fn gather(files: &[SourceFile], facts: &[FileFacts]) -> ModelFacts {
        let main = files.iter().position(|f| f.role.is_main_weight());
        let format = match main.map(|i| files[i].role) {
            Some(FileRole::Gguf) => ModelFormat::Gguf,
            Some(FileRole::Safetensors) => ModelFormat::Safetensors,
            Some(FileRole::Dduf) => ModelFormat::Dduf,
            _ => ModelFormat::Other(
                main.and_then(|i| files[i].rel_path.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()))
                    .unwrap_or_else(|| "unknown".into()),
            ),
        };
        let mut model = ModelFacts {
            format,
            name: None,
            architecture: None,
            family: None,
            parameters: None,
            quantization: None,
            precision: None,
            context_size: None,
            metadata: BTreeMap::new(),
            dduf_file: None,
        };
        match model.format {
            ModelFormat::Gguf => model.add_gguf(files, facts),
            ModelFormat::Safetensors => model.add_safetensors(facts),
            ModelFormat::Dduf => {
                model.architecture = Some("diffusers".into());
                model.dduf_file = main.map(|i| files[i].rel_path.clone());
            }
            ModelFormat::Other(_) => {}
        }
        if let Some(config) = facts.iter().find_map(|f| if let FileFacts::HfConfig(c) = f { Some(c) } else { None }) {
            model.add_hf_config(config);
        }
        model
    }

    /// The parameter count as users read it ("494.03M").
    pub fn parameters_display(&self) -> Option<String> {
        self.parameters.map(format_parameters)
    }

    fn add_gguf(&mut self, files: &[SourceFile], facts: &[FileFacts]) {
        let headers: Vec<&GgufHeader> = files
            .iter()
            .zip(facts)
            .filter(|(file, _)| file.role == FileRole::Gguf)
            .filter_map(|(_, facts)| if let FileFacts::Gguf(h) = facts { Some(h.as_ref()) } else { None })
            .collect();
        let Some(main) = headers.iter().find(|h| h.summary().is_ok_and(|s| s.split.is_none_or(|(no, _)| no == 0)))
        else {
            return;
        };
        let Ok(summary) = main.summary() else { return };
        // Shards of one split model add up; other GGUF files beside it (another
        // quantization in the same directory) do not.
        let parameters = match summary.split {
            Some((_, count)) if count > 1 => headers
                .iter()
                .filter_map(|h| h.summary().ok())
                .filter(|s| s.split.is_some_and(|(_, c)| c == count))
                .map(|s| s.parameters)
                .sum(),
            _ => summary.parameters,
        };
        self.name = summary.name.clone();
        self.architecture = summary.architecture.clone();
        self.family = summary.architecture.clone();
        self.parameters = Some(parameters);
        self.precision = summary.file_type.as_deref().and_then(float_precision).map(str::to_string);
        self.quantization = summary.file_type.clone();
        self.context_size = summary.context_length;
        for (key, value) in &main.metadata {
            if matches!(value, Value::Array(a) if a.len() > MAX_ARRAY_IN_CONFIG) {
                continue;
            }
            self.metadata.insert(key.clone(), value.to_display_string());
        }
    }

    fn add_safetensors(&mut self, facts: &[FileFacts]) {
        let mut parameters = 0u64;
        let mut by_dtype: BTreeMap<&str, u64> = BTreeMap::new();
        for header in facts.iter().filter_map(|f| if let FileFacts::Safetensors(h) = f { Some(h) } else { None }) {
            parameters = parameters.saturating_add(header.parameters);
            for (dtype, elements) in &header.elements_by_dtype {
                *by_dtype.entry(dtype).or_default() += elements;
            }
            for (key, value) in &header.metadata {
                self.metadata.insert(key.clone(), value.clone());
            }
        }
        self.parameters = Some(parameters);
        let dominant = by_dtype.iter().max_by_key(|(_, n)| **n).map(|(dtype, _)| *dtype);
        self.precision = dominant.and_then(float_precision).map(str::to_string);
        self.quantization = dominant.map(str::to_string);
    }

    fn add_hf_config(&mut self, config: &Json) {
        let text = |key: &str| config.get(key).and_then(Json::as_str).map(str::to_string);
        if let Some(architecture) =
            config.get("architectures").and_then(|a| a.get(0)).and_then(Json::as_str).map(str::to_string)
        {
            self.architecture.get_or_insert(architecture);
        }
        if let Some(family) = text("model_type") {
            self.family.get_or_insert(family);
        }
        if let Some(name) = text("_name_or_path").filter(|n| !n.is_empty()) {
            self.name.get_or_insert(name);
        }
        if let Some(dtype) = text("torch_dtype").or_else(|| text("dtype")) {
            self.precision = Some(dtype);
        }
        if let Some(method) =
            config.get("quantization_config").and_then(|q| q.get("quant_method")).and_then(Json::as_str)
        {
            self.quantization = Some(method.to_string());
        }
        if self.context_size.is_none() {
            self.context_size = CONTEXT_KEYS.iter().find_map(|key| config.get(*key).and_then(Json::as_u64));
        }
        if self.format == ModelFormat::Safetensors
            && let Some(object) = config.as_object()
        {
            for (key, value) in object {
                let scalar = match value {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    Json::Bool(b) => b.to_string(),
                    _ => continue,
                };
                self.metadata.entry(key.clone()).or_insert(scalar);
            }
        }
    }
}

/// `F16` -> `float16` ...; None for quantized types.
fn float_precision(type_name: &str) -> Option<&'static str> {
    match type_name.to_ascii_uppercase().as_str() {
        "F32" | "ALL_F32" => Some("float32"),
        "F16" => Some("float16"),
        "BF16" => Some("bfloat16"),
        "F64" => Some("float64"),
        "F8_E4M3" => Some("float8_e4m3"),
        "F8_E5M2" => Some("float8_e5m2"),
        _ => None,
    }
}
