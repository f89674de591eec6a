//! `hoist run`: unpack a model into a runtime directory and replace hoist with the
//! server that runs it (llama-server for GGUF, vLLM for safetensors). With a
//! prompt after the model it answers it as `hoist chat` does.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use hoist_model::chat::take_system_prompt_file;
use hoist_model::{PlatformSpec, RunOptions, Runtime, RuntimeDir, UnpackOptions, runtime_argv, shell_join, unpack};
use hoist_store::Store;

use super::chat::{ChatArgs, ChatOptions};
use super::pull::find_or_pull;
use crate::cli::TransferArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The model: NAME[:TAG], NAME@DIGEST or ID; REGISTRY/REPO[:TAG] is pulled first when the store lacks it
    pub reference: String,
    /// A prompt: answer it as `hoist chat MODEL PROMPT` does instead of serving the model
    #[arg(conflicts_with_all = ["port", "dry_run"])]
    pub prompt: Option<String>,
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
    #[command(flatten)]
    pub chat: ChatOptions,
    /// Arguments for the runtime, after `--`; they come last
    #[arg(last = true, value_name = "ARGS")]
    pub extra_args: Vec<String>,
}

pub fn run(store: &Store, args: RunArgs) -> Result<ExitCode> {
    if let Some(prompt) = args.prompt {
        let chat = ChatArgs {
            reference: args.reference,
            prompt: Some(prompt),
            by: args.by,
            platform: args.platform,
            options: args.chat,
            transfer: args.transfer,
            extra_args: args.extra_args,
        };
        return super::chat::run(store, chat);
    }
    if let Some(flag) = args.chat.first_set() {
        bail!("{flag} goes with a prompt: hoist run MODEL PROMPT {flag} ... (or hoist chat MODEL {flag} ...)");
    }
    let (descriptor, _) = find_or_pull(store, &args.reference, true, &args.transfer)?;
    let options = UnpackOptions { dir: None, platform: args.platform.clone() };
    let dir = unpack(store, &descriptor, &options)?;
    let (program, runtime) = choose_runtime(&dir, args.by.as_deref())?;
    let options = RunOptions { port: args.port, extra_args: args.extra_args };
    let mut argv = runtime_argv(&dir, runtime, &options)?;
    // gguf-packer images store one; llama-server refuses it since it dropped the flag.
    if let Some(path) = take_system_prompt_file(&mut argv) {
        eprintln!(
            "Leaving out --system-prompt-file {}: llama-server no longer takes it \
             (`hoist chat` sends it as the system message)",
            path.display()
        );
    }
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

/// The program to start and the runtime whose arguments it takes: `--by`'s,
/// else the model's default runtime.
pub(crate) fn choose_runtime(dir: &RuntimeDir, by: Option<&str>) -> Result<(String, Runtime)> {
    Ok(match by {
        None => {
            let runtime = Runtime::default_for(dir)?;
            (runtime.program().to_string(), runtime)
        }
        // A program hoist does not know by name takes the arguments of the
        // model's default runtime.
        Some(by) => (by.to_string(), Runtime::from_program(by).map_or_else(|| Runtime::default_for(dir), Ok)?),
    })
}

/// `program` itself when it is a path, else the first match on PATH; it must
/// be an executable file. The error says what was looked for, where.
pub(crate) fn find_executable(program: &str) -> Result<PathBuf, String> {
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
