//! Parser directives: `# name=value` comment lines at the very top of the file.
//! `escape` (`\` or a backtick) sets the escape and continuation character;
//! `syntax` (which frontend BuildKit would load: hoist builds any file itself, so
//! `# syntax=gpustack/gguf-packer:...` is recorded and otherwise ignored) and `check`
//! (BuildKit's lint settings) are accepted. The first line that is not a directive
//! (a blank line, an other comment, an instruction) ends them; a known directive
//! may appear once.

/// What the directive lines said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    done: bool,
    pub(crate) escape: Option<char>,
    pub(crate) syntax: Option<String>,
    check: Option<String>,
}

/// Why a directive line is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirectiveError {
    Repeated(&'static str),
    BadEscape(String),
}

impl std::fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Repeated(name) => write!(f, "only one {name} parser directive can be used"),
            Self::BadEscape(v) => write!(f, "invalid escape character {v:?}: it must be ` or \\"),
        }
    }
}

impl Directives {
    /// Looks at one line (newline removed, and leading blanks too when it starts an
    /// instruction). True when it was a directive.
    pub(crate) fn line(&mut self, line: &str) -> Result<bool, DirectiveError> {
        if self.done {
            return Ok(false);
        }
        let Some((name, value)) = split_directive(line) else {
            self.done = true;
            return Ok(false);
        };
        let (slot, key) = match name.to_ascii_lowercase().as_str() {
            "escape" => {
                if self.escape.is_some() {
                    return Err(DirectiveError::Repeated("escape"));
                }
                match value {
                    "\\" => self.escape = Some('\\'),
                    "`" => self.escape = Some('`'),
                    other => return Err(DirectiveError::BadEscape(other.to_string())),
                }
                return Ok(true);
            }
            "syntax" => (&mut self.syntax, "syntax"),
            "check" => (&mut self.check, "check"),
            _ => {
                self.done = true;
                return Ok(false);
            }
        };
        if slot.is_some() {
            return Err(DirectiveError::Repeated(key));
        }
        *slot = Some(value.to_string());
        Ok(true)
    }
}

/// `#`, blanks, a name (a letter, then letters and digits), `=` with optional blanks
/// around it, and a non-empty value (trailing blanks dropped).
fn split_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognised_directives() {
        let mut d = Directives::default();
        assert_eq!(d.line("# syntax=gpustack/gguf-packer:latest"), Ok(true));
        assert_eq!(d.line("#ESCAPE = `  "), Ok(true));
        assert_eq!(d.line("# check=skip=all"), Ok(true));
        assert_eq!(d.escape, Some('`'));
        assert_eq!(d.syntax.as_deref(), Some("gpustack/gguf-packer:latest"));
        assert_eq!(d.check.as_deref(), Some("skip=all"));
        assert_eq!(d.line("# escape=\\"), Err(DirectiveError::Repeated("escape")));
    }

    #[test]
    fn the_first_other_line_ends_them() {
        for stop in ["", "# a comment", "FROM scratch", "# unknown=1", "#escape"] {
            let mut d = Directives::default();
            assert_eq!(d.line(stop), Ok(false), "{stop:?}");
            assert_eq!(d.line("# escape=`"), Ok(false), "after {stop:?}");
            assert_eq!(d.escape, None);
        }
    }

    #[test]
    fn errors() {
        let mut d = Directives::default();
        assert_eq!(d.line("# escape=x"), Err(DirectiveError::BadEscape("x".into())));
        let mut d = Directives::default();
        d.line("# syntax=a").unwrap();
        assert_eq!(d.line("# Syntax=b"), Err(DirectiveError::Repeated("syntax")));
        assert_eq!(
            DirectiveError::BadEscape("x".into()).to_string(),
            "invalid escape character \"x\": it must be ` or \\"
        );
    }
}
