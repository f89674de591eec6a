//! The runtime as a child process of `hoist chat`: started in its own process
//! group with its output kept (the last lines, for an error), stopped with
//! SIGTERM and then SIGKILL, and never outliving hoist.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How long a runtime has to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);
/// Log lines kept for an error message.
const TAIL_LINES: usize = 20;

pub struct RuntimeProcess {
    child: Child,
    program: String,
    log: Arc<Mutex<VecDeque<String>>>,
    reader: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
    stopped: bool,
}

impl RuntimeProcess {
    /// Starts `executable` (shown as `program`) with `args`.
    ///
    /// Its own process group keeps a terminal's Ctrl-C from reaching it (hoist
    /// decides what Ctrl-C stops) and lets a stop reach the processes it starts
    /// (vLLM's engine). The parent-death signal stops it when hoist dies
    /// without a chance to stop it (SIGKILL); it must be set from the thread
    /// that lives as long as hoist, which is the main thread here.
    pub fn start(executable: &Path, program: &str, args: &[String]) -> Result<RuntimeProcess> {
        let (reader, writer) = std::io::pipe().context("creating a pipe for the runtime's log")?;
        let mut command = Command::new(executable);
        command
            .arg0(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer.try_clone().context("creating a pipe for the runtime's log")?)
            .stderr(writer)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from));
        }
        let child = command.spawn().with_context(|| format!("starting {}", executable.display()))?;
        // `command` holds the pipe's write ends; drop them so the log ends when the runtime's do.
        drop(command);
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let kept = Arc::clone(&log);
        let reader = std::thread::spawn(move || keep_tail(BufReader::new(reader), &kept));
        Ok(RuntimeProcess {
            child,
            program: program.to_string(),
            log,
            reader: Some(reader),
            status: None,
            stopped: false,
        })
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    /// The exit status once the runtime has exited.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait().with_context(|| format!("waiting for {}", self.program))?;
        }
        Ok(self.status)
    }

    /// The last lines the runtime wrote (all of them once it has exited and
    /// the log is read to its end, which takes at most a second more).
    pub fn log_tail(&mut self) -> Vec<String> {
        if self.status.is_some()
            && let Some(reader) = self.reader.take()
        {
            let deadline = Instant::now() + Duration::from_secs(1);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.log.lock().map(|lines| lines.iter().cloned().collect()).unwrap_or_default()
    }

    /// SIGTERM to the runtime's process group, SIGKILL after the grace
    /// period, and SIGKILL to whatever of the group is left once the runtime
    /// has exited (at once when it had exited before). Does nothing the second time.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let group = self.group();
        if self.status.is_some() {
            // The runtime exited by itself; what it started (vLLM's engine) may not have.
            let _ = killpg(group, Signal::SIGKILL);
            return;
        }
        let child = &mut self.child;
        let mut status = None;
        stop_group(group, || match child.try_wait() {
            Ok(Some(exited)) => {
                status = Some(exited);
                true
            }
            Ok(None) => false,
            // Reaped elsewhere (a [`Stopper`]): gone all the same.
            Err(_) => true,
        });
        self.status = status.or_else(|| self.child.wait().ok());
    }

    /// What stops the runtime from another thread, where the process itself
    /// cannot be borrowed (a signal that arrives while a line is being read).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.group())
    }

    fn group(&self) -> Pid {
        // A pid fits an i32 (pid_max is at most 2^22).
        Pid::from_raw(self.child.id() as i32)
    }
}

/// Stops a runtime by its process group (the runtime's pid).
#[derive(Debug, Clone, Copy)]
pub struct Stopper(Pid);

impl Stopper {
    pub fn stop(self) {
        let runtime = self.0;
        stop_group(runtime, || !matches!(waitpid(runtime, Some(WaitPidFlag::WNOHANG)), Ok(WaitStatus::StillAlive)));
        let _ = waitpid(runtime, None);
    }
}

/// SIGTERM to the group, up to the grace period for `exited` to say the
/// runtime is gone, then SIGKILL to what is left of the group.
fn stop_group(group: Pid, mut exited: impl FnMut() -> bool) {
    // Errors mean the group is already gone, which is what a stop wants.
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && !exited() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(group, Signal::SIGKILL);
}

impl Drop for RuntimeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn keep_tail(mut reader: impl BufRead, lines: &Mutex<VecDeque<String>>) {
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|read| read > 0) {
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        line.clear();
        let Ok(mut lines) = lines.lock() else { return };
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(text);
    }
}
