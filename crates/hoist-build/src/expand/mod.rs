//! Shell-word expansion, with the rules of BuildKit's Dockerfile lexer: quotes
//! (`'...'` literal, `"..."` with `$` and escapes), the escape character (`\` or the
//! file's `# escape=`), `$V`, `${V}`, `${V:-x}` `${V-x}`, `${V:+x}` `${V+x}`,
//! `${V:?msg}` `${V?msg}`, `${V#p}` `${V##p}` `${V%p}` `${V%%p}`, `${V/p/r}` `${V//p/r}`.
//!
//! There is no command substitution, no arithmetic and no `=` assignment: a build
//! file runs nothing. Positional (`$1`) and special (`$@`, `$#`, ...) parameters are
//! never set. One pass gives both the expanded string ([`Expansion::value`], what
//! `COPY a$X b` sees) and the words split after expansion ([`Expansion::words`],
//! unquoted spaces from a variable split words, quoted ones do not).

mod pattern;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

use pattern::Pattern;

/// How deep `${A:-${B:-...}}` may nest: each level is a stack frame, and no real
/// file comes near this.
pub const MAX_NESTING: usize = 100;

/// Why a word could not be expanded. The caller adds where the word is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("unexpected end of text while looking for the matching {0}")]
    UnterminatedQuote(char),
    #[error("unexpected end of text while looking for the matching `{0}`")]
    Unterminated(char),
    #[error("missing '}}' in ${{...}}")]
    MissingBrace,
    #[error("missing '/' in ${{...}}")]
    MissingSlash,
    #[error("bad substitution")]
    BadSubstitution,
    #[error("${{...}} nested more than {MAX_NESTING} deep")]
    TooDeep,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution: {}", match .escape {
        Some(c) => format!("invalid escape '\\{c}'"),
        None => "trailing '\\'".to_string(),
    })]
    BadPattern { pattern: String, escape: Option<char> },
}

/// Where variables come from.
pub trait Env {
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// Pairs, the last one of a name winning (as `KEY=a KEY=b` does).
impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The result of one expansion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes removed and variables replaced.
    pub value: String,
    /// The same text split into words after expansion.
    pub words: Vec<String>,
    /// Variables that were looked up and set.
    pub matched: BTreeSet<String>,
    /// Variables that were looked up and not set.
    pub unmatched: BTreeSet<String>,
}

/// The lexer's settings. [`Lexer::new`] gives the one instructions use; the flags
/// give the variants the parser needs to recognise heredoc words and that CAT needs
/// for heredoc bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// `\` by default, or the file's `# escape=` character.
    pub escape: char,
    /// Keep the quote characters in the output (quotes still group).
    pub raw_quotes: bool,
    /// Keep the escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-y}`).
    pub skip_unset: bool,
    /// Treat quotes as ordinary characters (heredoc bodies).
    pub skip_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Self { escape, raw_quotes: false, raw_escapes: false, skip_unset: false, skip_quotes: false }
    }

    /// Expands `word` against `env`.
    pub fn expand(&self, word: &str, env: &dyn Env) -> Result<Expansion, ExpandError> {
        let mut sw = Scanner {
            lexer: *self,
            env,
            chars: word.chars().collect(),
            pos: 0,
            depth: 0,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        let (value, words) = sw.until(None, self.raw_escapes)?;
        Ok(Expansion { value, words, matched: sw.matched, unmatched: sw.unmatched })
    }
}

