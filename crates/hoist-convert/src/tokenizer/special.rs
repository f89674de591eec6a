//! gguf-py's `SpecialVocab`: merges, special token ids, the add_bos/add_eos/add_sep flags,
//! the chat template and normalizer flags, from tokenizer.json, tokenizer_config.json,
//! chat_template.jinja / chat_template.json and config.json, in the reference's order.

use std::path::Path;

use hoist_gguf::{Array, StringArray};
use serde_json::{Map, Value};

use super::read_json_object;
use crate::ConvertError;
use crate::arch::Kv;

const DEFAULT_TYPES: &[&str] = &["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

/// The special-token facts of a model directory.
#[derive(Debug, Default)]
pub struct SpecialVocab {
    pub merges: Vec<String>,
    /// In the order they were found (the order they are written).
    pub ids: Vec<(String, u64)>,
    pub add: Vec<(String, bool)>,
    pub chat_template: Option<String>,
    /// Templates chosen by name (a list of `{name, template}`), in the order given.
    pub named_templates: Vec<(String, String)>,
    pub lowercase: Option<bool>,
    pub strip_accents: Option<bool>,
    types: Vec<String>,
    n_vocab: Option<usize>,
}

impl SpecialVocab {
    pub fn load(dir: &Path, load_merges: bool, n_vocab: Option<usize>) -> Result<SpecialVocab, ConvertError> {
        let mut v = SpecialVocab {
            types: DEFAULT_TYPES.iter().map(|s| s.to_string()).collect(),
            n_vocab,
            ..Default::default()
        };
        v.read_tokenizer_json(dir, load_merges)?;
        v.read_config_json(dir)?;
        if load_merges && v.merges.is_empty() {
            v.read_merges_txt(dir)?;
        }
        Ok(v)
    }

    fn set_id(&mut self, typ: &str, id: Option<&Value>) {
        let Some(id) = id.and_then(Value::as_u64) else { return };
        if self.n_vocab.is_some_and(|n| id >= n as u64) || self.ids.iter().any(|(t, _)| t == typ) {
            return;
        }
        self.ids.push((typ.to_string(), id));
    }

    fn set_add(&mut self, typ: &str, value: bool, overwrite: bool) {
        match self.add.iter_mut().find(|(t, _)| t == typ) {
            Some(slot) if overwrite => slot.1 = value,
            Some(_) => {}
            None => self.add.push((typ.to_string(), value)),
        }
    }

    fn parse_normalizer(&mut self, n: &Value) {
        match n.get("type").and_then(Value::as_str) {
            Some("Lowercase") => self.lowercase = Some(true),
            Some("StripAccents") => self.strip_accents = Some(true),
            Some("BertNormalizer") => {
                if let Some(v) = n.get("lowercase") {
                    self.lowercase = v.as_bool();
                }
                if let Some(v) = n.get("strip_accents") {
                    self.strip_accents = v.as_bool();
                }
            }
            Some("Sequence") => {
                for inner in n.get("normalizers").and_then(Value::as_array).into_iter().flatten() {
                    self.parse_normalizer(inner);
                }
            }
            _ => {}
        }
    }

    fn read_tokenizer_json(&mut self, dir: &Path, load_merges: bool) -> Result<(), ConvertError> {
        let path = dir.join("tokenizer.json");
        let tokenizer = read_json_object(&path)?;
        let mut added: Vec<Value> = Vec::new();
        if let Some(tok) = &tokenizer {
            if load_merges {
                self.merges =
                    merges_of(tok).map_err(|reason| ConvertError::Tokenizer { path: path.clone(), reason })?;
            }
            if let Some(n) = tok.get("normalizer").filter(|n| truthy(n)) {
                self.parse_normalizer(&n.clone());
            }
            added = tok.get("added_tokens").and_then(Value::as_array).cloned().unwrap_or_default();
        }
        let mut tc = read_json_object(&dir.join("tokenizer_config.json"))?;
        if let Some(tok) = &tokenizer {
            self.post_processor(tok, &mut tc);
        }
        let Some(tc) = tc.filter(|m| !m.is_empty()) else { return Ok(()) };
        (self.chat_template, self.named_templates) = chat_templates(dir, &tc)?;
        for typ in self.types.clone() {
            if let Some(add) = tc.get(&format!("add_{typ}_token")).and_then(Value::as_bool) {
                self.set_add(&typ, add, false);
            }
            let content = match tc.get(&format!("{typ}_token")) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(o)) => match o.get("content") {
                    Some(Value::String(s)) => s.clone(),
                    _ => continue,
                },
                _ => continue,
            };
            let id = added
                .iter()
                .find(|a| a.get("content").and_then(Value::as_str) == Some(&content))
                .and_then(|a| a.get("id"));
            self.set_id(&typ, id.cloned().as_ref());
        }
        Ok(())
    }

    /// The post-processor rules of `_try_load_read_tokenizer_json` (ByteLevel, Roberta,
    /// and the crude reading of TemplateProcessing).
    fn post_processor(&mut self, tok: &Map<String, Value>, tc: &mut Option<Map<String, Value>>) {
        let get = |tc: &Option<Map<String, Value>>, k: &str| -> Option<Value> {
            tc.as_ref().and_then(|m| m.get(k)).filter(|v| truthy(v)).cloned()
        };
        let has_tc = |tc: &Option<Map<String, Value>>| tc.as_ref().is_some_and(|m| !m.is_empty());
        let set = |tc: &mut Option<Map<String, Value>>, k: &str, v: &Value| {
            if let Some(m) = tc.as_mut() {
                m.insert(k.to_string(), v.clone());
            }
        };
        let mut bos = get(tc, "bos_token");
        let mut cls = get(tc, "cls_token");
        let mut eos = get(tc, "eos_token");
        let mut sep = get(tc, "sep_token");
        if bos.is_none() && cls.is_some() && has_tc(tc) {
            bos = cls.clone();
            set(tc, "bos_token", bos.as_ref().unwrap_or(&Value::Null));
        }
        if eos.is_none() && sep.is_some() && has_tc(tc) {
            eos = sep.clone();
            set(tc, "eos_token", eos.as_ref().unwrap_or(&Value::Null));
        }
        let Some(pp) = tok.get("post_processor").filter(|p| truthy(p)) else { return };
        let processors = match pp.get("processors").and_then(Value::as_array) {
            Some(list) => list.clone(),
            None => vec![pp.clone()],
        };
        for p in processors {
            match p.get("type").and_then(Value::as_str) {
                Some("ByteLevel") => {
                    self.set_add("bos", false, false);
                    self.set_add("eos", false, false);
                }
                Some("RobertaProcessing") => {
                    self.set_add("bos", true, true);
                    self.set_add("eos", true, true);
                    self.set_add("sep", true, true);
                    if cls.is_none() && has_tc(tc) {
                        cls = p.get("cls").and_then(|c| c.get(0)).cloned().or(bos.clone());
                        set(tc, "cls_token", cls.as_ref().unwrap_or(&Value::Null));
                    }
                    if sep.is_none() && has_tc(tc) {
                        sep = p.get("sep").and_then(|c| c.get(0)).cloned().or(eos.clone());
                        set(tc, "sep_token", sep.as_ref().unwrap_or(&Value::Null));
                    }
                }
                Some("TemplateProcessing") => self.template_processing(&p, tc, &mut bos, &mut cls, &mut eos, &sep),
                _ => {}
            }
        }
    }

    fn template_processing(
        &mut self,
        p: &Value,
        tc: &mut Option<Map<String, Value>>,
        bos: &mut Option<Value>,
        cls: &mut Option<Value>,
        eos: &mut Option<Value>,
        sep: &Option<Value>,
    ) {
        let special_id = |v: Option<&Value>| -> Option<Value> {
            v.and_then(|e| e.get("SpecialToken")).and_then(|s| s.get("id")).filter(|v| truthy(v)).cloned()
        };
        let has_tc = tc.as_ref().is_some_and(|m| !m.is_empty());
        let single = p.get("single").and_then(Value::as_array).cloned().unwrap_or_default();
        let pair = p.get("pair").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut first = None;
        let mut last = None;
        if single.len() > 1 {
            first = special_id(single.first());
            if let Some(f) = &first {
                if !has_tc {
                    *bos = Some(f.clone());
                } else if Some(f) != bos.as_ref() && Some(f) != cls.as_ref() {
                    if bos.is_none() {
                        *bos = Some(f.clone());
                        insert(tc, "bos_token", f);
                    }
                    if cls.is_none() {
                        *cls = Some(f.clone());
                        insert(tc, "cls_token", f);
                    }
                }
                let is_bos = Some(f) == bos.as_ref() || Some(f) == cls.as_ref();
                self.set_add("bos", is_bos, true);
            }
            last = special_id(single.last());
            if let Some(l) = &last {
                if !has_tc {
                    *eos = Some(l.clone());
                } else if Some(l) != eos.as_ref() {
                    let old = eos.clone().unwrap_or(Value::Null);
                    if !self.types.iter().any(|t| t == "eot") {
                        self.types.push("eot".into());
                        insert(tc, "eot_token", &old);
                    } else if !self.types.iter().any(|t| t == "eom") {
                        self.types.push("eom".into());
                        insert(tc, "eom_token", &old);
                    }
                    *eos = Some(l.clone());
                    insert(tc, "eos_token", l);
                }
                let is_eos = Some(l) == eos.as_ref();
                self.set_add("eos", is_eos, true);
            }
        }
        if pair.is_empty() {
            return;
        }
        let start = usize::from(first.is_some() && special_id(pair.first()) == first);
        let stop_trim = usize::from(last.is_some() && special_id(pair.last()) == last);
        let Some(pair) = pair.get(start..pair.len().saturating_sub(stop_trim).max(start)) else { return };
        if pair.is_empty() {
            return;
        }
        let seq = |v: Option<&Value>| {
            v.and_then(|e| e.get("Sequence")).and_then(|s| s.get("id")).and_then(Value::as_str).map(str::to_string)
        };
        let (a, b) = (seq(pair.first()), seq(pair.last()));
        if a.as_deref() != Some("A") || b.as_deref() != Some("B") || pair.len() < 2 {
            return;
        }
        let middle = &pair[1..pair.len() - 1];
        if middle.is_empty() {
            return;
        }
        let is_sep = |v: &Value| Some(v) == sep.as_ref() || Some(v) == eos.as_ref();
        let mut add_sep = false;
        if let Some(entry) = special_id(middle.first())
            && is_sep(&entry)
            && last.is_none()
        {
            add_sep = true;
        }
        if middle.len() == 2
            && let Some(entry) = special_id(middle.get(1))
            && is_sep(&entry)
        {
            add_sep = true;
        }
        self.set_add("sep", add_sep, true);
        if add_sep && sep.is_none() && has_tc {
            let e = eos.clone().unwrap_or(Value::Null);
            insert(tc, "sep_token", &e);
        }
    }

    fn read_config_json(&mut self, dir: &Path) -> Result<(), ConvertError> {
        let Some(cfg) = read_json_object(&dir.join("config.json"))? else { return Ok(()) };
        for typ in self.types.clone() {
            let key = format!("{typ}_token_id");
            let id =
                cfg.get(&key).filter(|v| !v.is_null()).or_else(|| cfg.get("text_config").and_then(|t| t.get(&key)));
            self.set_id(&typ, id.cloned().as_ref());
        }
        Ok(())
    }

    fn read_merges_txt(&mut self, dir: &Path) -> Result<(), ConvertError> {
        let path = dir.join("merges.txt");
        if !path.is_file() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&path).map_err(ConvertError::io(&path))?;
        let mut lines = text.lines().peekable();
        if lines.peek().is_some_and(|l| l.trim().starts_with('#')) {
            lines.next();
        }
        self.merges = lines
            .filter_map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                (parts.len() == 2).then(|| format!("{} {}", parts[0], parts[1]))
            })
            .collect();
        Ok(())
    }

    /// `add_to_gguf`: merges, ids, add flags, chat template, normalizer flags.
    pub fn write(&self, kv: &mut Kv) -> Result<(), ConvertError> {
        if !self.merges.is_empty() {
            let mut a = StringArray::new();
            for m in &self.merges {
                a.push(m);
            }
            kv.array("tokenizer.ggml.merges", Array::String(a));
        }
        for (typ, id) in &self.ids {
            if let Some(key) = id_key(typ) {
                kv.u32(key, *id)?;
            }
        }
        for (typ, value) in &self.add {
            if matches!(typ.as_str(), "bos" | "eos" | "sep") {
                kv.bool(&format!("tokenizer.ggml.add_{typ}_token"), *value);
            }
        }
        for (name, template) in &self.named_templates {
            kv.string(&format!("tokenizer.chat_template.{name}"), template);
        }
        if !self.named_templates.is_empty() {
            let names = self.named_templates.iter().map(|(name, _)| name.as_str()).collect();
            kv.array("tokenizer.chat_templates", hoist_gguf::Array::String(names));
        }
        if let Some(t) = &self.chat_template {
            kv.string("tokenizer.chat_template", t);
        }
        if let Some(v) = self.lowercase {
            kv.bool("tokenizer.ggml.normalizer.lowercase", v);
        }
        if let Some(v) = self.strip_accents {
            kv.bool("tokenizer.ggml.normalizer.strip_accents", v);
        }
        Ok(())
    }
}

