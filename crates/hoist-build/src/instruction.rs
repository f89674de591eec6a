//! The instructions, typed: what each one's arguments and options are, checked for
//! shape (counts, option names, the JSON form of CMD, a stage name's spelling).
//! Words stay as written; they are expanded when the build is planned, once the
//! variables are known.

use crate::error::Error;
use crate::flags::{Flags, Kind, Spec};
use crate::location::{Location, LogicalLine, Word};
use crate::parse::heredoc::{self, Heredoc};
use crate::parse::split;

/// One instruction of the file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub command: Command,
    /// The keyword's location.
    pub at: Location,
    /// The last line of the instruction, continuation lines included (heredoc
    /// bodies are not).
    pub end_line: usize,
    /// The instruction's text, continuation lines joined.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From(From),
    Arg(Vec<ArgDef>),
    Add(Add),
    Copy(Copy),
    Cat(Files),
    Label(Vec<LabelPair>),
    Cmd(Vec<Word>),
    Convert(Convert),
    Quantize(Quantize),
}

impl Command {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::From(_) => "FROM",
            Command::Arg(_) => "ARG",
            Command::Add(_) => "ADD",
            Command::Copy(_) => "COPY",
            Command::Cat(_) => "CAT",
            Command::Label(_) => "LABEL",
            Command::Cmd(_) => "CMD",
            Command::Convert(_) => "CONVERT",
            Command::Quantize(_) => "QUANTIZE",
        }
    }

    /// The `--from` of COPY, CONVERT and QUANTIZE.
    pub fn from_option(&self) -> Option<&Word> {
        match self {
            Command::Copy(c) => c.from.as_ref(),
            Command::Convert(c) => c.from.as_ref(),
            Command::Quantize(q) => q.from.as_ref(),
            _ => None,
        }
    }
}

/// The instructions hoist knows, lower case.
pub(crate) const KEYWORDS: [&str; 9] = ["from", "arg", "add", "copy", "cat", "label", "cmd", "convert", "quantize"];

/// The instructions whose arguments may name heredocs.
pub(crate) fn takes_heredocs(keyword: &str) -> bool {
    matches!(keyword, "add" | "copy" | "cat")
}

/// `FROM [--platform=P] BASE [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// `scratch`, a stage name, or an image reference (may hold variables).
    pub base: Word,
    /// The stage name, lower-cased.
    pub name: Option<String>,
    pub platform: Option<Word>,
}

/// `ARG NAME[=default]`, one per name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub name: Word,
    pub default: Option<Word>,
}

/// A source of ADD, COPY or CAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path, URL, pattern (or for CAT, a word of text).
    Word(Word),
    Heredoc(Heredoc),
}

/// Sources and a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub sources: Vec<Source>,
    pub dest: Word,
}

/// Options of ADD and COPY.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOptions {
    pub chown: Option<Word>,
    pub chmod: Option<Word>,
    pub link: bool,
    pub exclude: Vec<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub files: Files,
    pub options: FileOptions,
    pub keep_git_dir: bool,
    /// `--checksum=sha256:...` for URLs.
    pub checksum: Option<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub files: Files,
    pub options: FileOptions,
    /// A stage, an image, or `context`.
    pub from: Option<Word>,
    pub parents: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPair {
    pub key: Word,
    pub value: Word,
}

