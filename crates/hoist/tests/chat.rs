//! `hoist chat` and `hoist run MODEL PROMPT` through the real binary, against a
//! stand-in runtime: a shell script that records its argv and pid and stays
//! up (or writes a log and dies), while the test serves llama-server's HTTP
//! API ([`ChatServer`]) on the port the script was given. Every test checks
//! that no runtime process is left behind.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Sandbox;
use hoist_testkit::{ChatServer, ChatServerOptions, STAND_IN_MODEL};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// Records its pid and argv (the argv file appears whole, last), then waits as a loading server would.
const RUNTIME: &str = "#!/bin/sh
echo $$ > \"$PID_FILE\"
printf '%s\\n' \"$@\" > \"$ARGV_FILE.part\"
mv \"$ARGV_FILE.part\" \"$ARGV_FILE\"
echo 'stand-in: loading the model'
exec sleep 600
";

/// As [`RUNTIME`], but it and its child ignore SIGTERM: only SIGKILL stops them.
const STUBBORN_RUNTIME: &str = "#!/bin/sh
trap '' TERM
echo $$ > \"$PID_FILE\"
printf '%s\\n' \"$@\" > \"$ARGV_FILE.part\"
mv \"$ARGV_FILE.part\" \"$ARGV_FILE\"
sleep 600
";

/// Starts a helper (as vLLM starts its engine), writes thirty log lines and dies while loading.
const DYING_RUNTIME: &str = "#!/bin/sh
echo $$ > \"$PID_FILE\"
sleep 600 > /dev/null 2>&1 &
i=1
while [ $i -le 30 ]; do printf 'log line %02d\\n' $i; i=$((i + 1)); done
echo 'error: failed to load model' >&2
exit 3
";

