//! The crate's error type.

use std::path::PathBuf;

use crate::expand::ExpandError;
use crate::location::Location;

/// Longest quoted source text in an error; longer text is cut with an ellipsis.
const QUOTE_MAX: usize = 120;

/// Everything that can go wrong reading or planning a build file. Errors about the
/// file name where (file, line, column) and quote the text there.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text does not follow the language.
    #[error("{at}: {message}: {}", quote(.text))]
    Syntax { at: Location, message: String, text: String },
    /// The file parses but asks for something impossible (a blank base image, a
    /// CMD without a model, an ARG-only file ...).
    #[error("{at}: {message}: {}", quote(.text))]
    Invalid { at: Location, message: String, text: String },
    /// A word could not be expanded (unterminated quote, `${V?}` on an unset V ...).
    #[error("{at}: {source}: {}", quote(.text))]
    Expand { at: Location, source: ExpandError, text: String },
    /// `--from` names no stage (and does not look like an image reference).
    #[error("{at}: no stage named {name:?} (an image needs a tag, a digest or a registry, like {name}:latest): {}", quote(.text))]
    UndefinedStage { at: Location, name: String, text: String },
    /// Stages that need each other.
    #[error("{at}: stages depend on each other in a cycle: {}", .stages.join(" -> "))]
    Cycle { at: Location, stages: Vec<String> },
    /// `--target` names no stage.
    #[error("target stage {name:?} not found; the named stages are: {}", if .known.is_empty() { "(none)".to_string() } else { .known.join(", ") })]
    UnknownTarget { name: String, known: Vec<String> },
    /// A layer could not be written.
    #[error("{at}: writing the layer: {source}")]
    Write { at: Location, source: std::io::Error },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] hoist_store::StoreError),
    /// The file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

/// The text between double quotes, escaped, cut to [`QUOTE_MAX`] characters.
pub(crate) fn quote(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= QUOTE_MAX {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(QUOTE_MAX).collect();
        format!("{cut:?}...")
    }
}