fn id_key(typ: &str) -> Option<&'static str> {
    Some(match typ {
        "bos" => "tokenizer.ggml.bos_token_id",
        "eos" => "tokenizer.ggml.eos_token_id",
        "unk" => "tokenizer.ggml.unknown_token_id",
        "sep" => "tokenizer.ggml.seperator_token_id",
        "pad" => "tokenizer.ggml.padding_token_id",
        "mask" => "tokenizer.ggml.mask_token_id",
        "eot" => "tokenizer.ggml.eot_token_id",
        "eom" => "tokenizer.ggml.eom_token_id",
        _ => return None,
    })
}

fn insert(tc: &mut Option<Map<String, Value>>, k: &str, v: &Value) {
    if let Some(m) = tc.as_mut() {
        m.insert(k.to_string(), v.clone());
    }
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// tokenizer.json's merges: strings, or pairs (transformers >= 4.45) joined with a space,
/// spaces inside a part written as U+0120 as the reference does.
fn merges_of(tok: &Map<String, Value>) -> Result<Vec<String>, String> {
    let Some(list) = tok.get("model").and_then(|m| m.get("merges")).and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    match list.first() {
        None => Ok(Vec::new()),
        Some(Value::String(_)) => Ok(list.iter().filter_map(|m| m.as_str().map(str::to_string)).collect()),
        Some(Value::Array(p)) if p.len() == 2 && p[0].is_string() => Ok(list
            .iter()
            .map(|pair| {
                let parts: Vec<String> = pair
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|s| s.replace(' ', "\u{0120}"))
                    .collect();
                parts.join(" ")
            })
            .collect()),
        Some(_) => Err("unknown tokenizer merges format".into()),
    }
}

