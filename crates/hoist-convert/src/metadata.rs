//! `general.*` as gguf-py's `Metadata` fills it: name, organization, basename, finetune,
//! version, size label from the model id (config.json's `_name_or_path`, then the
//! directory name), license and the other model-card scalars from README.md's front
//! matter, sampling defaults from generation_config.json.

use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::ConvertError;
use crate::arch::Kv;
use crate::modelcard::ModelCard;
use crate::tokenizer::read_json_object;

/// The fields written, in gguf-py's `set_gguf_meta_model` order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct General {
    pub name: Option<String>,
    pub author: Option<String>,
    pub version: Option<String>,
    pub organization: Option<String>,
    pub finetune: Option<String>,
    pub basename: Option<String>,
    pub description: Option<String>,
    pub size_label: Option<String>,
    pub license: Option<String>,
    pub license_name: Option<String>,
    pub license_link: Option<String>,
    pub source_url: Option<String>,
    pub source_doi: Option<String>,
    pub source_uuid: Option<String>,
    pub source_repo_url: Option<String>,
    pub base_models: Option<Vec<Source>>,
    pub datasets: Option<Vec<Source>>,
    pub tags: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    sampling: Vec<(&'static str, Value)>,
}

/// A base model or dataset of the model card, as gguf-py derives it from an id or URL.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Source {
    pub name: Option<String>,
    pub version: Option<String>,
    pub organization: Option<String>,
    pub repo_url: Option<String>,
}

impl Source {
    fn from_entry(id: &str, total_params: i64) -> Source {
        let mut s = Source::default();
        if id.starts_with("http://") || id.starts_with("https://") || id.starts_with("ssh://") {
            s.repo_url = Some(id.to_string());
            let re = Regex::new(r"^https?://huggingface.co/([^/]+/[^/]+)$").ok();
            if id.contains("huggingface.co")
                && let Some(c) = re.as_ref().and_then(|r| r.captures(id))
                && let Some(m) = c.get(1)
            {
                let p = model_id_components(m.as_str(), total_params);
                s.name = p.full_name.as_deref().map(id_to_title);
                s.organization = p.org.as_deref().map(id_to_title);
                s.version = p.version;
            }
        } else {
            let p = model_id_components(id, total_params);
            s.name = p.full_name.as_deref().map(id_to_title);
            s.organization = p.org.as_deref().map(id_to_title);
            s.version = p.version;
            if let (Some(org), Some(name)) = (&p.org, &p.full_name) {
                s.repo_url = Some(format!("https://huggingface.co/{org}/{name}"));
            }
        }
        s
    }
}

/// The parts of a model id (gguf-py's `get_model_id_components`).
#[derive(Debug, Default, PartialEq)]
pub struct IdParts {
    pub full_name: Option<String>,
    pub org: Option<String>,
    pub basename: Option<String>,
    pub finetune: Option<String>,
    pub version: Option<String>,
    pub size_label: Option<String>,
}

