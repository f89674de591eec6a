//! Deep inspection: everything `hoist inspect --gguf` shows about one header.

use std::fmt;

use serde::Serialize;

use crate::value::quoted;
use crate::{Array, ByteOrder, GgmlType, GgufError, GgufHeader, ModelSummary, Value, ValueType, format_parameters};

/// Arrays longer than this are summarised: the first [`ARRAY_PREVIEW`] values and the count.
pub const ARRAY_INLINE_MAX: usize = 16;
/// Values shown of a summarised array.
pub const ARRAY_PREVIEW: usize = 5;
/// Strings longer than this (chat templates, licenses) are cut in the display form.
pub const STRING_PREVIEW_CHARS: usize = 120;

/// What a GGUF file is, from its metadata.
///
/// A drafter (a small model used for speculative decoding) is an ordinary model file:
/// nothing in its header marks it, so it reports as [`FileKind::Model`]; which model is
/// the drafter is decided by how it is run (`llama-server -md`), recorded in an
/// artifact's command, not by the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Model,
    /// A multimodal projector (mmproj): `general.type == "mmproj"`, architecture `clip`
    /// or `clip.*` keys.
    Projector,
    /// A LoRA adapter: `general.type == "adapter"` or `adapter.*` keys.
    Adapter,
    /// A control vector: architecture `controlvector`.
    ControlVector,
    /// An importance matrix: `general.type == "imatrix"` or `imatrix.*` keys.
    Imatrix,
}

impl FileKind {
    /// Decides the kind from the metadata (see the variants for the rules).
    pub fn of(header: &GgufHeader) -> FileKind {
        let general_type = header.get("general.type").and_then(Value::as_str).unwrap_or("");
        let arch = header.architecture().unwrap_or("");
        let has_prefix = |p: &str| header.metadata.iter().any(|(k, _)| k.starts_with(p));
        if general_type == "mmproj" || arch == "clip" || has_prefix("clip.") {
            FileKind::Projector
        } else if general_type == "adapter" || has_prefix("adapter.") {
            FileKind::Adapter
        } else if arch == "controlvector" || has_prefix("controlvector.") {
            FileKind::ControlVector
        } else if general_type == "imatrix" || has_prefix("imatrix.") {
            FileKind::Imatrix
        } else {
            FileKind::Model
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Model => "model",
            FileKind::Projector => "projector",
            FileKind::Adapter => "adapter",
            FileKind::ControlVector => "control vector",
            FileKind::Imatrix => "imatrix",
        }
    }
}

/// One metadata entry, its value rendered for people with long arrays summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataEntry {
    pub key: String,
    /// "u32", "string", "[string]", "[[i32]]" ...
    #[serde(rename = "type")]
    pub value_type: String,
    /// Numbers plain, strings as-is (full length), arrays as `[1, 2, 3]`, or for arrays
    /// longer than [`ARRAY_INLINE_MAX`]: `[151936 strings: "!", "\"", "#", "$", "%", …]`.
    pub value: String,
    /// Element count for arrays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub array_len: Option<u64>,
}

/// One tensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorRow {
    pub name: String,
    /// ggml order (`shape[0]` is the row length).
    pub shape: Vec<u64>,
    #[serde(rename = "type")]
    pub ggml_type: GgmlType,
    pub elements: u64,
    pub bytes: u64,
    /// Relative to the data section.
    pub offset: u64,
}

/// Tensors of one type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeStats {
    #[serde(rename = "type")]
    pub ggml_type: GgmlType,
    pub tensors: u64,
    pub parameters: u64,
    pub bytes: u64,
}

/// A special token id and, when the vocabulary is present, its text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpecialToken {
    /// "bos", "eos", "unk", "pad", "sep", "cls", "mask", "eot", "eom".
    pub role: String,
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `tokenizer.*` facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenizerFacts {
    /// `tokenizer.ggml.model` ("llama", "gpt2", "bert", "t5", ...).
    pub model: Option<String>,
    /// `tokenizer.ggml.pre` (the pre-tokenizer, "qwen2", "llama-bpe", ...).
    pub pre: Option<String>,
    /// Length of `tokenizer.ggml.tokens`.
    pub vocab_size: Option<u64>,
    pub special: Vec<SpecialToken>,
    /// Length of `tokenizer.ggml.merges` (BPE), if present.
    pub merges: Option<u64>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
}