/// A chat template, and the templates chosen by name.
type Templates = (Option<String>, Vec<(String, String)>);

/// The chat template and the named ones: tokenizer_config.json's, else
/// chat_template.jinja's (with additional_chat_templates/*.jinja, named by
/// their stems, in name order), else chat_template.json's.
fn chat_templates(dir: &Path, tc: &Map<String, Value>) -> Result<Templates, ConvertError> {
    if let Some(t) = tc.get("chat_template") {
        return Ok(split_templates(t));
    }
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        let default = std::fs::read_to_string(&jinja).map_err(ConvertError::io(&jinja))?;
        let extra = dir.join("additional_chat_templates");
        let mut named = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&extra) {
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.retain(|p| p.extension().is_some_and(|e| e == "jinja"));
            paths.sort();
            for path in paths {
                let template = std::fs::read_to_string(&path).map_err(ConvertError::io(&path))?;
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                named.push(serde_json::json!({ "name": stem, "template": template }));
            }
        }
        if named.is_empty() {
            return Ok((Some(default), Vec::new()));
        }
        named.insert(0, serde_json::json!({ "name": "default", "template": default }));
        return Ok(split_templates(&Value::Array(named)));
    }
    let json = dir.join("chat_template.json");
    Ok(read_json_object(&json)?.and_then(|m| m.get("chat_template").map(split_templates)).unwrap_or_default())
}

