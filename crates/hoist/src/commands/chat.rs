//! `hoist chat` (and `hoist run MODEL PROMPT`): start a model's runtime on a free
//! loopback port, wait until it has loaded the model, send prompts to its
//! OpenAI-compatible `/v1/chat/completions` and print the answers as they
//! stream; then stop the runtime. Without a prompt on a terminal, an
//! interactive chat. The protocol is `hoist_model::chat`'s; this file owns the
//! terminal, the signals and the HTTP.

mod process;

use std::io::{IsTerminal, Read, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use hoist_model::chat::{Chunk, Input, MultiLine, SseParser, answer_text, parse_chunk, take_system_prompt_file};
use hoist_model::{
    Conversation, PlatformSpec, RunOptions, Runtime, Sampling, UnpackOptions, runtime_argv, shell_join, unpack,
};
use hoist_store::Store;
use indicatif::{ProgressBar, ProgressDrawTarget};
use nix::sys::termios::Termios;
use rustyline::error::ReadlineError;
use serde_json::Value;
use tokio::signal::unix::{Signal, SignalKind, signal};

use self::process::RuntimeProcess;
use super::pull::find_or_pull;
use super::run::{choose_runtime, find_executable};
use crate::cli::TransferArgs;

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The model: NAME[:TAG], NAME@DIGEST or ID; REGISTRY/REPO[:TAG] is pulled first when the store lacks it
    pub reference: String,
    /// The prompt [default: standard input when it is not a terminal; on a terminal, an interactive chat]
    pub prompt: Option<String>,
    /// The runtime: llama-server, vllm, or the path of its executable
    /// [default: llama-server for GGUF, vllm for safetensors]
    #[arg(long, value_name = "RUNTIME")]
    pub by: Option<String>,
    /// From an index, the image for this platform (OS/ARCH[/VARIANT]) [default: this machine's, or the only one]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformSpec>,
    #[command(flatten)]
    pub options: ChatOptions,
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Arguments for the runtime, after `--`; they come last
    #[arg(last = true, value_name = "ARGS")]
    pub extra_args: Vec<String>,
}

/// What a chat asks of the runtime and of each request (shared with `hoist run MODEL PROMPT`).
#[derive(Debug, Clone, Default, Args)]
pub struct ChatOptions {
    /// The system prompt [default: the model's stored one, if any]
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// The sampling temperature [default: the runtime's]
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// The most tokens an answer may have [default: the runtime's]
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// The context size the runtime gives the model, in tokens [default: the model's]
    #[arg(long, value_name = "N")]
    pub ctx_size: Option<u64>,
    /// Print each whole response object (JSON, not streamed) instead of its text
    #[arg(long)]
    pub json: bool,
}

impl ChatOptions {
    /// The first option given, as typed (for an error where none belongs).
    pub fn first_set(&self) -> Option<&'static str> {
        [
            (self.system.is_some(), "--system"),
            (self.temperature.is_some(), "--temperature"),
            (self.max_tokens.is_some(), "--max-tokens"),
            (self.ctx_size.is_some(), "--ctx-size"),
            (self.json, "--json"),
        ]
        .into_iter()
        .find_map(|(set, flag)| set.then_some(flag))
    }
}

/// How often the runtime's health is asked while it loads.
const HEALTH_POLL: Duration = Duration::from_millis(100);