pub fn model_id_components(model_id: &str, total_params: i64) -> IdParts {
    if model_id.contains(' ') {
        return IdParts { full_name: Some(model_id.to_string()), ..Default::default() };
    }
    let (mut org, full) = match model_id.split_once('/') {
        Some((o, n)) => (Some(o.to_string()), n.to_string()),
        None => (None, model_id.to_string()),
    };
    if org.as_deref().is_some_and(|o| o.starts_with('.')) {
        org = None;
    }
    let re_version = Regex::new(r"(?i)^(v|iter)?\d+([.]\d+)*$").ok();
    let re_type = Regex::new(r"(?i)^(i?q\d(_\w)*|b?fp?(16|32))$").ok();
    let re_size = Regex::new(r"(?i)^(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)$").ok();
    let re_finetune = Regex::new(r"(?i)^(chat|instruct|vision|lora)$").ok();
    let is = |re: &Option<Regex>, s: &str| re.as_ref().is_some_and(|r| r.is_match(s));

    let mut parts: Vec<String> = full.split('-').filter(|p| !p.is_empty()).map(str::to_string).collect();
    let mut types: Vec<Vec<&str>> = vec![Vec::new(); parts.len()];
    for i in 0..parts.len() {
        let part = parts[i].clone();
        if is(&re_version, &part) {
            types[i].push("version");
        } else if is(&re_type, &part) {
            types[i].push("type");
            parts[i] = part.to_uppercase();
        } else if i > 0 && is(&re_size, &part) {
            let mut p: Vec<char> = part.replace('_', ".").chars().collect();
            if p.last().is_some_and(|c| c.is_ascii_digit()) && p.len() >= 2 {
                // bloom-7b1 -> 7.1b
                let n = p.len();
                let (a, b) = (p[n - 2], p[n - 1]);
                p.truncate(n - 2);
                p.extend(['.', b, a]);
            }
            let n = p.len();
            if n > 1 && p[n - 2].is_ascii_digit() && "kmbt".contains(p[n - 1]) {
                p[n - 1] = p[n - 1].to_ascii_uppercase();
            }
            let mut s: String = p.iter().collect();
            if total_params != 0
                && let Some(last) = s.chars().last()
                && let Ok(v) = s[..s.len() - last.len_utf8()].parse::<f64>()
            {
                let scale = " KMBT".find(last).map(|k| 1000f64.powi(k as i32)).unwrap_or(1000f64.powi(-1));
                let label = v * scale;
                let tp = total_params as f64;
                let far = if total_params < 0 {
                    label < (total_params.unsigned_abs() / 8) as f64
                } else {
                    (label - tp).abs() > (7 * total_params / 8) as f64
                };
                if far {
                    types[i].push("finetune");
                    s = format!("{}{}", &s[..s.len() - last.len_utf8()], last.to_lowercase());
                }
            }
            if types[i].is_empty() {
                types[i].push("size_label");
            }
            parts[i] = s;
        } else if i > 0 && is(&re_finetune, &part) {
            if total_params < 0 && part.eq_ignore_ascii_case("lora") {
                types[i].push("type");
            } else {
                types[i].push("finetune");
            }
        }
    }
    let has_numeric_size =
        parts.iter().zip(&types).any(|(n, t)| t.contains(&"size_label") && n.chars().any(|c| c.is_ascii_digit()));
    if has_numeric_size {
        for (n, t) in parts.iter().zip(types.iter_mut()) {
            if t.contains(&"size_label") && n.chars().all(char::is_alphabetic) {
                t.retain(|x| *x != "size_label");
            }
        }
    }
    let mut at_start = true;
    for (part, t) in parts.iter().zip(types.iter_mut()) {
        let alpha_first = part.chars().next().is_some_and(char::is_alphabetic);
        if at_start && ((t.is_empty() && alpha_first) || t.contains(&"version")) {
            t.push("basename");
        } else {
            at_start = false;
            if t.is_empty() {
                t.push("finetune");
            }
        }
    }
    for t in types.iter_mut().rev() {
        if t.contains(&"basename") && t.len() > 1 {
            t.retain(|x| *x != "basename");
        } else {
            break;
        }
    }
    let join = |f: &dyn Fn(&Vec<&str>) -> bool| -> Option<String> {
        let mut seen: Vec<&str> = Vec::new();
        for (n, t) in parts.iter().zip(&types) {
            if f(t) {
                seen.push(n);
            }
        }
        (!seen.is_empty()).then(|| seen.join("-"))
    };
    let mut basename = join(&|t| t.contains(&"basename"));
    let size_label = {
        let mut labels: Vec<&str> = Vec::new();
        for (n, t) in parts.iter().zip(&types) {
            if t.contains(&"size_label") && !labels.contains(&n.as_str()) {
                labels.push(n);
            }
        }
        (!labels.is_empty()).then(|| labels.join("-"))
    };
    let finetune = join(&|t| t.contains(&"finetune"));
    let version = join(&|t| t.contains(&"version") && !t.contains(&"basename"));
    if size_label.is_none() && finetune.is_none() && version.is_none() {
        basename = None;
    }
    IdParts { full_name: Some(full), org, basename, finetune, version, size_label }
}

