//! Parsing `WWW-Authenticate` (RFC 9110 §11.6.1): one header may carry several
//! challenges, and quoted values may hold commas (`scope="repository:a:pull,push"`),
//! so splitting on commas is not enough.

/// One challenge: a scheme (lower case) and its parameters (names lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Every challenge in a header value, in order. Malformed parts are skipped.
pub(crate) fn parse(header: &str) -> Vec<Challenge> {
    let mut cursor = Cursor { chars: header.chars().collect(), at: 0 };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        cursor.skip(|c| c.is_whitespace() || c == ',');
        let token = cursor.token();
        if token.is_empty() {
            // Nothing recognisable left (or a stray character): skip it.
            if cursor.next().is_none() {
                break;
            }
            continue;
        }
        cursor.skip(char::is_whitespace);
        if cursor.peek() == Some('=') {
            cursor.next();
            cursor.skip(char::is_whitespace);
            let value = if cursor.peek() == Some('"') { cursor.quoted() } else { cursor.token() };
            if let Some(challenge) = challenges.last_mut() {
                challenge.params.push((token.to_ascii_lowercase(), value));
            }
        } else {
            challenges.push(Challenge { scheme: token.to_ascii_lowercase(), params: Vec::new() });
        }
    }
    challenges
}

struct Cursor {
    chars: Vec<char>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.at += 1;
        }
        c
    }

    fn skip(&mut self, what: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&what) {
            self.at += 1;
        }
    }

    /// A token: anything up to whitespace, a comma, `=` or a quote.
    fn token(&mut self) -> String {
        let start = self.at;
        self.skip(|c| !(c.is_whitespace() || matches!(c, ',' | '=' | '"')));
        self.chars.get(start..self.at).unwrap_or_default().iter().collect()
    }

    /// A quoted string (the cursor is on the opening quote), unescaped.
    fn quoted(&mut self) -> String {
        self.next();
        let mut value = String::new();
        while let Some(c) = self.next() {
            match c {
                '"' => break,
                '\\' => value.extend(self.next()),
                c => value.push(c),
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_commas_in_quotes() {
        let parsed = parse(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].scheme, "bearer");
        assert_eq!(parsed[0].param("realm"), Some("https://auth.example.com/token"));
        assert_eq!(parsed[0].param("service"), Some("registry.example.com"));
        assert_eq!(parsed[0].param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn several_challenges_and_unquoted_values() {
        let parsed =
            parse(r#"Basic realm="Registry Realm", Bearer realm=https://x/token , service = "a\"b", Negotiate"#);
        let schemes: Vec<&str> = parsed.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "negotiate"]);
        assert_eq!(parsed[0].param("realm"), Some("Registry Realm"));
        assert_eq!(parsed[1].param("realm"), Some("https://x/token"));
        assert_eq!(parsed[1].param("service"), Some("a\"b"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for header in ["", "=", "\"", "Bearer realm=\"unterminated", ",,,", "Bearer =x", "a=b"] {
            let _ = parse(header);
        }
        assert!(parse("a=b").is_empty());
    }
}