/// A chat template value as gguf-py's `add_chat_template` reads it: a string is
/// the template; a list of `{name, template}` gives the one named `default` and
/// the others by name (characters other than ASCII letters and digits become
/// `_`; a later entry of the same name replaces the earlier one in place).
fn split_templates(value: &Value) -> Templates {
    let Some(choices) = value.as_array() else { return (value.as_str().map(str::to_string), Vec::new()) };
    let (mut default, mut named) = (None, Vec::<(String, String)>::new());
    for choice in choices {
        let name: String = choice
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let Some(template) = choice.get("template").and_then(Value::as_str).map(str::to_string) else { continue };
        match name.as_str() {
            "" => {}
            "default" => default = Some(template),
            _ => match named.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = template,
                None => named.push((name, template)),
            },
        }
    }
    (default, named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_templates_are_read_as_gguf_py_reads_them() {
        let list = serde_json::json!([
            {"name": "default", "template": "D"},
            {"name": "tool use!", "template": "T1"},
            {"name": "", "template": "ignored"},
            {"name": "rag"},
            {"name": "tool_use_", "template": "T2"},
        ]);
        let (default, named) = split_templates(&list);
        assert_eq!(default.as_deref(), Some("D"));
        assert_eq!(named, vec![("tool_use_".to_string(), "T2".to_string())], "same filtered name: the later one");
        assert_eq!(split_templates(&serde_json::json!("plain")), (Some("plain".into()), Vec::new()));
        assert_eq!(split_templates(&serde_json::json!(7)), (None, Vec::new()));
    }

    #[test]
    fn additional_templates_come_after_the_jinja_default_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("chat_template.jinja"), "D").unwrap();
        std::fs::create_dir(dir.path().join("additional_chat_templates")).unwrap();
        std::fs::write(dir.path().join("additional_chat_templates/tools.jinja"), "T").unwrap();
        std::fs::write(dir.path().join("additional_chat_templates/rag.jinja"), "R").unwrap();
        let (default, named) = chat_templates(dir.path(), &Map::new()).unwrap();
        assert_eq!(default.as_deref(), Some("D"));
        assert_eq!(named, vec![("rag".into(), "R".into()), ("tools".into(), "T".into())]);
    }
}
