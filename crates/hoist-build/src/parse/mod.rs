//! Reading a build file into [`Instruction`]s, by BuildKit's rules for Dockerfiles:
//!
//! - parser directives at the top (`directives`);
//! - comments: lines whose first non-blank character is `#`, also between
//!   continuation lines;
//! - continuation: a line ending in the escape character (blanks after it allowed)
//!   goes on on the next line; the escape is removed and the lines are joined as
//!   they are (the next line's leading blanks stay). Blank continuation lines are
//!   skipped with a warning, as BuildKit does;
//! - heredocs after ADD, COPY and CAT in the shell form (`heredoc`);
//! - the keyword (any case), `--flag[=value]` options, then the arguments in the
//!   form the instruction takes (`split`).
//!
//! Unknown instructions (RUN, ENV, ...: a model image runs nothing) are errors.

mod directives;
pub(crate) mod heredoc;
pub(crate) mod split;

use std::sync::Arc;

pub use heredoc::Heredoc;

use crate::error::Error;
use crate::instruction::{self, Instruction, Parts};
use crate::location::{Location, LogicalLine, Word};

/// A parsed build file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildfile {
    pub file: Arc<str>,
    /// The escape character (`\`, or a backtick from `# escape=`).
    pub escape: char,
    /// The `# syntax=` directive, if any (recorded, not acted on).
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
    pub warnings: Vec<Warning>,
}

/// Something allowed but probably not meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub at: Location,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Parses `source`, read from `file` (the name used in locations).
pub fn parse(file: &str, source: &str) -> Result<Buildfile, Error> {
    Parser::new(file, source).run()
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Removes a continuation escape (and blanks after it) from the end of `line`:
/// `(text, true)` when the instruction goes on. An escaped escape (`\\`) at the
/// end is not a continuation.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(before) if !before.ends_with(escape) => (before, true),
        _ => (line, false),
    }
}

struct Parser<'a> {
    file: Arc<str>,
    lines: Vec<&'a str>,
    next: usize,
    directives: directives::Directives,
    instructions: Vec<Instruction>,
    warnings: Vec<Warning>,
}

impl<'a> Parser<'a> {
    fn new(file: &str, source: &'a str) -> Self {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        Self {
            file: file.into(),
            lines: source.split_inclusive('\n').collect(),
            next: 0,
            directives: directives::Directives::default(),
            instructions: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn location(&self, line: usize, column: usize) -> Location {
        Location { file: self.file.clone(), line, column }
    }

    fn escape(&self) -> char {
        self.directives.escape.unwrap_or('\\')
    }

    /// The next physical line and its number.
    fn take_line(&mut self) -> Option<(usize, &'a str)> {
        let line = self.lines.get(self.next).copied()?;
        self.next += 1;
        Some((self.next, line))
    }

    fn run(mut self) -> Result<Buildfile, Error> {
        while let Some((number, raw)) = self.take_line() {
            let text = trim_newline(raw);
            let body = text.trim_start();
            let column = text[..text.len() - body.len()].chars().count() + 1;
            self.directives.line(body).map_err(|e| Error::Syntax {
                at: self.location(number, column),
                message: e.to_string(),
                text: body.to_string(),
            })?;
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let line = self.logical_line(body, number, column);
            if !line.text.trim().is_empty() {
                self.instruction(&line)?;
            }
        }
        if self.instructions.is_empty() {
            return Err(Error::Syntax {
                at: self.location(self.lines.len().max(1), 1),
                message: "the file has no instructions".into(),
                text: String::new(),
            });
        }
        Ok(Buildfile {
            escape: self.escape(),
            file: self.file,
            syntax: self.directives.syntax,
            instructions: self.instructions,
            warnings: self.warnings,
        })
    }

    /// Joins continuation lines onto `first`.
    fn logical_line(&mut self, first: &str, number: usize, column: usize) -> LogicalLine {
        let escape = self.escape();
        let mut line = LogicalLine::new(self.file.clone());
        let (piece, mut more) = trim_continuation(first, escape);
        line.push(piece, number, column);
        let mut blank = None;
        while more {
            let Some((number, raw)) = self.take_line() else {
                break;
            };
            let text = trim_newline(raw);
            let trimmed = text.trim_start();
            if trimmed.starts_with('#') {
                continue;
            }
            if trimmed.is_empty() {
                blank.get_or_insert(number);
                continue;
            }
            let (piece, again) = trim_continuation(text, escape);
            line.push(piece, number, 1);
            more = again;
        }
        if let Some(number) = blank {
            self.warnings.push(Warning {
                at: self.location(number, 1),
                message: "empty continuation line (BuildKit will reject these in a future release)".into(),
            });
        }
        line
    }

    fn instruction(&mut self, line: &LogicalLine) -> Result<(), Error> {
        let escape = self.escape();
        let ((keyword, kw_at), after) = split::keyword(&line.text);
        let keyword = line.word(keyword, kw_at);
        let lower = keyword.text.to_ascii_lowercase();
        if !instruction::KEYWORDS.contains(&lower.as_str()) {
            return Err(Error::Syntax {
                at: keyword.at.clone(),
                message: format!(
                    "unknown instruction {} (hoist builds FROM, ARG, ADD, COPY, CAT, LABEL, CMD, CONVERT and QUANTIZE)",
                    keyword.text
                ),
                text: line.text.clone(),
            });
        }
        let (flags, args_at) = split::flags(&line.text, after, escape);
        let flags: Vec<Word> = flags.into_iter().map(|(t, o)| line.word(t, o)).collect();
        let args_at = args_at + (line.text.len() - args_at - line.text[args_at..].trim_start().len());
        let heredocs = if instruction::takes_heredocs(&lower)
            && line.text.contains("<<")
            && !matches!(split::json_array(&line.text[args_at..]), Ok(Some(_)))
        {
            self.heredoc_bodies(line, &keyword)?
        } else {
            Vec::new()
        };
        let command = instruction::build(Parts { keyword: keyword.clone(), line, flags, args_at, escape, heredocs })?;
        self.instructions.push(Instruction {
            command,
            at: keyword.at,
            end_line: line.last_line(),
            text: line.text.trim().to_string(),
        });
        Ok(())
    }

    /// Reads the bodies of the heredocs the line names, in order.
    fn heredoc_bodies(&mut self, line: &LogicalLine, keyword: &Word) -> Result<Vec<Heredoc>, Error> {
        let mut docs = Vec::new();
        for word in heredoc::heredocs_in_line(&line.text) {
            let mut content = String::new();
            let mut terminated = false;
            while let Some((_, raw)) = self.take_line() {
                let mut end = trim_newline(raw);
                if word.chomp {
                    end = end.trim_start_matches('\t');
                }
                if end == word.name {
                    terminated = true;
                    break;
                }
                content.push_str(raw);
            }
            if !terminated {
                return Err(Error::Syntax {
                    at: keyword.at.clone(),
                    message: format!("heredoc {:?} has no terminating line {:?}", word.name, word.name),
                    text: line.text.clone(),
                });
            }
            if word.chomp {
                content = heredoc::chomp(&content);
            }
            docs.push(Heredoc { name: word.name, expand: word.expand, chomp: word.chomp, content });
        }
        Ok(docs)
    }
}

#[cfg(test)]
mod tests;