/// CONVERT's output type when `--type` is not given.
pub const CONVERT_DEFAULT_TYPE: &str = "F16";
/// QUANTIZE's output type when `--type` is not given.
pub const QUANTIZE_DEFAULT_TYPE: &str = "Q5_K_M";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convert {
    pub src: Word,
    pub dest: Word,
    pub from: Option<Word>,
    /// `model` (default) or `lora`.
    pub class: Option<Word>,
    /// The base model directory of a LoRA adapter.
    pub base: Option<Word>,
    pub out_type: Option<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantize {
    pub src: Word,
    pub dest: Word,
    pub from: Option<Word>,
    pub out_type: Option<Word>,
    pub imatrix: Option<Word>,
    pub include_weights: Vec<Word>,
    pub exclude_weights: Vec<Word>,
    pub leave_output_tensor: bool,
    pub pure: bool,
    pub output_tensor_type: Option<Word>,
    pub token_embedding_type: Option<Word>,
}

const ADD_SPEC: Spec = &[
    ("chown", Kind::Value),
    ("chmod", Kind::Value),
    ("link", Kind::Bool),
    ("exclude", Kind::List),
    ("keep-git-dir", Kind::Bool),
    ("checksum", Kind::Value),
];

const COPY_SPEC: Spec = &[
    ("chown", Kind::Value),
    ("chmod", Kind::Value),
    ("link", Kind::Bool),
    ("exclude", Kind::List),
    ("from", Kind::Value),
    ("parents", Kind::Bool),
];

/// The pieces the line parser found for one instruction.
pub(crate) struct Parts<'a> {
    pub(crate) keyword: Word,
    pub(crate) line: &'a LogicalLine,
    pub(crate) flags: Vec<Word>,
    /// Where the arguments start in the logical line.
    pub(crate) args_at: usize,
    pub(crate) escape: char,
    pub(crate) heredocs: Vec<Heredoc>,
}

impl Parts<'_> {
    fn error(&self, at: Location, message: impl Into<String>) -> Error {
        Error::Syntax { at, message: message.into(), text: self.line.text.clone() }
    }

    fn args_text(&self) -> &str {
        self.line.text[self.args_at..].trim_end()
    }

    fn args_location(&self) -> Location {
        self.line.locate(self.args_at)
    }

    fn flags(&self, spec: Spec) -> Result<Flags, Error> {
        Flags::parse(&self.keyword.text.to_uppercase(), spec, &self.flags)
    }

    fn fields(&self) -> Vec<Word> {
        split::fields(&self.line.text, self.args_at).into_iter().map(|(t, o)| self.line.word(t, o)).collect()
    }

    /// The JSON form if the arguments are one, else blank-separated fields.
    fn json_or_fields(&self) -> Result<(Vec<Word>, bool), Error> {
        match split::json_array(self.args_text()) {
            Ok(Some(items)) => {
                let at = self.args_location();
                let words = items.into_iter().map(|text| Word { text, at: at.clone() }).collect();
                Ok((words, true))
            }
            Ok(None) => Ok((self.fields(), false)),
            Err(split::NotStrings) => {
                Err(self.error(self.args_location(), "a JSON array of arguments must hold strings only"))
            }
        }
    }

    fn at_least(&self, words: &[Word], n: usize, what: &str) -> Result<(), Error> {
        if words.len() < n {
            let kw = self.keyword.text.to_uppercase();
            return Err(self.error(self.keyword.at.clone(), format!("{kw} needs {what}")));
        }
        Ok(())
    }

    /// Splits the arguments into sources and a destination, taking heredoc words'
    /// bodies. `<<` followed by a blank and a name is one heredoc word, as the line
    /// lexer saw it.
    fn files(&self, words: Vec<Word>, json: bool) -> Result<Files, Error> {
        let mut words = words.into_iter();
        let mut all = Vec::new();
        while let Some(mut w) = words.next() {
            if !json
                && w.text == "<<"
                && let Some(next) = words.next()
            {
                w.text.push_str(&next.text);
            }
            all.push(w);
        }
        let kw = self.keyword.text.to_uppercase();
        self.at_least(&all, 2, "at least two arguments: sources and a destination")?;
        let dest = all.pop().expect("two or more words");
        if !json && heredoc::heredoc_word(&dest.text).is_some() {
            return Err(self.error(dest.at, format!("{kw} cannot take a heredoc as its destination")));
        }
        let mut sources = Vec::new();
        for w in all {
            let hd = if json { None } else { heredoc::heredoc_word(&w.text) };
            match hd.and_then(|h| self.heredocs.iter().find(|d| d.name == h.name)) {
                Some(doc) => sources.push(Source::Heredoc(doc.clone())),
                None => sources.push(Source::Word(w)),
            }
        }
        Ok(Files { sources, dest })
    }

    /// One source and a destination (CONVERT, QUANTIZE).
    fn one_source(&self) -> Result<(Word, Word), Error> {
        let (mut words, _) = self.json_or_fields()?;
        let kw = self.keyword.text.to_uppercase();
        if words.len() != 2 {
            return Err(self.error(
                self.keyword.at.clone(),
                format!("{kw} takes one source and one destination, not {} arguments", words.len()),
            ));
        }
        let dest = words.pop().expect("two words");
        let src = words.pop().expect("two words");
        Ok((src, dest))
    }
}

