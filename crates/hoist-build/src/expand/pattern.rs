//! Shell wildcard patterns of `${V#p}`, `${V%p}` and `${V/p/r}`: `*` matches any
//! string, `?` one character, `\*` `\?` `\\` the character itself; `\}` and `\/` are
//! how a `}` or `/` gets into the pattern past the `${...}` parser. Every other
//! character is literal, and any other escape is an error (as in BuildKit, which
//! has no bracket expressions either).
//!
//! Matching is a set-of-states walk over the pattern (no backtracking), so a
//! pattern of many stars costs O(text x pattern), whatever the input.

use super::ExpandError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Any,
    One,
    Lit(char),
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    pub(crate) fn parse(src: &str) -> Result<Self, ExpandError> {
        let mut tokens = Vec::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Any),
                '?' => tokens.push(Token::One),
                '\\' => match chars.next() {
                    Some(e @ ('*' | '?' | '\\' | '}' | '/')) => tokens.push(Token::Lit(e)),
                    other => {
                        return Err(ExpandError::BadPattern { pattern: src.to_string(), escape: other });
                    }
                },
                c => tokens.push(Token::Lit(c)),
            }
        }
        Ok(Self { tokens })
    }

    fn reversed(&self) -> Self {
        Self { tokens: self.tokens.iter().rev().copied().collect() }
    }

    /// The ends `e` (as char counts) for which `text[..e]` matches the whole pattern.
    fn prefix_ends(&self, text: &[char]) -> Vec<usize> {
        let n = self.tokens.len();
        let mut states = vec![false; n + 1];
        states[0] = true;
        self.close(&mut states);
        let mut ends = Vec::new();
        if states[n] {
            ends.push(0);
        }
        for (i, &c) in text.iter().enumerate() {
            let mut next = vec![false; n + 1];
            for s in 0..n {
                if !states[s] {
                    continue;
                }
                match self.tokens[s] {
                    Token::Any => next[s] = true,
                    Token::One => next[s + 1] = true,
                    Token::Lit(l) if l == c => next[s + 1] = true,
                    Token::Lit(_) => {}
                }
            }
            self.close(&mut next);
            if !next.iter().any(|&s| s) {
                break;
            }
            if next[n] {
                ends.push(i + 1);
            }
            states = next;
        }
        ends
    }

    /// A star may match nothing: a state before a star also stands after it.
    fn close(&self, states: &mut [bool]) {
        for s in 0..self.tokens.len() {
            if states[s] && self.tokens[s] == Token::Any {
                states[s + 1] = true;
            }
        }
    }
}

/// `${V#p}` (shortest) and `${V##p}` (longest): drop the matching prefix.
pub(crate) fn trim_prefix(pattern: &Pattern, value: &str, longest: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let ends = pattern.prefix_ends(&chars);
    let cut = if longest { ends.last() } else { ends.first() };
    match cut {
        Some(&e) => chars[e..].iter().collect(),
        None => value.to_string(),
    }
}

/// `${V%p}` (shortest) and `${V%%p}` (longest): drop the matching suffix, found as a
/// prefix of the reversed value with the reversed pattern.
pub(crate) fn trim_suffix(pattern: &Pattern, value: &str, longest: bool) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    chars.reverse();
    let ends = pattern.reversed().prefix_ends(&chars);
    let cut = if longest { ends.last() } else { ends.first() };
    match cut {
        Some(&e) => chars[e..].iter().rev().collect(),
        None => value.to_string(),
    }
}

/// `${V/p/r}` and `${V//p/r}`: replace the leftmost (or every) match, each the
/// longest match at its start. An empty match right after a match is skipped, so
/// `//` with an empty pattern puts the replacement between characters once.
pub(crate) fn replace(pattern: &Pattern, value: &str, replacement: &str, all: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    let mut prev_end = None;
    let mut replaced = false;
    while i <= chars.len() {
        if all || !replaced {
            let end = pattern.prefix_ends(&chars[i..]).last().map(|e| i + e);
            if let Some(e) = end.filter(|&e| !(e == i && prev_end == Some(i))) {
                out.push_str(replacement);
                replaced = true;
                prev_end = Some(e);
                if e > i {
                    i = e;
                    continue;
                }
            }
        }
        if let Some(&c) = chars.get(i) {
            out.push(c);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn escapes_and_errors() {
        assert_eq!(
            p(r"\*\?\\\}\/").tokens,
            vec![Token::Lit('*'), Token::Lit('?'), Token::Lit('\\'), Token::Lit('}'), Token::Lit('/')]
        );
        for bad in [r"\", r"\x", r"\\\"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_and_suffix() {
        assert_eq!(trim_prefix(&p("*x*y"), "xxyy", false), "y");
        assert_eq!(trim_prefix(&p("*"), "xxyy", false), "xxyy");
        assert_eq!(trim_prefix(&p("*x"), "xxyy", true), "yy");
        assert_eq!(trim_prefix(&p(r"?\?"), "???y", false), "?y");
        assert_eq!(trim_suffix(&p(r"\**"), "xx**", true), "xx");
        assert_eq!(trim_suffix(&p(r"\**\*"), "a***yy*", true), "a");
        assert_eq!(trim_suffix(&p("x"), "xxyy", false), "xxyy");
        assert_eq!(trim_suffix(&p("y*"), "xyxy", false), "xyx");
        assert_eq!(trim_suffix(&p("y*"), "xyxy", true), "x");
    }

    #[test]
    fn replacement() {
        assert_eq!(replace(&p("/tmp"), "/tmp/tmp/bar.txt", "", false), "/tmp/bar.txt");
        assert_eq!(replace(&p("/tmp"), "/tmp/tmp/bar.txt", "", true), "/bar.txt");
        assert_eq!(replace(&p("/?/"), "/a/foo/b/c.txt", "/", true), "/foo/c.txt");
        assert_eq!(replace(&p(r"\*/"), "/foo*/*/*.txt", ".", true), "/foo..*.txt");
        assert_eq!(replace(&p(""), "xxyy", "ww", false), "wwxxyy");
        assert_eq!(replace(&p(""), "ab", "-", true), "-a-b-");
        assert_eq!(replace(&p("b*"), "abcb", "X", true), "aX");
    }
}
