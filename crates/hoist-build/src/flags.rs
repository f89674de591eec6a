//! `--name[=value]` options of an instruction, checked against what the instruction
//! accepts: unknown names, repeats (except list options), booleans that are not
//! `true`/`false`, and values missing are errors at the option's location.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::location::Word;

/// What an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, once.
    Value,
    /// `--exclude=x`, any number of times.
    List,
}

/// The options an instruction accepts.
pub(crate) type Spec = &'static [(&'static str, Kind)];

/// The options given, by name.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<&'static str, Vec<Word>>,
    bools: BTreeMap<&'static str, bool>,
}

impl Flags {
    pub(crate) fn parse(instruction: &str, spec: Spec, given: &[Word]) -> Result<Self, Error> {
        let mut out = Flags::default();
        for flag in given {
            let body = flag.text.strip_prefix("--").unwrap_or(&flag.text);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let err = |message: String| Error::Syntax { at: flag.at.clone(), message, text: flag.text.clone() };
            let Some(&(name, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                let known = if spec.is_empty() {
                    format!("{instruction} takes no options")
                } else {
                    let names: Vec<String> = spec.iter().map(|(n, _)| format!("--{n}")).collect();
                    format!("{instruction} takes {}", names.join(", "))
                };
                return Err(err(format!("unknown option --{name} ({known})")));
            };
            let seen = out.values.contains_key(name) || out.bools.contains_key(name);
            if seen && kind != Kind::List {
                return Err(err(format!("option --{name} given twice")));
            }
            match (kind, value) {
                (Kind::Bool, None) => {
                    out.bools.insert(name, true);
                }
                (Kind::Bool, Some(v)) => {
                    let b = match v.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        "" => return Err(err(format!("option --{name} is missing its value"))),
                        _ => return Err(err(format!("option --{name} takes true or false, not {v:?}"))),
                    };
                    out.bools.insert(name, b);
                }
                (_, None) => return Err(err(format!("option --{name} is missing its value (--{name}=...)"))),
                (_, Some(v)) => {
                    out.values.entry(name).or_default().push(Word { text: v.to_string(), at: flag.at.clone() })
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }

    pub(crate) fn value(&mut self, name: &str) -> Option<Word> {
        self.values.remove(name).and_then(|mut v| v.pop())
    }

    pub(crate) fn list(&mut self, name: &str) -> Vec<Word> {
        self.values.remove(name).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::Location;

    const SPEC: Spec = &[("from", Kind::Value), ("link", Kind::Bool), ("exclude", Kind::List)];

    fn words(texts: &[&str]) -> Vec<Word> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Word { text: t.to_string(), at: Location { file: "f".into(), line: 1, column: 10 * i + 1 } })
            .collect()
    }

    #[test]
    fn values_bools_and_lists() {
        let mut f =
            Flags::parse("COPY", SPEC, &words(&["--from=a=b", "--link=FALSE", "--exclude=x", "--exclude=y"])).unwrap();
        assert_eq!(f.value("from").unwrap().text, "a=b");
        assert!(!f.bool("link"));
        let ex: Vec<String> = f.list("exclude").into_iter().map(|w| w.text).collect();
        assert_eq!(ex, ["x", "y"]);
        let f = Flags::parse("COPY", SPEC, &words(&["--link"])).unwrap();
        assert!(f.bool("link"));
    }

    #[test]
    fn errors_name_the_option_and_where() {
        let cases = [
            (vec!["--nope"], "f:1:1: unknown option --nope (COPY takes --from, --link, --exclude): \"--nope\""),
            (vec!["--from=a", "--from=b"], "f:1:11: option --from given twice: \"--from=b\""),
            (vec!["--link=yes"], "f:1:1: option --link takes true or false, not \"yes\": \"--link=yes\""),
            (vec!["--link="], "f:1:1: option --link is missing its value: \"--link=\""),
            (vec!["--from"], "f:1:1: option --from is missing its value (--from=...): \"--from\""),
        ];
        for (given, expected) in cases {
            let err = Flags::parse("COPY", SPEC, &words(&given)).unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
        let err = Flags::parse("CAT", &[], &words(&["--x=1"])).unwrap_err();
        assert_eq!(err.to_string(), "f:1:1: unknown option --x (CAT takes no options): \"--x=1\"");
    }
}