/// `split.*` facts of a shard.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SplitFacts {
    /// 0-based shard index.
    pub no: u64,
    pub count: u64,
    /// Tensors across all shards.
    pub tensors_count: Option<u64>,
}

/// Everything `hoist inspect --gguf` prints. `Display` gives the text form; `serde`
/// gives the JSON form (types serialise as their names, "Q4_K").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GgufReport {
    pub kind: FileKind,
    pub version: u32,
    pub byte_order: ByteOrder,
    pub alignment: u64,
    /// Header bytes (where the tensor data starts).
    pub header_bytes: u64,
    pub summary: ModelSummary,
    pub metadata: Vec<MetadataEntry>,
    pub tensors: Vec<TensorRow>,
    /// By bytes, largest first.
    pub types: Vec<TypeStats>,
    pub tokenizer: Option<TokenizerFacts>,
    /// Characters of `tokenizer.chat_template`, if present.
    pub chat_template_chars: Option<u64>,
    /// Named templates (`tokenizer.chat_template.<name>`, e.g. "tool_use").
    pub chat_template_names: Vec<String>,
    pub split: Option<SplitFacts>,
}

impl GgufHeader {
    /// The deep-inspection report; fails like [`GgufHeader::summary`] when a tensor's
    /// size is unknown.
    pub fn report(&self) -> Result<GgufReport, GgufError> {
        let summary = self.summary()?;
        let metadata = self.metadata.iter().map(|(k, v)| metadata_entry(k, v)).collect();
        let mut tensors = Vec::with_capacity(self.tensors.len());
        let mut types: Vec<TypeStats> = Vec::new();
        for t in &self.tensors {
            let elements = t.element_count().unwrap_or(0);
            let bytes = t.checked_byte_size()?;
            tensors.push(TensorRow {
                name: t.name.clone(),
                shape: t.dims.clone(),
                ggml_type: t.ggml_type,
                elements,
                bytes,
                offset: t.offset,
            });
            let stats = match types.iter_mut().position(|s| s.ggml_type == t.ggml_type) {
                Some(i) => &mut types[i],
                None => {
                    types.push(TypeStats { ggml_type: t.ggml_type, tensors: 0, parameters: 0, bytes: 0 });
                    let last = types.len() - 1;
                    &mut types[last]
                }
            };
            stats.tensors += 1;
            stats.parameters = stats.parameters.saturating_add(elements);
            stats.bytes = stats.bytes.saturating_add(bytes);
        }
        types.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.ggml_type.id().cmp(&b.ggml_type.id())));
        let chat_template_chars =
            self.get("tokenizer.chat_template").and_then(Value::as_str).map(|s| s.chars().count() as u64);
        let chat_template_names = self
            .metadata
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("tokenizer.chat_template."))
            .map(str::to_string)
            .collect();
        let u64_of = |key: &str| self.get(key).and_then(Value::as_u64);
        let split = match (u64_of("split.no"), u64_of("split.count")) {
            (Some(no), Some(count)) => Some(SplitFacts { no, count, tensors_count: u64_of("split.tensors.count") }),
            _ => None,
        };
        Ok(GgufReport {
            kind: FileKind::of(self),
            version: self.version,
            byte_order: self.byte_order,
            alignment: self.alignment,
            header_bytes: self.data_offset,
            summary,
            metadata,
            tensors,
            types,
            tokenizer: self.tokenizer_facts(),
            chat_template_chars,
            chat_template_names,
            split,
        })
    }

    fn tokenizer_facts(&self) -> Option<TokenizerFacts> {
        if !self.metadata.iter().any(|(k, _)| k.starts_with("tokenizer.ggml.")) {
            return None;
        }
        let str_of = |key: &str| self.get(key).and_then(Value::as_str).map(str::to_string);
        let bool_of = |key: &str| match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        };
        let len_of = |key: &str| match self.get(key) {
            Some(Value::Array(a)) => Some(a.len() as u64),
            _ => None,
        };
        let tokens = match self.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) => a.as_strings(),
            _ => None,
        };
        // llama.cpp's key names (including its "seperator" spelling).
        const ROLES: [(&str, &str); 9] = [
            ("bos", "bos"),
            ("eos", "eos"),
            ("unk", "unknown"),
            ("pad", "padding"),
            ("sep", "seperator"),
            ("cls", "cls"),
            ("mask", "mask"),
            ("eot", "eot"),
            ("eom", "eom"),
        ];
        let special = ROLES
            .iter()
            .filter_map(|(role, key)| {
                let id = self.get(&format!("tokenizer.ggml.{key}_token_id")).and_then(Value::as_u64)?;
                let token = tokens.and_then(|t| t.get(usize::try_from(id).ok()?)).map(|t| t.into_owned());
                Some(SpecialToken { role: (*role).to_string(), id, token })
            })
            .collect();
        Some(TokenizerFacts {
            model: str_of("tokenizer.ggml.model"),
            pre: str_of("tokenizer.ggml.pre"),
            vocab_size: len_of("tokenizer.ggml.tokens"),
            special,
            merges: len_of("tokenizer.ggml.merges"),
            add_bos: bool_of("tokenizer.ggml.add_bos_token"),
            add_eos: bool_of("tokenizer.ggml.add_eos_token"),
        })
    }
}

