pub(crate) mod build;
pub(crate) mod bundle;
pub(crate) mod chat;
pub(crate) mod completion;
mod convert;
mod copy;
mod estimate;
mod gguf;
mod inspect;
mod list;
mod login;
mod pack;
mod prune;
mod pull;
mod push;
mod quantize;
mod remote;
mod rm;
pub(crate) mod run;
mod store_form;
mod tag;
pub(crate) mod unpack;
mod verify;
pub(crate) mod weights;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use hoist_store::Store;

use crate::cli::{Cli, Command, GlobalArgs};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let store = open_store(&cli.global)?;
    match cli.command {
        Command::Pack(args) => pack::run(&store, args),
        Command::Build(args) => build::run(&store, args),
        Command::List(args) => list::run(&store, args),
        Command::Inspect(args) => inspect::run(&store, args),
        Command::Tag(args) => tag::run(&store, args),
        Command::Rm(args) => rm::run(&store, args),
        Command::Prune(args) => prune::run(&store, args),
        Command::Verify(args) => verify::run(&store, args),
        Command::Login(args) => login::login(args),
        Command::Logout(args) => login::logout(args),
        Command::Push(args) => push::run(&store, args),
        Command::Pull(args) => pull::run(&store, args),
        Command::Copy(args) => copy::run(args),
        Command::Estimate(args) => estimate::run(&store, *args),
        Command::Weights(args) => weights::run(&store, args),
        Command::Bundle(args) => bundle::run(&store, args),
        Command::Run(args) => run::run(&store, args),
        Command::Chat(args) => chat::run(&store, args),
        Command::Unpack(args) => unpack::run(&store, args),
        Command::Quantize(args) => quantize::run(&store, *args),
        Command::Convert(args) => convert::run(&store, args),
        Command::Completion(args) => completion::run(args),
    }
}

/// Answers a shell's completion request and exits, if this run is one.
pub fn complete_if_asked() {
    completion::answer_if_asked();
}

/// The store named by `--store` / `$HOIST_HOME`, else the XDG data directory.
fn open_store(global: &GlobalArgs) -> Result<Store> {
    match &global.store {
        Some(dir) => Ok(Store::new(dir)),
        None => open_store_from_env(),
    }
}

/// The store `$HOIST_HOME` names, else the XDG data directory.
fn open_store_from_env() -> Result<Store> {
    let root = match std::env::var_os("HOIST_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let data_home = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
            let data_home = match data_home {
                Some(dir) => dir,
                None => PathBuf::from(std::env::var_os("HOME").context("neither --store, HOIST_HOME nor HOME is set")?)
                    .join(".local/share"),
            };
            data_home.join("hoist")
        }
    };
    Ok(Store::new(root))
}
