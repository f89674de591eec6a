//! Where things are in a build file: [`Location`] (file, line, column) and [`Word`]
//! (text with the location of its first character).

use std::fmt;
use std::sync::Arc;

/// A position in a build file; line and column count from 1, columns in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A piece of an instruction as written (before expansion) and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub at: Location,
}

/// One physical line's share of a logical line: logical bytes from `start` on come
/// from `line`, starting at character column `column`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    start: usize,
    line: usize,
    column: usize,
}

/// An instruction's text once continuation lines are joined, with the map back to
/// physical lines and columns.
#[derive(Debug, Clone)]
pub(crate) struct LogicalLine {
    pub(crate) file: Arc<str>,
    pub(crate) text: String,
    segments: Vec<Segment>,
}

impl LogicalLine {
    pub(crate) fn new(file: Arc<str>) -> Self {
        Self { file, text: String::new(), segments: Vec::new() }
    }

    /// Appends `piece`, which starts at `column` of physical line `line`.
    pub(crate) fn push(&mut self, piece: &str, line: usize, column: usize) {
        self.segments.push(Segment { start: self.text.len(), line, column });
        self.text.push_str(piece);
    }

    pub(crate) fn last_line(&self) -> usize {
        self.segments.last().map_or(1, |s| s.line)
    }

    /// The location of byte `offset` of the logical text.
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let seg = self.segments.iter().rev().find(|s| s.start <= offset).copied().unwrap_or(Segment {
            start: 0,
            line: 1,
            column: 1,
        });
        let chars = self.text.get(seg.start..offset).map_or(0, |s| s.chars().count());
        Location { file: self.file.clone(), line: seg.line, column: seg.column + chars }
    }

    /// A word of the logical text starting at byte `offset`.
    pub(crate) fn word(&self, text: impl Into<String>, offset: usize) -> Word {
        Word { text: text.into(), at: self.locate(offset) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_back_to_physical_lines() {
        let mut l = LogicalLine::new("f".into());
        l.push("COPY é ", 3, 1);
        l.push("  b c", 5, 1);
        assert_eq!(l.text, "COPY é   b c");
        assert_eq!((l.locate(0).line, l.locate(0).column), (3, 1));
        // "é" is two bytes and one column.
        assert_eq!((l.locate(7).line, l.locate(7).column), (3, 7));
        assert_eq!((l.locate(8).line, l.locate(8).column), (5, 1));
        let b = l.text.find('b').unwrap();
        assert_eq!(l.locate(b).to_string(), "f:5:3");
        assert_eq!(l.last_line(), 5);
    }
}