pub fn run(store: &Store, args: ChatArgs) -> Result<ExitCode> {
    let prompt = match args.prompt.clone() {
        Some(prompt) => Some(prompt),
        None if std::io::stdin().is_terminal() => None,
        None => Some(read_stdin_prompt()?),
    };
    if args.extra_args.iter().any(|arg| arg == "--port" || arg.starts_with("--port=")) {
        bail!("--port after --: hoist chat gives the runtime a free port of its own and talks to it there");
    }
    let (descriptor, _) = find_or_pull(store, &args.reference, true, &args.transfer)?;
    let dir = unpack(store, &descriptor, &UnpackOptions { dir: None, platform: args.platform.clone() })?;
    let (program, runtime) = choose_runtime(&dir, args.by.as_deref())?;
    let port = free_port()?;
    let options = RunOptions { port: Some(port), extra_args: runtime_args(runtime, &args) };
    let mut argv = runtime_argv(&dir, runtime, &options)?;
    let stored_system = stored_system_prompt(&mut argv)?;
    let executable = find_executable(&program).map_err(|reason| anyhow!("{reason}: {}", runtime.install_hint()))?;
    // The process's runtime: its workers drive the connections while hoist waits
    // for a line to be typed, so an answer stopped with Ctrl-C has its connection
    // closed at once.
    let tokio = super::remote::runtime()?;
    let _context = tokio.enter();
    // Signals are caught before the runtime starts, so none finds it unowned.
    let mut stops = Stops::new()?;
    let command_line: Vec<&str> = std::iter::once(program.as_str()).chain(argv.iter().map(String::as_str)).collect();
    let mut server = RuntimeProcess::start(&executable, &program, &argv)
        .with_context(|| format!("running {}", shell_join(&command_line)))?;
    let base_url = format!("http://127.0.0.1:{port}");
    let http = http_client()?;

    let spinner = Spinner::show(&format!("Loading {} in {program}", args.reference));
    let loaded = tokio.block_on(async {
        tokio::select! {
            loaded = wait_until_ready(&http, &base_url, &mut server) => Ok(loaded),
            stop = stops.next() => Err(stop),
        }
    });
    drop(spinner);
    match loaded {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(stop) => return Ok(stop.exit_code()),
    }
    let model = tokio.block_on(served_model(&http, &base_url));
    let mut session = Session {
        http,
        url: format!("{base_url}/v1/chat/completions"),
        model,
        conversation: Conversation::new(args.options.system.clone().or(stored_system)),
        sampling: Sampling { temperature: args.options.temperature, max_tokens: args.options.max_tokens },
        json: args.options.json,
    };
    let code = match prompt {
        Some(prompt) => one_shot(tokio, &mut stops, &mut session, &mut server, &prompt)?,
        None => interactive(tokio, &mut stops, &mut session, &mut server)?,
    };
    server.stop();
    Ok(code)
}

/// The text of the system prompt file the argv names, taken out of it:
/// llama-server takes no such file, so it becomes the system message.
fn stored_system_prompt(argv: &mut Vec<String>) -> Result<Option<String>> {
    let Some(path) = take_system_prompt_file(argv) else { return Ok(None) };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the model's system prompt {}", path.display()))?;
    // As llama.cpp reads it: one trailing newline is not part of the prompt.
    Ok(Some(text.strip_suffix('\n').unwrap_or(&text).to_string()))
}

/// The runtime's own arguments: loopback only, the context size, then the user's.
fn runtime_args(runtime: Runtime, args: &ChatArgs) -> Vec<String> {
    let mut extra = vec!["--host".to_string(), "127.0.0.1".to_string()];
    if let Some(size) = args.options.ctx_size {
        let flag = match runtime {
            Runtime::LlamaServer => "--ctx-size",
            Runtime::Vllm => "--max-model-len",
        };
        extra.extend([flag.to_string(), size.to_string()]);
    }
    extra.extend(args.extra_args.iter().cloned());
    extra
}

fn read_stdin_prompt() -> Result<String> {
    let mut prompt = String::new();
    std::io::stdin().read_to_string(&mut prompt).context("reading the prompt from standard input")?;
    // The newline `echo` and here-documents end with is not part of the prompt.
    let prompt = prompt.trim_end();
    if prompt.trim_start().is_empty() {
        bail!("no prompt: give one after the model, or on standard input (which is empty)");
    }
    Ok(prompt.to_string())
}

/// A port nobody listens on now; the runtime binds it a moment later.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr().context("finding a free port on 127.0.0.1")?.port())
}

/// Plain HTTP to loopback, on the registry client's stack (reqwest with
/// rustls): TLS is configured only because reqwest needs a provider to build.
fn http_client() -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("setting up HTTP")?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(tls).no_proxy().build().context("setting up HTTP")
}

