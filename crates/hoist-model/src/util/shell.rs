//! Quoting for POSIX shells: commands shown to users (`run --dry-run`, a
//! partial model's recorded selection) paste back into a shell unchanged.

/// A command as a POSIX shell reads it: words joined by spaces, each quoted
/// only when it needs to be.
pub fn shell_join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| shell_quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// One word for a POSIX shell: as it is when every character is safe, else in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_only_where_needed() {
        assert_eq!(shell_quote("/a/b-c_d.gguf"), "/a/b-c_d.gguf");
        assert_eq!(shell_quote("--x=1,2"), "--x=1,2");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_join(&["llama-server", "-m", "/x y/m.gguf"]), "llama-server -m '/x y/m.gguf'");
    }
}