/// "u32", "[string]", "[[i32]]" ...
fn type_name(v: &Value) -> String {
    match v {
        Value::Array(a) => array_type_name(a),
        other => value_type_name(other.value_type()).to_string(),
    }
}

fn array_type_name(a: &Array) -> String {
    let inner = match a {
        Array::Array(items) if !items.is_empty() => items.first().map(array_type_name).unwrap_or_default(),
        other => value_type_name(other.element_type()).to_string(),
    };
    format!("[{inner}]")
}

fn value_type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::U8 => "u8",
        ValueType::I8 => "i8",
        ValueType::U16 => "u16",
        ValueType::I16 => "i16",
        ValueType::U32 => "u32",
        ValueType::I32 => "i32",
        ValueType::F32 => "f32",
        ValueType::Bool => "bool",
        ValueType::String => "string",
        ValueType::Array => "array",
        ValueType::U64 => "u64",
        ValueType::I64 => "i64",
        ValueType::F64 => "f64",
    }
}

fn metadata_entry(key: &str, v: &Value) -> MetadataEntry {
    let (value, array_len) = match v {
        Value::Array(a) if a.len() > ARRAY_INLINE_MAX => {
            let preview: Vec<String> = (0..ARRAY_PREVIEW).map_while(|i| item_string(a, i)).collect();
            let noun = match a.element_type() {
                ValueType::String => "strings".to_string(),
                ValueType::Array => "arrays".to_string(),
                t => value_type_name(t).to_string(),
            };
            (format!("[{} {noun}: {}, …]", a.len(), preview.join(", ")), Some(a.len() as u64))
        }
        Value::Array(a) => (v.to_display_string(), Some(a.len() as u64)),
        other => (other.to_display_string(), None),
    };
    MetadataEntry { key: key.to_string(), value_type: type_name(v), value, array_len }
}

/// Item `i` as it appears inside `[...]` (strings quoted, nested arrays summarised).
fn item_string(a: &Array, i: usize) -> Option<String> {
    match a {
        Array::Array(items) => {
            let inner = items.get(i)?;
            Some(if inner.len() > ARRAY_INLINE_MAX {
                format!("[{} items]", inner.len())
            } else {
                inner.to_display_string()
            })
        }
        Array::String(items) => Some(quoted(&items.get(i)?)),
        other => Some(other.get(i)?.to_display_string()),
    }
}