/// Waits until `/health` answers 200 (llama-server answers 503 while it
/// loads; vLLM does not listen until it has loaded). A runtime that exits
/// first is an error, after its last log lines.
async fn wait_until_ready(http: &reqwest::Client, base_url: &str, server: &mut RuntimeProcess) -> Result<()> {
    loop {
        if let Some(status) = server.exited()? {
            print_log_tail(server);
            bail!("{} exited ({status}) before it had loaded the model", server.program());
        }
        let health = http.get(format!("{base_url}/health")).timeout(Duration::from_secs(5)).send().await;
        if health.is_ok_and(|response| response.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

fn print_log_tail(server: &mut RuntimeProcess) {
    let lines = server.log_tail();
    if lines.is_empty() {
        eprintln!("{} wrote nothing to its log", server.program());
    } else {
        eprintln!("the last lines of {}'s log:", server.program());
        for line in lines {
            eprintln!("  {line}");
        }
    }
}

/// The name the server serves the model under (vLLM checks a request's
/// `model`); `None` when it does not say.
async fn served_model(http: &reqwest::Client, base_url: &str) -> Option<String> {
    let response = http.get(format!("{base_url}/v1/models")).send().await.ok()?;
    let models: Value = response.json().await.ok()?;
    models.pointer("/data/0/id").and_then(Value::as_str).map(str::to_string)
}

struct Session {
    http: reqwest::Client,
    url: String,
    model: Option<String>,
    conversation: Conversation,
    sampling: Sampling,
    json: bool,
}

impl Session {
    /// Asks for the answer to `prompt` after the conversation so far and
    /// prints it: streamed text, or with `--json` the whole response. Returns
    /// the answer's text; the caller records the exchange.
    async fn ask(&self, prompt: &str) -> Result<String> {
        let body = self.conversation.request(prompt, self.model.as_deref(), self.sampling, !self.json);
        let response = self.http.post(&self.url).json(&body).send().await.context("sending the prompt")?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            bail!("the runtime answered {status}: {}", message.trim());
        }
        if self.json {
            let response: Value = response.json().await.context("reading the response")?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string_pretty(&response)?)?;
            return Ok(answer_text(&response)?.to_string());
        }
        stream_text(response).await
    }
}

/// Prints the streamed answer's text as it arrives and returns all of it.
async fn stream_text(mut response: reqwest::Response) -> Result<String> {
    let mut parser = SseParser::new();
    let mut answer = String::new();
    let mut out = std::io::stdout();
    while let Some(bytes) = response.chunk().await.context("reading the answer")? {
        for event in parser.feed(&bytes) {
            match parse_chunk(&event)? {
                Chunk::Text(text) => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                    answer.push_str(&text);
                }
                Chunk::Done => return Ok(answer),
            }
        }
    }
    Ok(answer)
}

/// The answer to one prompt; Ctrl-C (or SIGTERM, SIGHUP) stops it and hoist.
fn one_shot(
    tokio: &tokio::runtime::Runtime,
    stops: &mut Stops,
    session: &mut Session,
    server: &mut RuntimeProcess,
    prompt: &str,
) -> Result<ExitCode> {
    let answer = tokio.block_on(async {
        tokio::select! {
            answer = session.ask(prompt) => Ok(answer),
            stop = stops.next() => Err(stop),
        }
    });
    match answer {
        Ok(Ok(_)) => {
            end_line(session)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(error)) => Err(explain(error, server)),
        Err(stop) => {
            end_line(session)?;
            Ok(stop.exit_code())
        }
    }
}

/// Streamed text ends without a newline; the next output starts on a line of its own.
fn end_line(session: &Session) -> Result<()> {
    if !session.json {
        println!();
    }
    Ok(())
}

/// An error while talking to the runtime; when the runtime has died, its log says why.
fn explain(error: anyhow::Error, server: &mut RuntimeProcess) -> anyhow::Error {
    match server.exited() {
        Ok(Some(status)) => {
            print_log_tail(server);
            error.context(format!("{} exited ({status})", server.program()))
        }
        _ => error,
    }
}

const HELP: &str = "\
Type a message and press Enter; the answer streams back.
  \"\"\"      starts a message of several lines; \"\"\" at the end of a line ends it
  /clear   forgets the conversation so far
  /bye     leaves (so does Ctrl-D)
  Ctrl-C   stops the answer being written";