/// Builds the typed instruction. `keyword` is known to be one of [`KEYWORDS`].
pub(crate) fn build(parts: Parts<'_>) -> Result<Command, Error> {
    let kw = parts.keyword.text.to_ascii_lowercase();
    match kw.as_str() {
        "from" => from(&parts),
        "arg" => arg(&parts),
        "add" => add(&parts),
        "copy" => copy(&parts),
        "cat" => {
            parts.flags(&[])?;
            let (words, json) = parts.json_or_fields()?;
            Ok(Command::Cat(parts.files(words, json)?))
        }
        "label" => label(&parts),
        "cmd" => cmd(&parts),
        "convert" => convert(&parts),
        _ => quantize(&parts),
    }
}

fn from(p: &Parts<'_>) -> Result<Command, Error> {
    let mut flags = p.flags(&[("platform", Kind::Value)])?;
    let mut args = p.fields();
    let name = match args.len() {
        1 => None,
        3 if args[1].text.eq_ignore_ascii_case("as") => {
            let name = args.pop().expect("three words");
            let lower = name.text.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(p.error(
                    name.at,
                    format!(
                        "invalid stage name {:?}: it must start with a letter and hold only letters, digits, '-', '_' and '.'",
                        name.text
                    ),
                ));
            }
            Some(lower)
        }
        _ => return Err(p.error(p.keyword.at.clone(), "FROM takes an image or stage, and optionally AS and a name")),
    };
    Ok(Command::From(From { base: args.swap_remove(0), name, platform: flags.value("platform") }))
}

/// Stage names as BuildKit allows them: `[a-z][a-z0-9-_.]*`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn arg(p: &Parts<'_>) -> Result<Command, Error> {
    p.flags(&[])?;
    let words = split::words(&p.line.text, p.args_at, p.escape);
    if words.is_empty() {
        return Err(p.error(p.keyword.at.clone(), "ARG needs a name"));
    }
    let mut defs = Vec::new();
    for (text, offset) in words {
        let at = p.line.locate(offset);
        let def = match text.split_once('=') {
            Some(("", _)) => return Err(p.error(at, "ARG names cannot be blank")),
            Some((name, value)) => ArgDef {
                name: Word { text: name.to_string(), at: at.clone() },
                default: Some(p.line.word(value, offset + name.len() + 1)),
            },
            None => ArgDef { name: Word { text, at }, default: None },
        };
        defs.push(def);
    }
    Ok(Command::Arg(defs))
}

fn file_options(flags: &mut Flags) -> FileOptions {
    FileOptions {
        chown: flags.value("chown"),
        chmod: flags.value("chmod"),
        link: flags.bool("link"),
        exclude: flags.list("exclude"),
    }
}

fn add(p: &Parts<'_>) -> Result<Command, Error> {
    let mut flags = p.flags(ADD_SPEC)?;
    let (words, json) = p.json_or_fields()?;
    Ok(Command::Add(Add {
        files: p.files(words, json)?,
        options: file_options(&mut flags),
        keep_git_dir: flags.bool("keep-git-dir"),
        checksum: flags.value("checksum"),
    }))
}

fn copy(p: &Parts<'_>) -> Result<Command, Error> {
    let mut flags = p.flags(COPY_SPEC)?;
    let (words, json) = p.json_or_fields()?;
    Ok(Command::Copy(Copy {
        files: p.files(words, json)?,
        options: file_options(&mut flags),
        from: flags.value("from"),
        parents: flags.bool("parents"),
    }))
}

