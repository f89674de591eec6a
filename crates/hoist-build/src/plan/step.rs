//! The steps of a planned stage: instructions with every word expanded, every
//! `--from` resolved. This is what the executor runs and what a step's cache key
//! is made of.

use crate::location::Location;

/// Where a file-reading instruction reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromRef {
    /// Another stage of the file (its index in [`super::Plan::stages`]).
    Stage(usize),
    /// The build context (`--from=context`, and the default of COPY).
    Context,
    /// The stage's own files so far (the default of CONVERT and QUANTIZE).
    Current,
    /// An image or model: from the store, else pulled.
    Image(String),
}

/// A source of ADD, COPY or CAT after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A path or pattern (ADD: also a URL or git repository).
    Path(String),
    /// A heredoc's body, expanded unless its name was quoted.
    Inline { name: String, data: String },
}

/// Options of ADD and COPY, expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOptions {
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
}

/// One instruction of a stage, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The instruction's keyword location.
    pub at: Location,
    /// The instruction as written (continuations joined), for history and errors.
    pub text: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    Add {
        sources: Vec<Content>,
        dest: String,
        options: FileOptions,
        keep_git_dir: bool,
        checksum: Option<String>,
    },
    Copy {
        from: FromRef,
        sources: Vec<Content>,
        dest: String,
        options: FileOptions,
        parents: bool,
    },
    /// CAT: the pieces written one after the other into `dest`.
    Cat {
        parts: Vec<String>,
        dest: String,
    },
    Label(Vec<(String, String)>),
    /// CMD's arguments and the model files they name.
    Cmd {
        args: Vec<String>,
        files: crate::cmd::ModelFiles,
    },
    Convert {
        from: FromRef,
        src: String,
        dest: String,
        class: String,
        base: Option<String>,
        out_type: String,
    },
    Quantize(Box<QuantizeStep>),
}

/// QUANTIZE, expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizeStep {
    pub from: FromRef,
    pub src: String,
    pub dest: String,
    pub out_type: String,
    pub imatrix: Option<String>,
    pub include_weights: Vec<String>,
    pub exclude_weights: Vec<String>,
    pub leave_output_tensor: bool,
    pub pure: bool,
    pub output_tensor_type: Option<String>,
    pub token_embedding_type: Option<String>,
}