/// The chat on a terminal: the conversation is kept between prompts.
fn interactive(
    tokio: &tokio::runtime::Runtime,
    stops: &mut Stops,
    session: &mut Session,
    server: &mut RuntimeProcess,
) -> Result<ExitCode> {
    // SIGTERM and SIGHUP may come while a line is read, which blocks this
    // thread: a task on the worker stops the runtime and leaves.
    let terminal = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    let _leaving = tokio.spawn(leave_on_termination(server.stopper(), Stops::new()?, terminal));
    let mut editor = rustyline::DefaultEditor::new().context("setting up the terminal")?;
    let mut lines = MultiLine::new();
    eprintln!("Chatting with the model; /? for help, /bye or Ctrl-D to leave.");
    loop {
        let shown = if lines.is_open() { "... " } else { ">>> " };
        let prompt = match editor.readline(shown) {
            Ok(line) => match lines.push(&line) {
                Input::Prompt(prompt) => prompt,
                Input::More | Input::Empty => continue,
                Input::Command(command) => match command.as_str() {
                    "bye" | "exit" => return Ok(ExitCode::SUCCESS),
                    "clear" => {
                        session.conversation.clear();
                        eprintln!("Cleared the conversation.");
                        continue;
                    }
                    "?" | "help" => {
                        eprintln!("{HELP}");
                        continue;
                    }
                    other => {
                        eprintln!("Unknown command /{other}; /? lists the commands.");
                        continue;
                    }
                },
            },
            Err(ReadlineError::Interrupted) => {
                lines = MultiLine::new();
                eprintln!("Use /bye or Ctrl-D to leave.");
                continue;
            }
            Err(ReadlineError::Eof) => return Ok(ExitCode::SUCCESS),
            Err(error) => return Err(error).context("reading from the terminal"),
        };
        let _ = editor.add_history_entry(prompt.as_str());
        let answer = tokio.block_on(async {
            tokio::select! {
                answer = session.ask(&prompt) => Ok(answer),
                () = stops.interrupted() => Err(()),
            }
        });
        end_line(session)?;
        match answer {
            Ok(Ok(answer)) => session.conversation.record(&prompt, &answer),
            Ok(Err(error)) => {
                let error = explain(error, server);
                if server.exited()?.is_some() {
                    return Err(error);
                }
                eprintln!("error: {error:#}");
            }
            // Ctrl-C stops this answer (the connection closes, so the runtime
            // stops writing it); the exchange is not kept.
            Err(()) => {}
        }
    }
}

/// On SIGTERM or SIGHUP: the terminal back as it was before the line editor
/// changed it, the runtime stopped, and hoist gone with the signal's exit code.
async fn leave_on_termination(runtime: process::Stopper, mut stops: Stops, terminal: Option<Termios>) {
    let stop = loop {
        match stops.next().await {
            Stop::Interrupt => continue,
            stop => break stop,
        }
    };
    if let Some(terminal) = terminal {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &terminal);
    }
    runtime.stop();
    eprintln!();
    std::process::exit(i32::from(stop.code()));
}

/// A signal that stops what hoist is doing.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Interrupt,
    Terminate,
    Hangup,
}

impl Stop {
    /// 128 + the signal's number, as a shell reports a process the signal ended.
    fn code(self) -> u8 {
        let signal = match self {
            Stop::Interrupt => nix::sys::signal::Signal::SIGINT,
            Stop::Terminate => nix::sys::signal::Signal::SIGTERM,
            Stop::Hangup => nix::sys::signal::Signal::SIGHUP,
        };
        128 + signal as u8
    }

    fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught so that the runtime is stopped before hoist exits.
struct Stops {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Stops {
    fn new() -> Result<Stops> {
        let catch = |kind: SignalKind| signal(kind).context("catching signals");
        Ok(Stops {
            interrupt: catch(SignalKind::interrupt())?,
            terminate: catch(SignalKind::terminate())?,
            hangup: catch(SignalKind::hangup())?,
        })
    }

    /// The next SIGINT (the others are left to [`leave_on_termination`]).
    async fn interrupted(&mut self) {
        self.interrupt.recv().await;
    }

    async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupt,
            _ = self.terminate.recv() => Stop::Terminate,
            _ = self.hangup.recv() => Stop::Hangup,
        }
    }
}

/// A spinner on standard error while the model loads, when that is a terminal.
struct Spinner(Option<ProgressBar>);

impl Spinner {
    fn show(message: &str) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let spinner = ProgressBar::new_spinner();
        spinner.set_draw_target(ProgressDrawTarget::stderr());
        spinner.set_message(message.to_string());
        spinner.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(spinner))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(spinner) = &self.0 {
            spinner.finish_and_clear();
        }
    }
}
