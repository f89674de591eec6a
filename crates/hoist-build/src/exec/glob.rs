//! Path patterns of COPY and ADD sources and of `--exclude`, as Docker reads them:
//! `*` (any characters but `/`), `?` (one character but `/`), `[a-z]` and `[^a-z]`
//! classes, `\` escapes; and, in `--exclude` patterns, `**` as a whole component
//! for any number of directories.

/// One piece of a path component's pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    One,
    Class { negated: bool, ranges: Vec<(char, char)> },
    Lit(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Component {
    /// `**`: any number of components.
    Any,
    Tokens(Vec<Token>),
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    components: Vec<Component>,
}

impl Glob {
    /// Parses `pattern` (components separated by `/`, leading and doubled `/`
    /// ignored). `double_star` makes a `**` component match any depth.
    pub(crate) fn parse(pattern: &str, double_star: bool) -> Result<Self, String> {
        let mut components = Vec::new();
        for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if double_star && part == "**" {
                components.push(Component::Any);
            } else {
                components.push(Component::Tokens(tokens(part).ok_or_else(|| format!("bad pattern {pattern:?}"))?));
            }
        }
        Ok(Self { components })
    }

    /// Whether the whole of `path` (components separated by `/`) matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match_components(&self.components, &parts)
    }

    /// Whether `path` or one of its parent directories matches (an excluded
    /// directory excludes what is in it).
    pub(crate) fn matches_or_parent(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        (1..=parts.len()).any(|n| match_components(&self.components, &parts[..n]))
    }
}

fn tokens(part: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Token::Star,
            '?' => Token::One,
            '\\' => Token::Lit(chars.next()?),
            '[' => {
                let mut negated = false;
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let mut c = chars.next()?;
                    if first && c == '^' {
                        negated = true;
                        first = false;
                        continue;
                    }
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    if c == '\\' {
                        c = chars.next()?;
                    }
                    let mut rest = chars.clone();
                    if rest.next() == Some('-') && rest.clone().next().is_some_and(|e| e != ']') {
                        chars.next();
                        let mut hi = chars.next()?;
                        if hi == '\\' {
                            hi = chars.next()?;
                        }
                        if hi < c {
                            return None;
                        }
                        ranges.push((c, hi));
                    } else {
                        ranges.push((c, c));
                    }
                }
                Token::Class { negated, ranges }
            }
            c => Token::Lit(c),
        });
    }
    Some(out)
}

fn match_components(pattern: &[Component], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Component::Any, rest)) => (0..=path.len()).any(|skip| match_components(rest, &path[skip..])),
        Some((Component::Tokens(t), rest)) => path.split_first().is_some_and(|(first, others)| {
            match_tokens(t, &first.chars().collect::<Vec<_>>()) && match_components(rest, others)
        }),
    }
}

/// Matches one component; a set-of-states walk, linear in the name's length.
fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    let n = tokens.len();
    let close = |states: &mut Vec<bool>| {
        for s in 0..n {
            if states[s] && tokens[s] == Token::Star {
                states[s + 1] = true;
            }
        }
    };
    let mut states = vec![false; n + 1];
    states[0] = true;
    close(&mut states);
    for &c in name {
        let mut next = vec![false; n + 1];
        for s in (0..n).filter(|&s| states[s]) {
            let ok = match &tokens[s] {
                Token::Star => {
                    next[s] = true;
                    continue;
                }
                Token::One => true,
                Token::Lit(l) => *l == c,
                Token::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
            };
            if ok {
                next[s + 1] = true;
            }
        }
        close(&mut next);
        states = next;
    }
    states[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Glob::parse(p, true).unwrap().matches(path)
    }

    #[test]
    fn components() {
        assert!(m("*.gguf", "a.gguf"));
        assert!(!m("*.gguf", "d/a.gguf"));
        assert!(m("d/*.gguf", "d/a.gguf"));
        assert!(m("/d//x?", "d/xy"));
        assert!(m("[a-c]*", "b1"));
        assert!(!m("[^a-c]*", "b1"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("[]]", "]"));
        assert!(m("**/*.md", "README.md"));
        assert!(m("**/*.md", "a/b/c.md"));
        assert!(m("a/**", "a/b/c"));
        assert!(!Glob::parse("a/**", false).unwrap().matches("a/b/c"));
        assert!(Glob::parse("a[", true).is_err());
        assert!(Glob::parse("a\\", true).is_err());
        assert!(Glob::parse("[z-a]", true).is_err());
    }

    #[test]
    fn parents_and_literals() {
        let g = Glob::parse("docs", true).unwrap();
        assert!(g.matches_or_parent("docs/a/b.md"));
        assert!(!g.matches_or_parent("src/docs.md"));
    }
}