fn install_runtime(sandbox: &Sandbox, script: &str) {
    let path = sandbox.write("bin/llama-server", script);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `hoist --store STORE ARGS` with the stand-in first on PATH, its files in the sandbox.
fn hoist(sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hoist"));
    let path = format!("{}:{}", sandbox.path("bin").display(), std::env::var("PATH").unwrap_or_default());
    command
        .arg("--store")
        .arg(sandbox.store())
        .args(args)
        .env_remove("HOIST_HOME")
        .env("PATH", path)
        .env("ARGV_FILE", sandbox.path("argv.txt"))
        .env("PID_FILE", sandbox.path("pid.txt"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A GGUF model with a chat template and a context size, packed as `m:1`.
fn pack_model(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let model = sandbox.tiny_gguf("src/m.gguf");
    let template = sandbox.write("src/t.jinja", "{{ messages }}");
    let out = sandbox
        .hoist()
        .args(["pack", "--progress", "none", "-t", "m:1", "--context-size", "8192"])
        .arg(&model)
        .arg("--chat-template")
        .arg(&template)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (model, template)
}

/// The stand-in's argv, once it has started; panics with hoist's stderr if hoist exits first.
fn runtime_argv(sandbox: &Sandbox, hoist: &mut Child) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(sandbox.path("argv.txt")) {
            return text.lines().map(str::to_string).collect();
        }
        if let Some(status) = hoist.try_wait().unwrap() {
            let mut stderr = String::new();
            hoist.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("hoist exited ({status}) before starting the runtime: {stderr}");
        }
        assert!(Instant::now() < deadline, "the runtime did not start within a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn port_of(argv: &[String]) -> u16 {
    let at = argv.iter().position(|a| a == "--port").expect("--port in the argv");
    argv[at + 1].parse().expect("a port number")
}

fn runtime_pid(sandbox: &Sandbox) -> Pid {
    let text = std::fs::read_to_string(sandbox.path("pid.txt")).expect("the runtime wrote its pid");
    Pid::from_raw(text.trim().parse().unwrap())
}

/// Neither the runtime nor any process of its group is alive. The runtime is
/// hoist's child and gone once hoist has exited; a process the runtime started
/// is the init process's to reap once killed, which may take it a moment.
fn assert_runtime_gone(sandbox: &Sandbox) {
    let pid = runtime_pid(sandbox);
    assert_eq!(kill(pid, None), Err(nix::errno::Errno::ESRCH), "the runtime {pid} is still running");
    wait_for("the runtime's process group to be gone", || killpg(pid, None) == Err(nix::errno::Errno::ESRCH));
}

/// Starts hoist, waits for the runtime and serves its API on the runtime's port.
fn start(sandbox: &Sandbox, args: &[&str], options: ChatServerOptions) -> (Child, Vec<String>, ChatServer) {
    let mut child = hoist(sandbox, args).spawn().unwrap();
    let argv = runtime_argv(sandbox, &mut child);
    let server = ChatServer::start_on(port_of(&argv), options);
    (child, argv, server)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn same_file_in_store(sandbox: &Sandbox, path: &str, original: &Path) {
    assert!(Path::new(path).starts_with(sandbox.store()), "{path} is in the store");
    assert_eq!(std::fs::read(path).unwrap(), std::fs::read(original).unwrap(), "{path}");
}

#[test]
fn a_prompt_streams_the_answer_after_a_slow_start_and_stops_the_runtime() {
    let sandbox = Sandbox::new();
    let (model, template) = pack_model(&sandbox);
    install_runtime(&sandbox, RUNTIME);
    let options = ChatServerOptions { loading: Duration::from_millis(800), ..ChatServerOptions::default() };
    let args = ["chat", "m:1", "Hi there", "--temperature", "0.5", "--max-tokens", "32", "--ctx-size", "4096"];
    let (child, argv, server) = start(&sandbox, &[&args[..], &["--", "--threads", "2"]].concat(), options);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, world!\n");

    assert_eq!(argv.len(), 12, "{argv:?}");
    assert_eq!(argv[0], "-m");
    same_file_in_store(&sandbox, &argv[1], &model);
    assert_eq!(argv[2], "--chat-template-file");
    same_file_in_store(&sandbox, &argv[3], &template);
    let port = server.port().to_string();
    // The model's own context size (8192) gives way to --ctx-size; the user's arguments come last.
    assert_eq!(argv[4..], ["--port", &port, "--host", "127.0.0.1", "--ctx-size", "4096", "--threads", "2"]);

    assert!(server.loading_answers() >= 1, "hoist waited while the runtime answered 503");
    assert_eq!(
        server.requests(),
        [json!({
            "model": STAND_IN_MODEL,
            "messages": [{"role": "user", "content": "Hi there"}],
            "stream": true,
            "temperature": 0.5,
            "max_tokens": 32,
        })]
    );
    assert_eq!(server.closed_streams(), 0);
    assert_runtime_gone(&sandbox);
}

#[test]
fn run_with_a_prompt_answers_and_json_prints_the_whole_response() {
    let sandbox = Sandbox::new();
    pack_model(&sandbox);
    install_runtime(&sandbox, RUNTIME);
    let (child, _, server) =
        start(&sandbox, &["run", "m:1", "Hi", "--json", "--system", "Be brief."], Default::default());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert_eq!(response["choices"][0]["message"]["content"], "Hello, world!");
    assert_eq!(response["usage"]["completion_tokens"], 4);
    let request = &server.requests()[0];
    assert_eq!(request["stream"], false);
    assert_eq!(
        request["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    );
    assert_runtime_gone(&sandbox);

    // `run` without a prompt serves; the chat options need one.
    sandbox.fails_with_one_error(&["run", "m:1", "--json"], "--json goes with a prompt");
    let out = sandbox.hoist().args(["run", "m:1", "Hi", "--dry-run"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot be used with"), "{}", text(&out.stderr));
}

#[test]
fn the_prompt_can_come_on_standard_input() {
    let sandbox = Sandbox::new();
    pack_model(&sandbox);
    install_runtime(&sandbox, RUNTIME);
    let mut child = hoist(&sandbox, &["chat", "m:1"]).stdin(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"Say hi\nin two lines\n").unwrap();
    let argv = runtime_argv(&sandbox, &mut child);
    let server = ChatServer::start_on(port_of(&argv), ChatServerOptions::default());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, world!\n");
    assert_eq!(server.requests()[0]["messages"], json!([{"role": "user", "content": "Say hi\nin two lines"}]));
    assert_runtime_gone(&sandbox);

    let empty = Sandbox::new();
    let out = hoist(&empty, &["chat", "m:1"]).output().unwrap();
    assert!(text(&out.stderr).contains("no prompt"), "{}", text(&out.stderr));
    assert!(!empty.path("pid.txt").exists(), "nothing started without a prompt");
}

const PACKERFILE: &str = "FROM scratch
COPY tiny.gguf /
CAT <<EOF /system-prompt.txt
You are tiny.
EOF
CMD [\"-m\", \"tiny.gguf\", \"--system-prompt-file\", \"system-prompt.txt\", \"-c\", \"512\"]
";

#[test]
fn a_stored_system_prompt_file_is_sent_as_the_system_message() {
    let sandbox = Sandbox::new();
    sandbox.write("ctx/GGUFPackerfile", PACKERFILE);
    sandbox.tiny_gguf("ctx/tiny.gguf");
    let out = sandbox.hoist().args(["build", "-q", "-t", "tiny:built"]).arg(sandbox.path("ctx")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    install_runtime(&sandbox, RUNTIME);

    let (child, argv, server) = start(&sandbox, &["chat", "tiny:built", "Hi"], Default::default());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // llama-server rejects --system-prompt-file: it is not passed on.
    assert_eq!(argv.len(), 8, "{argv:?}");
    assert!(argv[1].ends_with("/tiny.gguf"), "{argv:?}");
    assert_eq!(argv[2..4], ["-c", "512"]);
    assert_eq!(
        server.requests()[0]["messages"],
        json!([{"role": "system", "content": "You are tiny."}, {"role": "user", "content": "Hi"}])
    );
    drop(server);
    assert_runtime_gone(&sandbox);

    std::fs::remove_file(sandbox.path("argv.txt")).unwrap();
    let (child, _, server) =
        start(&sandbox, &["chat", "tiny:built", "Hi", "--system", "Be terse."], Default::default());
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(server.requests()[0]["messages"][0], json!({"role": "system", "content": "Be terse."}));
    assert_runtime_gone(&sandbox);
}

#[test]
fn a_runtime_that_dies_while_loading_shows_the_end_of_its_log() {
    let sandbox = Sandbox::new();
    pack_model(&sandbox);
    install_runtime(&sandbox, DYING_RUNTIME);
    let out = hoist(&sandbox, &["chat", "m:1", "Hi"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no answer: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: llama-server exited (exit status: 3) before it had loaded the model"), "{stderr}");
    // The last twenty lines: stdout and stderr of the runtime in one log.
    let shown: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).map(str::trim).collect();
    let expected: Vec<String> = (12..=30).map(|i| format!("log line {i:02}")).collect();
    assert_eq!(shown[..19], expected);
    assert_eq!(shown[19..], ["error: failed to load model"]);
    assert_runtime_gone(&sandbox);
}

/// Everything `child` writes to stdout, as it comes.
fn collect_stdout(child: &mut Child) -> Arc<Mutex<Vec<u8>>> {
    let collected = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&collected);
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 256];
        while let Ok(read) = stdout.read(&mut buffer) {
            if read == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buffer[..read]);
        }
    });
    collected
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Twenty tokens a tenth of a second apart: an answer long enough to interrupt.
fn slow_answer() -> ChatServerOptions {
    let tokens = (0..20).map(|i| format!("tok{i:02} ")).collect();
    ChatServerOptions { tokens, token_delay: Duration::from_millis(100), ..ChatServerOptions::default() }
}

#[test]
fn ctrl_c_mid_answer_closes_the_stream_and_stops_the_runtime() {
    let sandbox = Sandbox::new();
    pack_model(&sandbox);
    install_runtime(&sandbox, RUNTIME);
    let (mut child, _, server) = start(&sandbox, &["chat", "m:1", "Count"], slow_answer());
    let stdout = collect_stdout(&mut child);
    wait_for("the first tokens", || stdout.lock().unwrap().starts_with(b"tok00 tok01 "));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code of a Ctrl-C");
    let printed = text(&stdout.lock().unwrap());
    assert!(!printed.contains("tok19"), "the answer stopped: {printed}");
    wait_for("the server to see the stream closed", || server.closed_streams() == 1);
    assert_runtime_gone(&sandbox);
}

#[test]
fn sigterm_while_loading_stops_the_runtime() {
    let sandbox = Sandbox::new();
    pack_model(&sandbox);
    install_runtime(&sandbox, RUNTIME);
    let loading = ChatServerOptions { loading: Duration::from_secs(600), ..ChatServerOptions::default() };
    let (mut child, _, server) = start(&sandbox, &["chat", "m:1", "Hi"], loading);
    wait_for("a health check", || server.loading_answers() > 0);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(server.requests().is_empty());
    assert_runtime_gone(&sandbox);
}

#[test]
fn a_runtime_that_ignores_sigterm_is_killed() {
    let sandbox = Sandbox::new();
    pack_model(&sandbox);
    install_runtime(&sandbox, STUBBORN_RUNTIME);
    let (child, _, _server) = start(&sandbox, &["chat", "m:1", "Hi"], Default::default());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, world!\n");
    assert_runtime_gone(&sandbox);
}

#[test]
fn a_missing_runtime_is_an_error_with_an_install_hint() {
    let sandbox = Sandbox::new();
    pack_model(&sandbox);
    let out = sandbox.hoist().args(["chat", "m:1", "Hi"]).env("PATH", sandbox.path("empty")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("llama-server not found on PATH: install llama.cpp"), "{stderr}");
    sandbox.fails_with_one_error(&["chat", "nothing:1", "Hi"], "nothing:1");
    sandbox.fails_with_one_error(&["chat", "m:1", "Hi", "--", "--port", "8080"], "--port after --");
}

mod terminal {
    //! The interactive chat, on a pseudo-terminal that is hoist's controlling
    //! terminal, so Ctrl-C is the terminal's: a SIGINT to the foreground
    //! process group while an answer streams, a key while a line is read.

    use std::fs::File;
    use std::os::fd::AsRawFd;

    use nix::fcntl::{OFlag, open};
    use nix::pty::{Winsize, openpty};
    use nix::sys::stat::Mode;

    use super::*;

    struct Terminal {
        input: File,
        screen: Arc<Mutex<String>>,
        /// The terminal's other side, kept to read its mode.
        slave: File,
    }

    impl Terminal {
        fn typed(&mut self, keys: &str) {
            self.input.write_all(keys.as_bytes()).unwrap();
        }

        fn count(&self, text: &str) -> usize {
            self.screen.lock().unwrap().matches(text).count()
        }

        fn wait_count(&self, text: &str, count: usize) {
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.count(text) < count {
                let screen = self.screen.lock().unwrap().clone();
                assert!(
                    Instant::now() < deadline,
                    "waited a minute for {count} × {text:?} on the terminal: {screen:?}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts `hoist ARGS` as the leader of a new session whose controlling
    /// terminal is a fresh pseudo-terminal; answers the cursor position queries a line editor sends.
    fn spawn_on_terminal(sandbox: &Sandbox, args: &[&str]) -> (Child, Terminal) {
        let size = Winsize { ws_row: 24, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = openpty(Some(&size), None).unwrap();
        let tty = nix::unistd::ttyname(&pty.slave).unwrap();
        let tty = std::ffi::CString::new(tty.as_os_str().as_encoded_bytes()).unwrap();
        let slave = File::from(pty.slave);
        let mut command = hoist(sandbox, args);
        command
            .env("TERM", "xterm")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: setsid and open are async-signal-safe; the path was made before the fork.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setsid()?;
                // Opening the terminal as a session leader makes it the controlling terminal.
                let fd = open(tty.as_c_str(), OFlag::O_RDWR, Mode::empty())?;
                assert!(fd.as_raw_fd() > 2);
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        let master = File::from(pty.master);
        let mut output = master.try_clone().unwrap();
        let mut answers = master.try_clone().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let seen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(read) = output.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                let chunk = String::from_utf8_lossy(&buffer[..read]).into_owned();
                for _ in 0..chunk.matches("\x1b[6n").count() {
                    let _ = answers.write_all(b"\x1b[1;1R");
                }
                seen.lock().unwrap().push_str(&chunk);
            }
        });
        (child, Terminal { input: master, screen, slave })
    }

    /// SIGKILL to hoist when a failed test leaves it waiting at its prompt
    /// (its runtime then stops with it); nothing once hoist has exited.
    struct KillOnDrop(Pid);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let _ = kill(self.0, Signal::SIGKILL);
            }
        }
    }

    #[test]
    fn an_interactive_chat_keeps_history_and_ctrl_c_stops_only_the_answer() {
        let sandbox = Sandbox::new();
        pack_model(&sandbox);
        install_runtime(&sandbox, RUNTIME);
        let (mut child, mut terminal) = spawn_on_terminal(&sandbox, &["chat", "m:1"]);
        let _stop_on_panic = KillOnDrop(Pid::from_raw(child.id() as i32));
        let argv = runtime_argv(&sandbox, &mut child);
        let server = ChatServer::start_on(port_of(&argv), slow_answer());
        let answer: String = (0..20).map(|i| format!("tok{i:02} ")).collect();

        terminal.wait_count(">>> ", 1);
        terminal.typed("Hi\r");
        terminal.wait_count("tok19", 1);
        terminal.wait_count(">>> ", 2);
        // Typed ahead of the second line's prompt: kept for it.
        terminal.typed("\"\"\"Two\rlines\"\"\"\r");
        terminal.wait_count("tok19", 2);

        // Ctrl-C at the prompt neither leaves nor sends anything.
        terminal.wait_count(">>> ", 3);
        terminal.typed("\x03");
        terminal.wait_count("Use /bye or Ctrl-D to leave.", 1);
        assert_eq!(server.requests().len(), 2);

        // Ctrl-C while an answer streams stops that answer; it is not kept.
        terminal.typed("Count\r");
        terminal.wait_count("tok01", 3);
        terminal.typed("\x03");
        terminal.wait_count(">>> ", 5);
        wait_for("the server to see the stream closed", || server.closed_streams() == 1);
        assert_eq!(terminal.count("tok19"), 2);

        terminal.typed("Again\r");
        terminal.wait_count("tok19", 3);
        terminal.typed("\x04");
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}: {}", terminal.screen.lock().unwrap());

        let requests = server.requests();
        assert_eq!(requests.len(), 4);
        assert_eq!(requests[2]["messages"].as_array().unwrap().len(), 5, "Count came after two exchanges");
        assert_eq!(
            requests[3]["messages"],
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "Two\nlines"},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "Again"},
            ])
        );
        assert_runtime_gone(&sandbox);
    }

    #[test]
    fn sigterm_at_the_prompt_stops_the_runtime_and_restores_the_terminal() {
        use nix::sys::termios::{LocalFlags, tcgetattr};

        let sandbox = Sandbox::new();
        pack_model(&sandbox);
        install_runtime(&sandbox, STUBBORN_RUNTIME);
        let (mut child, terminal) = spawn_on_terminal(&sandbox, &["chat", "m:1"]);
        let _stop_on_panic = KillOnDrop(Pid::from_raw(child.id() as i32));
        let argv = runtime_argv(&sandbox, &mut child);
        let _server = ChatServer::start_on(port_of(&argv), ChatServerOptions::default());
        terminal.wait_count(">>> ", 1);
        let editing = tcgetattr(&terminal.slave).unwrap().local_flags;
        assert!(!editing.contains(LocalFlags::ICANON), "the line editor reads keys one by one");

        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(143));
        let restored = tcgetattr(&terminal.slave).unwrap().local_flags;
        assert!(restored.contains(LocalFlags::ICANON | LocalFlags::ECHO), "{restored:?}");
        assert_runtime_gone(&sandbox);
    }
}
