//! Minimal path globs for classification flags: `*` and `?` stay inside one path
//! segment, `**` crosses segments. A pattern without `/` matches the file name
//! at any depth, as in `.gitignore`.

#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob { pattern: pattern.trim_start_matches("./").to_string() }
    }

    pub fn matches(&self, rel_path: &str) -> bool {
        if self.pattern.contains('/') {
            matches(self.pattern.as_bytes(), rel_path.as_bytes())
        } else {
            let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
            matches(self.pattern.as_bytes(), name.as_bytes())
        }
    }
}

fn matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => {
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=text.len()).any(|i| matches(rest, &text[i..]))
        }
        [b'*', rest @ ..] => {
            let segment_end = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
            (0..=segment_end).any(|i| matches(rest, &text[i..]))
        }
        [b'?', rest @ ..] => matches!(text, [c, tail @ ..] if *c != b'/' && matches(rest, tail)),
        [p, rest @ ..] => matches!(text, [c, tail @ ..] if c == p && matches(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn stars_questions_and_double_stars() {
        assert!(Glob::new("*.json").matches("a/b/config.json"));
        assert!(!Glob::new("a/*.json").matches("a/b/config.json"));
        assert!(Glob::new("a/**/*.json").matches("a/b/c/config.json"));
        assert!(Glob::new("a/**/*.json").matches("a/config.json"));
        assert!(Glob::new("model-?????-of-*.gguf").matches("model-00001-of-00003.gguf"));
        assert!(!Glob::new("?").matches("/"));
        assert!(Glob::new("./docs/**").matches("docs/x/y.md"));
    }
}
