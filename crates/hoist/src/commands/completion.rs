//! `hoist completion SHELL`: a completion script for bash, zsh, fish or
//! PowerShell. The script asks hoist itself for candidates at each Tab
//! (clap_complete's dynamic engine, `COMPLETE=SHELL hoist -- WORDS`), so it
//! knows every subcommand and flag of this binary and the model names in the
//! store, with no list to keep in step.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::Shells;
use hoist_store::Store;

/// The environment variable that turns a run of hoist into a completion request.
const COMPLETE_VAR: &str = "COMPLETE";

/// The arguments that name a model in the store, by subcommand.
const MODEL_ARGS: &[(&str, &str)] = &[
    ("inspect", "reference"),
    ("tag", "source"),
    ("rm", "references"),
    ("push", "source"),
    ("run", "reference"),
    ("chat", "reference"),
    ("unpack", "reference"),
    ("estimate", "model"),
    ("bundle", "image"),
];

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to write the script for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Source it from ~/.bashrc: `source <(hoist completion bash)`
    Bash,
    /// Source it from ~/.zshrc: `source <(hoist completion zsh)`
    Zsh,
    /// Save it as ~/.config/fish/completions/hoist.fish
    Fish,
    /// Add `hoist completion powershell | Out-String | Invoke-Expression` to $PROFILE
    Powershell,
}

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Powershell => "powershell",
        }
    }
}

/// Answers a completion request (`COMPLETE=SHELL hoist -- WORDS`) and exits;
/// returns at once on any other run.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(command).var(COMPLETE_VAR).complete();
}

pub fn run(args: CompletionArgs) -> Result<ExitCode> {
    let shells = Shells::builtins();
    let shell = shells.completer(args.shell.name()).context("clap_complete lacks this shell")?;
    let mut script = Vec::new();
    shell.write_registration(COMPLETE_VAR, "hoist", "hoist", &completer_path(), &mut script)?;
    std::io::stdout().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// How the script calls hoist back: as it was called now, a relative path
/// made absolute (as clap_complete itself does), a bare name left to PATH.
fn completer_path() -> String {
    let argv0 = PathBuf::from(std::env::args_os().next().unwrap_or_else(|| OsString::from("hoist")));
    let path = match std::env::current_dir() {
        Ok(dir) if argv0.components().count() > 1 => dir.join(argv0),
        _ => argv0,
    };
    path.to_string_lossy().into_owned()
}

/// The clap command with the store's model names as candidates wherever a
/// model is named (an argument another version renamed is left alone).
fn command() -> clap::Command {
    let mut command = crate::help::command();
    for (subcommand, arg) in MODEL_ARGS {
        let Some(found) = command.find_subcommand(subcommand) else { continue };
        let positionals: Vec<String> = found.get_positionals().map(|a| a.get_id().to_string()).collect();
        if !positionals.iter().any(|p| p == arg) {
            continue;
        }
        // A changed argument moves to the end of the list: positionals keep
        // their order only with every index made explicit (1-based).
        command = command.mut_subcommand(subcommand, |mut c| {
            for (position, id) in positionals.iter().enumerate() {
                c = c.mut_arg(id, |a| {
                    let a = a.index(position + 1);
                    if id == arg { a.add(ArgValueCandidates::new(model_candidates)) } else { a }
                });
            }
            c
        });
    }
    command
}

/// Every name in the store the command line names (`--store DIR`, else
/// `$HOIST_HOME` or the default); none when it cannot be read.
fn model_candidates() -> Vec<CompletionCandidate> {
    let words: Vec<OsString> = std::env::args_os().collect();
    let store = match store_in(&words) {
        Some(dir) => Store::new(dir),
        None => match super::open_store_from_env() {
            Ok(store) => store,
            Err(_) => return Vec::new(),
        },
    };
    let Ok(entries) = store.list() else { return Vec::new() };
    entries.into_iter().map(|entry| CompletionCandidate::new(entry.reference)).collect()
}

/// The value of `--store DIR` or `--store=DIR` among the words being completed.
fn store_in(words: &[OsString]) -> Option<&Path> {
    words.iter().enumerate().find_map(|(i, word)| {
        let word = word.to_str()?;
        match word.strip_prefix("--store") {
            Some("") => words.get(i + 1).map(Path::new),
            Some(rest) => rest.strip_prefix('=').map(Path::new),
            None => None,
        }
    })
}