/// gguf-py's `id_to_title`: dashes to spaces, all-lowercase words title-cased unless they
/// look like versions or numbers.
pub fn id_to_title(s: &str) -> String {
    let re = Regex::new(r"^(v\d+(?:\.\d+)*|\d.*)$").ok();
    s.trim()
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            let lower = w.chars().any(char::is_alphabetic) && !w.chars().any(char::is_uppercase);
            if lower && !re.as_ref().is_some_and(|r| r.is_match(w)) { py_title(w) } else { w.to_string() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `str.title()`: a letter after a non-letter is upper-cased, other letters lowered.
fn py_title(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let mut prev_cased = false;
    for c in w.chars() {
        if c.is_alphabetic() {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_cased = true;
        } else {
            out.push(c);
            prev_cased = false;
        }
    }
    out
}

/// llama.cpp's size label for a parameter count ("1.2B", "135M", "7.5K").
pub fn size_label(params: u64) -> String {
    let p = params as f64;
    let (scaled, suffix) = if p > 1e12 {
        (p * 1e-12, "T")
    } else if p > 1e9 {
        (p * 1e-9, "B")
    } else if p > 1e6 {
        (p * 1e-6, "M")
    } else {
        (p * 1e-3, "K")
    };
    let digits = format!("{}", scaled.round_ties_even() as i64).trim_start_matches('0').len();
    let fix = 2usize.saturating_sub(digits);
    format!("{scaled:.fix$}{suffix}")
}

impl General {
    /// `Metadata.load` on `dir` + the converter's fallbacks, for a model of `total_params`
    /// parameters (negative for an adapter, as gguf-py counts it). A name that nothing gave
    /// is `name_dir`'s (the model's directory, which for an adapter is its base's).
    pub fn load(dir: &Path, name_dir: &Path, total_params: i64) -> Result<General, ConvertError> {
        let mut g = General::default();
        let tp = total_params;
        let card = ModelCard::load(dir)?;
        for (field, keys) in [
            ("name", ["name", "model_name"]),
            ("author", ["author", "model_author"]),
            ("version", ["version", "model_version"]),
            ("organization", ["organization", "model_organization"]),
            ("description", ["description", "model_description"]),
            ("finetune", ["finetune", "model_finetune"]),
            ("basename", ["basename", "model_basename"]),
            ("size_label", ["size_label", "model_size_label"]),
            ("source_url", ["url", "model_url"]),
            ("source_doi", ["doi", "model_doi"]),
            ("source_uuid", ["uuid", "model_uuid"]),
            ("source_repo_url", ["repo_url", "model_repo_url"]),
        ] {
            for key in keys {
                g.use_card(&card, field, key);
            }
        }
        g.use_card(&card, "author", "model_creator");
        g.use_card(&card, "basename", "model_type");
        for (keys, slot) in [
            (["base_model", "base_models", "base_model_sources"], &mut g.base_models),
            (["datasets", "dataset", "dataset_sources"], &mut g.datasets),
        ] {
            if let Some(key) = keys.iter().find(|k| card.has(k)) {
                let entries = card.list(key).unwrap_or_default();
                *slot = Some(entries.iter().map(|id| Source::from_entry(id, tp)).collect());
            }
        }
        g.use_card(&card, "license", "license");
        g.use_card(&card, "license_name", "license_name");
        g.use_card(&card, "license_link", "license_link");
        for key in ["tags", "pipeline_tag"] {
            if let Some(v) = card.list(key) {
                g.tags.get_or_insert_with(Vec::new).extend(v);
            }
        }
        for key in ["languages", "language"] {
            if let Some(v) = card.list(key) {
                g.languages.get_or_insert_with(Vec::new).extend(v);
            }
        }

        let hf = read_json_object(&dir.join("config.json"))?.unwrap_or_default();
        if let Some(id) = hf.get("_name_or_path").and_then(Value::as_str)
            && id.matches('/').count() <= 1
        {
            g.apply_id(&model_id_components(id, tp));
        }
        if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
            g.apply_id(&model_id_components(name, tp));
        }
        if let Some(gen_cfg) = read_json_object(&dir.join("generation_config.json")).ok().flatten() {
            for (key, gguf) in [
                ("sequence", "general.sampling.sequence"),
                ("top_k", "general.sampling.top_k"),
                ("top_p", "general.sampling.top_p"),
                ("min_p", "general.sampling.min_p"),
                ("xtc_probability", "general.sampling.xtc_probability"),
                ("xtc_threshold", "general.sampling.xtc_threshold"),
                ("temperature", "general.sampling.temp"),
                ("penalty_last_n", "general.sampling.penalty_last_n"),
                ("penalty_repeat", "general.sampling.penalty_repeat"),
                ("mirostat", "general.sampling.mirostat"),
                ("mirostat_tau", "general.sampling.mirostat_tau"),
                ("mirostat_eta", "general.sampling.mirostat_eta"),
            ] {
                let v = gen_cfg
                    .get(key)
                    .or_else(|| (key == "penalty_repeat").then(|| gen_cfg.get("repetition_penalty")).flatten());
                if let Some(v) = v.filter(|v| !v.is_null()) {
                    g.sampling.push((gguf, v.clone()));
                }
            }
        }
        if g.name.is_none() {
            g.name = name_dir.file_name().and_then(|n| n.to_str()).map(str::to_string);
        }
        if g.size_label.is_none() && total_params > 0 {
            g.size_label = Some(size_label(total_params.unsigned_abs()));
        }
        Ok(g)
    }

    fn slot(&mut self, field: &str) -> Option<&mut Option<String>> {
        Some(match field {
            "name" => &mut self.name,
            "author" => &mut self.author,
            "version" => &mut self.version,
            "organization" => &mut self.organization,
            "description" => &mut self.description,
            "finetune" => &mut self.finetune,
            "basename" => &mut self.basename,
            "size_label" => &mut self.size_label,
            "license" => &mut self.license,
            "license_name" => &mut self.license_name,
            "license_link" => &mut self.license_link,
            "source_url" => &mut self.source_url,
            "source_doi" => &mut self.source_doi,
            "source_uuid" => &mut self.source_uuid,
            "source_repo_url" => &mut self.source_repo_url,
            _ => return None,
        })
    }

    fn use_card(&mut self, card: &ModelCard, field: &str, key: &str) {
        if let Some(v) = card.scalar(key)
            && let Some(slot) = self.slot(field)
            && slot.is_none()
        {
            *slot = Some(v);
        }
    }

    fn apply_id(&mut self, p: &IdParts) {
        let fill = |slot: &mut Option<String>, v: Option<String>| {
            if slot.is_none() {
                *slot = v;
            }
        };
        fill(&mut self.name, p.full_name.as_deref().map(id_to_title));
        fill(&mut self.organization, p.org.as_deref().map(id_to_title));
        fill(&mut self.basename, p.basename.clone());
        fill(&mut self.finetune, p.finetune.clone());
        fill(&mut self.version, p.version.clone());
        fill(&mut self.size_label, p.size_label.clone());
    }

    /// `set_gguf_meta_model`.
    pub fn write(&self, kv: &mut Kv) -> Result<(), ConvertError> {
        for (key, v) in &self.sampling {
            match v {
                Value::String(s) => kv.string(key, s),
                Value::Number(n)
                    if key.ends_with("top_k") || key.ends_with("penalty_last_n") || key.ends_with("mirostat") =>
                {
                    kv.i32(key, n.as_i64().unwrap_or(0) as i32)
                }
                Value::Number(n) => kv.f32(key, n.as_f64().unwrap_or(0.0) as f32),
                _ => {}
            }
        }
        let strings = [
            ("general.name", &self.name),
            ("general.author", &self.author),
            ("general.version", &self.version),
            ("general.organization", &self.organization),
            ("general.finetune", &self.finetune),
            ("general.basename", &self.basename),
            ("general.description", &self.description),
            ("general.size_label", &self.size_label),
            ("general.license", &self.license),
            ("general.license.name", &self.license_name),
            ("general.license.link", &self.license_link),
            ("general.source.url", &self.source_url),
            ("general.source.doi", &self.source_doi),
            ("general.source.uuid", &self.source_uuid),
            ("general.source.repo_url", &self.source_repo_url),
        ];
        for (key, v) in strings {
            if let Some(v) = v {
                kv.string(key, v);
            }
        }
        for (prefix, sources) in [("general.base_model", &self.base_models), ("general.dataset", &self.datasets)] {
            let Some(sources) = sources else { continue };
            kv.u32(&format!("{prefix}.count"), sources.len() as u64)?;
            for (i, s) in sources.iter().enumerate() {
                for (field, v) in [
                    ("name", &s.name),
                    ("version", &s.version),
                    ("organization", &s.organization),
                    ("repo_url", &s.repo_url),
                ] {
                    if let Some(v) = v {
                        kv.string(&format!("{prefix}.{i}.{field}"), v);
                    }
                }
            }
        }
        for (key, list) in [("general.tags", &self.tags), ("general.languages", &self.languages)] {
            if let Some(list) = list {
                let mut a = hoist_gguf::StringArray::new();
                for s in list {
                    a.push(s);
                }
                kv.array(key, hoist_gguf::Array::String(a));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_split_as_gguf_py_splits_them() {
        let p = model_id_components("meta-llama/Llama-2-7b-chat-hf", 6_738_415_616);
        assert_eq!(p.org.as_deref(), Some("meta-llama"));
        assert_eq!(p.basename.as_deref(), Some("Llama-2"));
        assert_eq!(p.size_label.as_deref(), Some("7B"));
        assert_eq!(p.finetune.as_deref(), Some("chat-hf"));
        assert_eq!(id_to_title("tiny-llama3b-v1.0"), "Tiny Llama3B v1.0");
        assert_eq!(size_label(1_234_567), "1.2M");
        assert_eq!(size_label(22_713_216), "23M");
        assert_eq!(size_label(4_416), "4.4K");
    }
}