fn one_line(s: &str) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() > STRING_PREVIEW_CHARS {
        let cut: String = flat.chars().take(STRING_PREVIEW_CHARS).collect();
        format!("{cut}… ({} chars)", s.chars().count())
    } else {
        flat
    }
}

/// "1.50 GiB", "896 B": binary units with two decimals.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.2} {}", UNITS[unit]) }
}

impl fmt::Display for GgufReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        writeln!(f, "kind:          {}", self.kind.as_str())?;
        writeln!(f, "architecture:  {}", s.architecture.as_deref().unwrap_or("-"))?;
        if let Some(name) = &s.name {
            writeln!(f, "name:          {}", one_line(name))?;
        }
        writeln!(f, "parameters:    {} ({})", format_parameters(s.parameters), s.parameters)?;
        writeln!(f, "file type:     {}", s.file_type.as_deref().unwrap_or("-"))?;
        writeln!(f, "bits/weight:   {:.2}", s.bits_per_weight)?;
        writeln!(f, "tensor bytes:  {} ({})", format_bytes(s.tensor_bytes), s.tensor_bytes)?;
        if let Some(ctx) = s.context_length {
            writeln!(f, "context:       {ctx}")?;
        }
        let order = if self.byte_order == ByteOrder::Little { "little-endian" } else { "big-endian" };
        writeln!(
            f,
            "gguf:          v{}, {order}, alignment {}, header {} bytes",
            self.version, self.alignment, self.header_bytes
        )?;
        if let Some(sp) = &self.split {
            let total = sp.tensors_count.map(|n| format!(", {n} tensors in all")).unwrap_or_default();
            writeln!(f, "split:         shard {} of {}{total}", sp.no + 1, sp.count)?;
        }
        match self.chat_template_chars {
            Some(n) => writeln!(f, "chat template: {n} chars")?,
            None => writeln!(f, "chat template: none")?,
        }
        if !self.chat_template_names.is_empty() {
            writeln!(f, "templates:     {}", self.chat_template_names.join(", "))?;
        }
        if let Some(t) = &self.tokenizer {
            writeln!(f, "\nTOKENIZER")?;
            writeln!(f, "  model:       {}", t.model.as_deref().unwrap_or("-"))?;
            if let Some(pre) = &t.pre {
                writeln!(f, "  pre:         {pre}")?;
            }
            if let Some(n) = t.vocab_size {
                writeln!(f, "  vocabulary:  {n} tokens")?;
            }
            match t.merges {
                Some(n) => writeln!(f, "  merges:      {n}")?,
                None => writeln!(f, "  merges:      none")?,
            }
            for sp in &t.special {
                let text = sp.token.as_deref().map(|t| format!(" {}", quoted(t)));
                writeln!(f, "  {:<12} {}{}", format!("{}:", sp.role), sp.id, text.unwrap_or_default())?;
            }
        }
        writeln!(f, "\nMETADATA ({} keys)", self.metadata.len())?;
        let width = self.metadata.iter().map(|m| m.key.len()).max().unwrap_or(0).min(48);
        for m in &self.metadata {
            writeln!(f, "  {:<width$}  {:<9} {}", m.key, m.value_type, one_line(&m.value))?;
        }
        writeln!(f, "\nTYPES")?;
        writeln!(f, "  {:<8} {:>8} {:>16} {:>12}", "TYPE", "TENSORS", "PARAMETERS", "BYTES")?;
        for t in &self.types {
            writeln!(
                f,
                "  {:<8} {:>8} {:>16} {:>12}",
                t.ggml_type.name(),
                t.tensors,
                format_parameters(t.parameters),
                format_bytes(t.bytes)
            )?;
        }
        writeln!(f, "\nTENSORS ({})", self.tensors.len())?;
        let width = self.tensors.iter().map(|t| t.name.len()).max().unwrap_or(0).min(48);
        for t in &self.tensors {
            let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
            writeln!(
                f,
                "  {:<width$}  {:<24} {:<8} {:>12}",
                t.name,
                format!("[{}]", shape.join(", ")),
                t.ggml_type.name(),
                format_bytes(t.bytes)
            )?;
        }
        Ok(())
    }
}
