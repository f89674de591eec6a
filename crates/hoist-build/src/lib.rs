//! Build files for hoist: GGUFPackerfiles, and Dockerfiles of models written in
//! gguf-packer's language (ARG FROM ADD COPY CAT LABEL CMD CONVERT QUANTIZE).
//!
//! # Main types
//!
//! - [`parse::parse`] reads a file into a [`parse::Buildfile`]: its [`Instruction`]s
//!   (each a typed [`Command`] with the [`Location`] of its keyword), the escape
//!   character, the `# syntax=` directive and parse [`parse::Warning`]s. Arguments are
//!   kept as [`Word`]s, unexpanded, each with its own location.
//! - [`expand::Lexer`] expands a word against an [`expand::Env`] with the rules of
//!   BuildKit's shell lexer; [`expand::Expansion`] also tells which variables were used.
//! - [`plan::plan`] turns a file and [`plan::PlanOptions`] (`--build-arg`, `--target`)
//!   into a [`plan::Plan`]: ARG scoping applied, every word expanded, `--from`
//!   resolved, the [`plan::Stage`]s the target needs in build order, each a list of
//!   [`plan::Step`]s. Warnings (unused `--build-arg`, undeclared variables, parse
//!   warnings) go to a [`plan::PlanReporter`].
//! - [`cmd::ModelFiles`] reads which files CMD's llama-server arguments name.
//! - [`exec::execute`] runs a plan into the local store through a
//!   `hoist_store::WriteSession`: one reproducible tar layer per COPY, ADD, CAT,
//!   CONVERT or QUANTIZE of the target stage, a gguf-packer image config
//!   (hoist-model's `ImageConfig`, beside the readers of such images) with `Cmd`,
//!   `Labels` and history, and a manifest, returned as [`exec::Built`] for the
//!   caller to tag ([`exec::Output`]: or a model artifact packed by hoist-model).
//!   Steps come from the store's step cache when their key is there
//!   ([`exec::Stats`] says how many); images the store lacks come through the
//!   caller's [`exec::Fetcher`]; ADD downloads http(s) URLs itself, and checks
//!   out git repositories (with the `git` program) with their Git LFS files.
//! - Every failure is an [`Error`]; those about the file name file, line and column and
//!   quote the text.
//!
//! # Example
//!
//! ```
//! use hoist_build::expand::Lexer;
//! use hoist_build::instruction::Command;
//! use hoist_build::parse::parse;
//! use hoist_build::plan::{NoPlanReporter, PlanOptions, StepKind, plan};
//!
//! let file = parse(
//!     "GGUFPackerfile",
//!     "# syntax=gpustack/gguf-packer:latest\n\
//!      ARG TYPE=Q4_K_M\n\
//!      FROM scratch\n\
//!      COPY --chmod=644 model.${TYPE}.gguf /\n\
//!      CMD [\"-m\", \"/model.${TYPE}.gguf\"]\n",
//! )
//! .unwrap();
//! assert_eq!(file.instructions.len(), 4);
//! let Command::Copy(copy) = &file.instructions[2].command else { panic!() };
//! assert_eq!(copy.files.dest.at.to_string(), "GGUFPackerfile:4:37");
//!
//! let env = vec![("TYPE".to_string(), "Q4_K_M".to_string())];
//! let Command::Cmd(args) = &file.instructions[3].command else { panic!() };
//! let model = Lexer::new(file.escape).expand(&args[1].text, &env).unwrap();
//! assert_eq!(model.value, "/model.Q4_K_M.gguf");
//!
//! let options = PlanOptions {
//!     build_args: [("TYPE".to_string(), "Q8_0".to_string())].into(),
//!     target: None,
//! };
//! let plan = plan(&file, &options, &NoPlanReporter).unwrap();
//! let StepKind::Cmd { files, .. } = &plan.stages[plan.target].steps[1].kind else { panic!() };
//! assert_eq!(files.model.as_ref().unwrap().path, "/model.Q8_0.gguf");
//!
//! let err = parse("Dockerfile", "FROM scratch\nRUN make").unwrap_err();
//! assert!(err.to_string().starts_with("Dockerfile:2:1: unknown instruction RUN"));
//! ```
//!
//! # Why it is built so
//!
//! No crate parses this language with its extra instructions, heredocs and
//! directives, so the parser is written here, following BuildKit's rules (the
//! reference users' files were written against) rather than its code. Parsing keeps
//! words as written, with locations, and expansion is a separate step: variables are
//! only known once ARG scoping and `--build-arg` are applied, and errors found then
//! (an unterminated quote, `${V?}`) still point at the right column. Nothing here
//! panics on any input; a fuzz target checks that. Planning expands every word
//! before anything runs, so a build's steps are known (and could be cache keys)
//! before the first byte is read. Layers hold exactly a step's files, with fixed
//! times and owners, so the same inputs give the same digests on any machine.

pub mod cmd;
mod error;
pub mod exec;
pub mod expand;
mod flags;
pub mod instruction;
mod location;
pub mod parse;
pub mod plan;

pub use error::Error;
pub use instruction::{Command, Instruction};
pub use location::{Location, Word};
