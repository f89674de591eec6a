//! Heredocs: `<<NAME` (or `<<-NAME`, which strips leading tabs) in ADD, COPY and
//! CAT; the body is the following lines up to a line that is exactly NAME. Quoting
//! any part of the name (`<<"EOF"`, `<<'EOF'`, `<<E"OF"`) turns expansion of the
//! body off. Several heredocs on one line take their bodies in order.

use crate::expand::Lexer;

/// A heredoc word: its name and how its body is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeredocWord {
    pub name: String,
    /// Variables in the body are expanded (the name was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body's lines and the terminator.
    pub chomp: bool,
}

/// A heredoc with its body, as read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    /// The lines between the instruction and the terminator, newlines kept, tabs
    /// already stripped for `<<-`.
    pub content: String,
}

/// Reads `word` as a heredoc word: optional digits (a file descriptor, accepted
/// and ignored), `<<`, an optional `-`, optional blanks, and a name with no `<`
/// that lexes as a single word.
pub(crate) fn heredoc_word(word: &str) -> Option<HeredocWord> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\u{c}']);
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let mut lexer = Lexer::new('\\');
    lexer.skip_unset = true;
    let env: Vec<(String, String)> = Vec::new();
    let plain = lexer.expand(rest, &env).ok()?.words;
    let [name] = plain.as_slice() else {
        return None;
    };
    lexer.raw_quotes = true;
    let raw = lexer.expand(rest, &env).ok()?.words;
    let [raw] = raw.as_slice() else {
        return None;
    };
    // Quotes that the plain lexing removed mean part of the name was quoted.
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Some(HeredocWord { name: name.clone(), expand: quotes(name) == quotes(raw), chomp })
}

/// The heredoc words of an instruction's line, in order. A line that does not lex
/// (an unterminated quote) has none.
pub(crate) fn heredocs_in_line(line: &str) -> Vec<HeredocWord> {
    let mut lexer = Lexer::new('\\');
    lexer.raw_quotes = true;
    lexer.raw_escapes = true;
    lexer.skip_unset = true;
    let env: Vec<(String, String)> = Vec::new();
    match lexer.expand(line, &env) {
        Ok(e) => e.words.iter().filter_map(|w| heredoc_word(w)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Strips the leading tabs of every line (`<<-`).
pub(crate) fn chomp(content: &str) -> String {
    content.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(name: &str, expand: bool, chomp: bool) -> Option<HeredocWord> {
        Some(HeredocWord { name: name.into(), expand, chomp })
    }

    #[test]
    fn words() {
        assert_eq!(heredoc_word("<<EOF"), word("EOF", true, false));
        assert_eq!(heredoc_word("<<-EOF"), word("EOF", true, true));
        assert_eq!(heredoc_word("<< EOF"), word("EOF", true, false));
        assert_eq!(heredoc_word("3<<EOF"), word("EOF", true, false));
        assert_eq!(heredoc_word("<<\"EOF\""), word("EOF", false, false));
        assert_eq!(heredoc_word("<<'EOF'"), word("EOF", false, false));
        assert_eq!(heredoc_word("<<E\"O\"F"), word("EOF", false, false));
        assert_eq!(heredoc_word("<<'E\"F'"), word("E\"F", false, false));
        for no in ["<<", "<<-", "EOF", "<<a<b", "<<'x y' z", "<<\"x", "x<<EOF"] {
            assert_eq!(heredoc_word(no), None, "{no:?}");
        }
    }

    #[test]
    fn several_on_a_line() {
        let got = heredocs_in_line("CAT <<A <<-\"B\" c <<C dest");
        let names: Vec<_> = got.iter().map(|h| (h.name.as_str(), h.expand, h.chomp)).collect();
        assert_eq!(names, [("A", true, false), ("B", false, true), ("C", true, false)]);
        assert!(heredocs_in_line("CAT 'unterminated <<A").is_empty());
    }

    #[test]
    fn chomping() {
        assert_eq!(chomp("\t\ta\n\tb\t\n c\n"), "a\nb\t\n c\n");
    }
}