/// `LABEL k=v k2="v 2"`, or the old `LABEL key the value`.
fn label(p: &Parts<'_>) -> Result<Command, Error> {
    p.flags(&[])?;
    let words = split::words(&p.line.text, p.args_at, p.escape);
    let Some((first, _)) = words.first() else {
        return Err(p.error(p.keyword.at.clone(), "LABEL needs at least one key=value"));
    };
    if !first.contains('=') {
        let text = p.args_text();
        let key_end = text.find(split::is_field_space).unwrap_or(text.len());
        let value_text = &text[key_end..];
        let value_start = value_text.len() - value_text.trim_start_matches(split::is_field_space).len();
        if value_start == value_text.len() {
            return Err(p.error(p.keyword.at.clone(), "LABEL needs a key and a value"));
        }
        let key = p.line.word(&text[..key_end], p.args_at);
        let value = p.line.word(&value_text[value_start..], p.args_at + key_end + value_start);
        return Ok(Command::Label(vec![LabelPair { key, value }]));
    }
    let mut pairs = Vec::new();
    for (text, offset) in words {
        let Some((key, value)) = text.split_once('=') else {
            return Err(p.error(p.line.locate(offset), format!("expected key=value, found {text:?}")));
        };
        if key.is_empty() {
            return Err(p.error(p.line.locate(offset), "LABEL keys cannot be blank"));
        }
        pairs.push(LabelPair { key: p.line.word(key, offset), value: p.line.word(value, offset + key.len() + 1) });
    }
    Ok(Command::Label(pairs))
}

/// CMD: llama-server's arguments, in the JSON form, the first one an option.
fn cmd(p: &Parts<'_>) -> Result<Command, Error> {
    p.flags(&[])?;
    let (words, json) = p.json_or_fields()?;
    if !json {
        return Err(p.error(p.args_location(), "CMD must use the JSON form, like CMD [\"-m\", \"model.gguf\"]"));
    }
    match words.first() {
        None => Err(p.error(p.args_location(), "CMD needs arguments")),
        Some(w) if !w.text.starts_with('-') => Err(p.error(
            w.at.clone(),
            format!("CMD holds llama-server's arguments: the first must be an option, not {:?}", w.text),
        )),
        Some(_) => Ok(Command::Cmd(words)),
    }
}

fn convert(p: &Parts<'_>) -> Result<Command, Error> {
    let spec: Spec = &[("from", Kind::Value), ("class", Kind::Value), ("type", Kind::Value), ("base", Kind::Value)];
    let mut flags = p.flags(spec)?;
    let (src, dest) = p.one_source()?;
    Ok(Command::Convert(Convert {
        src,
        dest,
        from: flags.value("from"),
        class: flags.value("class"),
        base: flags.value("base"),
        out_type: flags.value("type"),
    }))
}

fn quantize(p: &Parts<'_>) -> Result<Command, Error> {
    let spec: Spec = &[
        ("from", Kind::Value),
        ("type", Kind::Value),
        ("imatrix", Kind::Value),
        ("include-weights", Kind::List),
        ("exclude-weights", Kind::List),
        ("leave-output-tensor", Kind::Bool),
        ("pure", Kind::Bool),
        ("output-tensor-type", Kind::Value),
        ("token-embedding-type", Kind::Value),
    ];
    let mut flags = p.flags(spec)?;
    let (src, dest) = p.one_source()?;
    let include_weights = flags.list("include-weights");
    let exclude_weights = flags.list("exclude-weights");
    if let (Some(_), Some(ex)) = (include_weights.first(), exclude_weights.first()) {
        return Err(p.error(ex.at.clone(), "QUANTIZE takes --include-weights or --exclude-weights, not both"));
    }
    Ok(Command::Quantize(Quantize {
        src,
        dest,
        from: flags.value("from"),
        out_type: flags.value("type"),
        imatrix: flags.value("imatrix"),
        include_weights,
        exclude_weights,
        leave_output_tensor: flags.bool("leave-output-tensor"),
        pure: flags.bool("pure"),
        output_tensor_type: flags.value("output-tensor-type"),
        token_embedding_type: flags.value("token-embedding-type"),
    }))
}
