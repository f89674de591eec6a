//! README.md's YAML front matter, the subset model cards use for the keys gguf-py reads:
//! `key: scalar`, `key: [a, b]` and `key:` followed by `- item` lines. Nested mappings are
//! not read (their keys are then left out, never guessed).

use std::path::Path;

use crate::ConvertError;

#[derive(Debug, Default)]
pub struct ModelCard {
    entries: Vec<(String, Entry)>,
}

#[derive(Debug, Clone)]
enum Entry {
    Scalar(String),
    List(Vec<String>),
    Other,
}

impl ModelCard {
    pub fn load(dir: &Path) -> Result<ModelCard, ConvertError> {
        let path = dir.join("README.md");
        if !path.is_file() {
            return Ok(ModelCard::default());
        }
        let bytes = std::fs::read(&path).map_err(ConvertError::io(&path))?;
        Ok(ModelCard::parse(&String::from_utf8_lossy(&bytes)))
    }

    pub fn parse(text: &str) -> ModelCard {
        let mut lines = text.lines();
        if lines.next() != Some("---") {
            return ModelCard::default();
        }
        let mut entries: Vec<(String, Entry)> = Vec::new();
        for raw in lines {
            if raw == "---" {
                break;
            }
            let line = raw.replace('\t', "  ");
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let indented = line.starts_with(' ');
            let trimmed = line.trim();
            if let Some(item) = trimmed.strip_prefix("- ").or_else(|| (trimmed == "-").then_some("")) {
                if let Some((_, entry)) = entries.last_mut() {
                    match entry {
                        Entry::List(v) => v.push(unquote(item)),
                        Entry::Scalar(s) if s.is_empty() => *entry = Entry::List(vec![unquote(item)]),
                        _ => *entry = Entry::Other,
                    }
                }
                continue;
            }
            if indented {
                // A nested mapping under the last key: not read.
                if let Some((_, entry)) = entries.last_mut() {
                    *entry = Entry::Other;
                }
                continue;
            }
            let Some((key, value)) = trimmed.split_once(':') else { continue };
            let value = value.trim();
            let entry = if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                Entry::List(inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(unquote).collect())
            } else {
                Entry::Scalar(unquote(value))
            };
            entries.push((key.trim().to_string(), entry));
        }
        ModelCard { entries }
    }

    fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A non-empty scalar value.
    pub fn scalar(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Entry::Scalar(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }

    /// A list, or a scalar as a one-item list.
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        match self.get(key)? {
            Entry::List(v) => Some(v.clone()),
            Entry::Scalar(s) if !s.is_empty() => Some(vec![s.clone()]),
            _ => None,
        }
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scalars_and_lists() {
        let card = ModelCard::parse(
            "---\nlicense: apache-2.0\nlanguage:\n- en\n- \"no\"\ntags: [a, 'b']\nwidget:\n  - text: x\n---\n# Model\nname: not read\n",
        );
        assert_eq!(card.scalar("license").as_deref(), Some("apache-2.0"));
        assert_eq!(card.list("language"), Some(vec!["en".to_string(), "no".to_string()]));
        assert_eq!(card.list("tags"), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(card.scalar("widget"), None);
        assert_eq!(card.scalar("name"), None);
    }
}