/// Words being split while the text is read: characters from a variable split at
/// whitespace, quoted and escaped characters never do.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Scanner<'a> {
    lexer: Lexer,
    env: &'a dyn Env,
    chars: Vec<char>,
    pos: usize,
    /// How many `${...}` are open.
    depth: usize,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    /// Reads up to `stop` (consumed) or the end; `raw_escapes` holds while it does.
    fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), ExpandError> {
        if self.depth > MAX_NESTING {
            return Err(ExpandError::TooDeep);
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.until_inner(stop);
        self.raw_escapes = saved;
        self.depth -= 1;
        out
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let quotes = !self.lexer.skip_quotes;
            let special = match ch {
                '$' => Some(self.dollar()?),
                '<' => Some(self.possible_heredoc()),
                '\'' if quotes => Some(self.single_quote()?),
                '"' if quotes => Some(self.double_quote()?),
                _ => None,
            };
            if let Some(text) = special {
                result.push_str(&text);
                if ch == '$' {
                    words.add_str(&text);
                } else {
                    words.add_raw_str(&text);
                }
                continue;
            }
            self.pos += 1;
            if ch == self.lexer.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                // An escape at the very end is dropped.
                let Some(escaped) = self.next() else { break };
                words.add_raw_char(escaped);
                result.push(escaped);
            } else {
                words.add_char(ch);
                result.push(ch);
            }
        }
        match stop {
            Some(c) => Err(ExpandError::Unterminated(c)),
            None => Ok((result, words.finish())),
        }
    }

    /// `'...'`: everything literal, no escapes (so no `'` inside).
    fn single_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.pos += 1;
        if self.lexer.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedQuote('\'')),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// `"..."`: `$` expands; the escape character escapes only `"`, `$` and itself
    /// and stays literal before anything else.
    fn double_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.pos += 1;
        if self.lexer.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedQuote('"')),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    out.push_str(&v);
                }
                Some(c) => {
                    self.pos += 1;
                    let mut ch = c;
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                self.pos += 1;
                                ch = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        match ch {
            '}' => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lexer.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let mut modifier = ch.to_string();
                let null_is_unset = ch == ':';
                if null_is_unset {
                    ch = self.next().ok_or(ExpandError::MissingBrace)?;
                    modifier.push(ch);
                }
                let trims = ch == '#' || ch == '%';
                if null_is_unset && trims {
                    return Err(ExpandError::UnsupportedModifier(modifier));
                }
                let (word, _) = self.until(Some('}'), trims).map_err(|e| self.at_end_or(e))?;
                let value = self.lookup(&name);
                if value.is_none() && self.lexer.skip_unset {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                // `:` makes an empty value count as unset.
                let set = value.is_some();
                let value = value.unwrap_or_default();
                let unset = !set || (null_is_unset && value.is_empty());
                match ch {
                    '-' => Ok(if unset { word } else { value }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' if unset => {
                        let why = if set { "is not allowed to be empty" } else { "is not allowed to be unset" };
                        Err(required(&name, word, why))
                    }
                    '?' => Ok(value),
                    '#' | '%' => {
                        // A doubled operator (`##`, `%%`) removes the longest match.
                        let longest = word.starts_with(ch);
                        let pat = if longest { &word[1..] } else { &word[..] };
                        let pattern = Pattern::parse(pat)?;
                        Ok(if ch == '#' {
                            pattern::trim_prefix(&pattern, &value, longest)
                        } else {
                            pattern::trim_suffix(&pattern, &value, longest)
                        })
                    }
                    _ => Err(ExpandError::UnsupportedModifier(modifier)),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let (pat, _) = self
                    .until(Some('/'), true)
                    .map_err(|e| if self.peek().is_none() { ExpandError::MissingSlash } else { e })?;
                let (replacement, _) = self.until(Some('}'), true).map_err(|e| self.at_end_or(e))?;
                let value = self.lookup(&name);
                if value.is_none() && self.lexer.skip_unset {
                    return Ok(format!("${{{name}/{pat}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let pattern = Pattern::parse(&pat)?;
                Ok(pattern::replace(&pattern, &value, &replacement, all))
            }
            other => Err(ExpandError::UnsupportedModifier(other.to_string())),
        }
    }

    /// An unterminated `${` reads as a missing brace.
    fn at_end_or(&self, e: ExpandError) -> ExpandError {
        if self.peek().is_none() { ExpandError::MissingBrace } else { e }
    }

    /// A name: letters, digits and `_`; or all the digits of a positional parameter;
    /// or one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            self.pos += 1;
            name.push(ch);
        }
        name
    }

    /// `<<` and the blanks after it stay together in one word, so that `<< EOF` is
    /// seen as one heredoc word.
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.pos += 1;
        let mut out = "<<".to_string();
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            out.push(c);
            self.pos += 1;
        }
        out
    }
}

fn required(name: &str, word: String, default: &str) -> ExpandError {
    ExpandError::Required { name: name.to_string(), message: if word.is_empty() { default.to_string() } else { word } }
}

#[cfg(test)]
mod tests;
