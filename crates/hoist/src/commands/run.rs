//! `hoist run`: unpack a model into a runtime directory and replace hoist with the
//! server that runs it (llama-server for GGUF, vLLM for safetensors).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use hoist_model::{LayerSelection, PlatformSpec, RunOptions, Runtime, UnpackOptions, runtime_argv, shell_join, unpack};
use hoist_oci::{Descriptor, Reference};
use hoist_store::{Store, StoreError};

use super::pull::pull;
use super::remote::summary;
use crate::cli::TransferArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The model: NAME[:TAG], NAME@DIGEST or ID; REGISTRY/REPO[:TAG] is pulled first when the store lacks it
    pub reference: String,
    /// The runtime: llama-server, vllm, or the path of its executable
    /// [default: llama-server for GGUF, vllm for safetensors]
    #[arg(long, value_name = "RUNTIME")]
    pub by: Option<String>,
    /// The port the server listens on
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// From an index, the image for this platform (OS/ARCH[/VARIANT]) [default: this machine's, or the only one]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformSpec>,
    /// Print the command, shell-quoted, instead of running it
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Arguments for the runtime, after `--`; they come last
    #[arg(last = true, value_name = "ARGS")]
    pub extra_args: Vec<String>,
}

pub fn run(store: &Store, args: RunArgs) -> Result<ExitCode> {
    let descriptor = find_or_pull(store, &args)?;
    let options = UnpackOptions { dir: None, platform: args.platform.clone() };
    let dir = unpack(store, &descriptor, &options)?;
    let (program, runtime) = match args.by.as_deref() {
        None => {
            let runtime = Runtime::default_for(&dir)?;
            (runtime.program().to_string(), runtime)
        }
        // A program hoist does not know by name takes the arguments of the
        // model's default runtime.
        Some(by) => (by.to_string(), Runtime::from_program(by).map_or_else(|| Runtime::default_for(&dir), Ok)?),
    };
    let options = RunOptions { port: args.port, extra_args: args.extra_args };
    let argv = runtime_argv(&dir, runtime, &options)?;
    let command_line: Vec<&str> = std::iter::once(program.as_str()).chain(argv.iter().map(String::as_str)).collect();
    if args.dry_run {
        println!("{}", shell_join(&command_line));
        return Ok(ExitCode::SUCCESS);
    }
    let executable = find_executable(&program).map_err(|reason| anyhow!("{reason}: {}", runtime.install_hint()))?;
    eprintln!("Running {}", shell_join(&command_line));
    // exec: the runtime takes over this process, so signals reach it directly
    // and its exit code is the command's.
    let error = std::process::Command::new(&executable).arg0(&program).args(&argv).exec();
    Err(error).with_context(|| format!("running {}", executable.display()))
}

/// The model in the store; a registry reference the store lacks is pulled first.
fn find_or_pull(store: &Store, args: &RunArgs) -> Result<Descriptor> {
    match store.resolve(&args.reference) {
        Ok(resolved) => Ok(resolved.descriptor),
        Err(StoreError::NotFound { .. })
            if args.reference.parse::<Reference>().is_ok_and(|r| r.registry().is_some()) =>
        {
            eprintln!("{} is not in the store; pulling it", args.reference);
            let pulled = pull(store, &args.reference, None, &LayerSelection::default(), 4, &args.transfer)?;
            eprintln!("Pulled {} {}: {}", pulled.name, pulled.root.digest, summary(&pulled.report));
            Ok(store.resolve(&pulled.name)?.descriptor)
        }
        Err(error) => Err(error.into()),
    }
}

/// `program` itself when it is a path, else the first match on PATH; it must
/// be an executable file. The error says what was looked for, where.
fn find_executable(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if is_executable(&path) { Ok(path) } else { Err(format!("{program}: no such executable file")) };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("{program} not found on PATH"))
}

fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
