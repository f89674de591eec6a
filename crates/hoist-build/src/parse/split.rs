//! Splitting an instruction's logical line: the keyword, the `--flag[=value]`
//! options, and the arguments in the forms the instructions use (whitespace
//! fields, quote-aware words, a JSON array). Offsets are bytes of the logical line,
//! so every piece keeps its location.

/// BuildKit splits fields on these (not on newlines, which never reach here).
pub(crate) fn is_field_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// A piece of the line and where it starts.
pub(crate) type Piece = (String, usize);

/// The keyword and where the text after it starts.
pub(crate) fn keyword(line: &str) -> (Piece, usize) {
    let start = line.len() - line.trim_start().len();
    let end = line[start..].find(is_field_space).map_or(line.len(), |i| start + i);
    ((line[start..end].to_string(), start), end)
}

/// Leading options: words starting with `--` (quotes and escapes removed); `--`
/// alone ends them. Returns the options and where the arguments start.
pub(crate) fn flags(line: &str, from: usize, escape: char) -> (Vec<Piece>, usize) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut out = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut start = from;
    let mut blank_ok = false;
    let mut chars = line[from..].char_indices().map(|(i, c)| (from + i, c)).peekable();
    while let Some((pos, ch)) = chars.next() {
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    continue;
                }
                if !line[pos..].starts_with("--") {
                    return (out, pos);
                }
                phase = Phase::Word;
                start = pos;
                word.push(ch);
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if word == "--" {
                        return (out, pos);
                    }
                    if blank_ok || !word.is_empty() {
                        out.push((std::mem::take(&mut word), start));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                } else if ch == escape {
                    // An escape at the end is dropped; otherwise the next character
                    // is taken as it is.
                    if let Some((_, next)) = chars.next() {
                        word.push(next);
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                } else if ch == escape {
                    match chars.next() {
                        Some((_, next)) => word.push(next),
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(ch);
                }
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        out.push((word, start));
    }
    (out, line.len())
}

/// Fields separated by blanks, as written.
pub(crate) fn fields(line: &str, from: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line[from..].char_indices().map(|(i, c)| (from + i, c)) {
        match (is_field_space(c), start) {
            (true, Some(s)) => {
                out.push((line[s..i].to_string(), s));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((line[s..].to_string(), s));
    }
    out
}

/// Words separated by whitespace outside quotes, quotes and escapes kept (they
/// are removed when the word is expanded). Used by ARG and LABEL.
pub(crate) fn words(line: &str, from: usize, escape: char) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = line[from..].char_indices().map(|(i, c)| (from + i, c)).peekable();
    while let Some((pos, ch)) = chars.next() {
        let Some(s) = start else {
            if !ch.is_whitespace() {
                start = Some(pos);
                word.clear();
                blank_ok = false;
                push_word_char(&mut word, &mut quote, &mut blank_ok, ch, escape, &mut chars);
            }
            continue;
        };
        if quote.is_none() && ch.is_whitespace() {
            if blank_ok || !word.is_empty() {
                out.push((std::mem::take(&mut word), s));
            }
            start = None;
            continue;
        }
        push_word_char(&mut word, &mut quote, &mut blank_ok, ch, escape, &mut chars);
    }
    if let Some(s) = start
        && (blank_ok || !word.is_empty())
    {
        out.push((word, s));
    }
    out
}

fn push_word_char(
    word: &mut String,
    quote: &mut Option<char>,
    blank_ok: &mut bool,
    ch: char,
    escape: char,
    chars: &mut std::iter::Peekable<impl Iterator<Item = (usize, char)>>,
) {
    match *quote {
        None if ch == '\'' || ch == '"' => {
            *quote = Some(ch);
            *blank_ok = true;
            word.push(ch);
        }
        Some(q) if ch == q => {
            *quote = None;
            word.push(ch);
        }
        // Inside single quotes nothing is escaped.
        Some('\'') => word.push(ch),
        _ if ch == escape => match chars.next() {
            Some((_, next)) => {
                word.push(ch);
                word.push(next);
            }
            // An escape at the end is dropped (and ends a double quote).
            None => {
                if quote.is_some() {
                    *quote = None;
                }
            }
        },
        _ => word.push(ch),
    }
}

/// Why a `[...]` argument is not used as the JSON form.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotStrings;

/// The JSON (exec) form: a JSON array of strings. `Ok(None)` when the text is not
/// a JSON array (then it is the shell form); an array holding anything but strings
/// is an error, as in BuildKit.
pub(crate) fn json_array(text: &str) -> Result<Option<Vec<String>>, NotStrings> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NotStrings),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &[Piece]) -> Vec<&str> {
        p.iter().map(|(s, _)| s.as_str()).collect()
    }

    #[test]
    fn keyword_and_flags() {
        let line = "  COPY --from=a --chmod=\"6 4\" --link x y";
        let ((kw, at), rest) = keyword(line);
        assert_eq!((kw.as_str(), at, rest), ("COPY", 2, 6));
        let (fl, args) = flags(line, rest, '\\');
        assert_eq!(texts(&fl), ["--from=a", "--chmod=6 4", "--link"]);
        assert_eq!(fl[1].1, line.find("--chmod").unwrap());
        assert_eq!(&line[args..], "x y");
    }

    #[test]
    fn double_dash_ends_flags_and_escapes_apply() {
        let (fl, args) = flags("X --a\\ b -- --c d", 1, '\\');
        assert_eq!(texts(&fl), ["--a b"]);
        assert_eq!(&"X --a\\ b -- --c d"[args..], " --c d");
        let (fl, args) = flags("X --a", 1, '\\');
        assert_eq!((texts(&fl), args), (vec!["--a"], 5));
        let (fl, args) = flags("X -a --b", 1, '\\');
        assert_eq!((fl.len(), args), (0, 2));
        let (fl, _) = flags("X --x=''", 1, '\\');
        assert_eq!(texts(&fl), ["--x="]);
    }

    #[test]
    fn fields_keep_quotes() {
        let f = fields("a  \"b c\"\td", 0);
        assert_eq!(texts(&f), ["a", "\"b", "c\"", "d"]);
        assert_eq!(f[3].1, 9);
    }

    #[test]
    fn words_group_quotes_and_keep_them() {
        let w = words(r#"a="x y" b='c\' d\ e "" f\"g"#, 0, '\\');
        assert_eq!(texts(&w), [r#"a="x y""#, r"b='c\'", r"d\ e", r#""""#, r#"f\"g"#]);
        assert_eq!(w[1].1, 8);
        assert_eq!(texts(&words("a\\", 0, '\\')), ["a"]);
        assert_eq!(texts(&words("  ", 0, '\\')), Vec::<&str>::new());
    }

    #[test]
    fn json_form() {
        assert_eq!(json_array(r#" ["-m", "a b"]"#), Ok(Some(vec!["-m".into(), "a b".into()])));
        assert_eq!(json_array("[1]"), Err(NotStrings));
        assert_eq!(json_array("[a, b]"), Ok(None));
        assert_eq!(json_array("-m x"), Ok(None));
        assert_eq!(json_array("[]"), Ok(Some(vec![])));
    }
}
