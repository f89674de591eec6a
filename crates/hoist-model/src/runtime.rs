//! The command line that runs an unpacked model: which runtime serves it
//! (llama.cpp's `llama-server` for GGUF, vLLM for safetensors) and its argv.
//!
//! Everything here is pure: it reads the [`RuntimeDir`]'s fields, never the file
//! system, so the rules are tested without a runtime installed.
//!
//! For `llama-server` the argv starts from the artifact's stored command (a
//! gguf-packer image's Entrypoint + Cmd). Its file arguments (the values after
//! `-m/--model`, `-md/--model-draft`, `-mm/--mmproj`, `--lora` and any flag
//! ending in `-file`) are image paths; each becomes the file with the same
//! relative path under the directory's `model/`, and a path that would leave
//! it is refused. Then come what the directory knows and the command does not set
//! (model, projector, chat template, context size), the port, and last the
//! user's own arguments, so they win where the runtime takes the last value.

use std::path::{Component, Path, PathBuf};

use crate::error::ModelError;
use crate::unpack::RuntimeDir;

/// A model server hoist knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// llama.cpp's OpenAI-compatible server, for GGUF models.
    LlamaServer,
    /// vLLM (`vllm serve DIR`), for safetensors models.
    Vllm,
}

impl Runtime {
    /// The runtime a model runs in by default: llama-server for GGUF (and for
    /// any artifact with a stored command), vLLM for safetensors.
    pub fn default_for(dir: &RuntimeDir) -> Result<Runtime, ModelError> {
        if dir.gguf.is_some() || !dir.command.is_empty() {
            Ok(Runtime::LlamaServer)
        } else if dir.safetensors_dir.is_some() {
            Ok(Runtime::Vllm)
        } else if dir.dduf.is_some() {
            Err(no_dduf_runtime(dir))
        } else {
            Err(invalid(dir, "the model holds no GGUF, safetensors or DDUF weights to run"))
        }
    }

    /// The runtime a program is, by its file name (`/opt/bin/llama-server`,
    /// `vllm`); `None` for a name hoist does not know.
    pub fn from_program(program: &str) -> Option<Runtime> {
        match Path::new(program).file_name()?.to_str()? {
            "llama-server" => Some(Runtime::LlamaServer),
            "vllm" => Some(Runtime::Vllm),
            _ => None,
        }
    }

    /// The executable looked up on PATH.
    pub fn program(self) -> &'static str {
        match self {
            Runtime::LlamaServer => "llama-server",
            Runtime::Vllm => "vllm",
        }
    }

    /// How to get the runtime when it is missing.
    pub fn install_hint(self) -> &'static str {
        match self {
            Runtime::LlamaServer => {
                "install llama.cpp (e.g. build it from https://github.com/ggml-org/llama.cpp) or pass --by PATH"
            }
            Runtime::Vllm => "pip install vllm",
        }
    }
}

/// What the user asked for on top of the model's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--port N`, added unless `extra_args` sets `--port`.
    pub port: Option<u16>,
    /// Arguments for the runtime, passed last and unchanged.
    pub extra_args: Vec<String>,
}

/// The arguments (without the program itself) that start `runtime` on `dir`.
///
/// Errors: a stored file argument that leaves the runtime directory or has no value, a
/// model the runtime cannot serve (no GGUF for llama-server, DDUF anywhere).
pub fn runtime_argv(dir: &RuntimeDir, runtime: Runtime, options: &RunOptions) -> Result<Vec<String>, ModelError> {
    match runtime {
        Runtime::LlamaServer => llama_server_argv(dir, options),
        Runtime::Vllm => vllm_argv(dir, options),
    }
}

const MODEL_FLAGS: &[&str] = &["-m", "--model"];
const MMPROJ_FLAGS: &[&str] = &["-mm", "--mmproj"];
const TEMPLATE_FLAGS: &[&str] = &["--chat-template-file", "--chat-template"];
const CONTEXT_FLAGS: &[&str] = &["-c", "--ctx-size"];
const PORT_FLAGS: &[&str] = &["--port"];
/// Flags whose value is a file in the image (besides any flag ending in `-file`).
const PATH_FLAGS: &[&str] = &["-m", "--model", "-md", "--model-draft", "-mm", "--mmproj", "--lora"];
/// First words of a stored command that name the server rather than an argument.
const SERVER_PROGRAMS: &[&str] = &["llama-server"];

fn llama_server_argv(dir: &RuntimeDir, options: &RunOptions) -> Result<Vec<String>, ModelError> {
    if dir.gguf.is_none() && dir.command.is_empty() {
        if dir.dduf.is_some() {
            return Err(no_dduf_runtime(dir));
        }
        let hint = if dir.safetensors_dir.is_some() { " (it holds safetensors: try --by vllm)" } else { "" };
        return Err(invalid(dir, &format!("llama-server needs a GGUF model and this one has none{hint}")));
    }
    let mut args = stored_command(dir)?;
    let user = &options.extra_args;
    let unset = |args: &[String], flags: &[&str]| !sets_flag(args, flags) && !sets_flag(user, flags);

    if unset(&args, MODEL_FLAGS) {
        let gguf = dir.gguf.as_ref().ok_or_else(|| invalid(dir, "the stored command names no model (-m)"))?;
        args.extend(["-m".to_string(), path_text(gguf)]);
    }
    if let Some(mmproj) = &dir.mmproj
        && unset(&args, MMPROJ_FLAGS)
    {
        args.extend(["--mmproj".to_string(), path_text(mmproj)]);
    }
    if let Some(template) = &dir.chat_template
        && unset(&args, TEMPLATE_FLAGS)
    {
        args.extend(["--chat-template-file".to_string(), path_text(template)]);
    }
    if let Some(context) = dir.context_size
        && unset(&args, CONTEXT_FLAGS)
    {
        args.extend(["-c".to_string(), context.to_string()]);
    }
    push_port(&mut args, options);
    args.extend(user.iter().cloned());
    Ok(args)
}

fn vllm_argv(dir: &RuntimeDir, options: &RunOptions) -> Result<Vec<String>, ModelError> {
    let model = match (&dir.safetensors_dir, &dir.gguf) {
        (Some(dir), _) => dir,
        (None, Some(gguf)) => gguf,
        (None, None) if dir.dduf.is_some() => return Err(no_dduf_runtime(dir)),
        (None, None) => return Err(invalid(dir, "vllm needs a safetensors model and this one has none")),
    };
    let mut args = vec!["serve".to_string(), path_text(model)];
    push_port(&mut args, options);
    if let Some(context) = dir.context_size
        && !sets_flag(&options.extra_args, &["--max-model-len"])
    {
        args.extend(["--max-model-len".to_string(), context.to_string()]);
    }
    args.extend(options.extra_args.iter().cloned());
    Ok(args)
}

fn push_port(args: &mut Vec<String>, options: &RunOptions) {
    if let Some(port) = options.port
        && !sets_flag(&options.extra_args, PORT_FLAGS)
    {
        args.extend(["--port".to_string(), port.to_string()]);
    }
}

/// The stored command with the server's name dropped and its file arguments
/// turned into paths in the runtime directory.
fn stored_command(dir: &RuntimeDir) -> Result<Vec<String>, ModelError> {
    let mut words = dir.command.iter().peekable();
    if let Some(first) = words.peek()
        && Path::new(first.as_str()).file_name().and_then(|n| n.to_str()).is_some_and(|n| SERVER_PROGRAMS.contains(&n))
    {
        words.next();
    }
    let mut args = Vec::new();
    while let Some(word) = words.next() {
        if let Some((flag, value)) = word.split_once('=')
            && flag.starts_with("--")
            && takes_path(flag)
        {
            args.push(format!("{flag}={}", path_text(&dir_path(dir, flag, value)?)));
        } else if takes_path(word) {
            let value = words
                .next()
                .ok_or_else(|| invalid(dir, &format!("the stored command ends with {word} and no file after it")))?;
            args.push(word.clone());
            args.push(path_text(&dir_path(dir, word, value)?));
        } else {
            args.push(word.clone());
        }
    }
    Ok(args)
}

fn takes_path(flag: &str) -> bool {
    PATH_FLAGS.contains(&flag) || (flag.starts_with('-') && flag.len() > "-file".len() && flag.ends_with("-file"))
}

/// Whether `args` sets one of `flags`, as `-c N`, `--ctx-size N` or `--ctx-size=N`.
fn sets_flag(args: &[String], flags: &[&str]) -> bool {
    args.iter().any(|arg| {
        flags.iter().any(|flag| {
            arg == flag || (flag.starts_with("--") && arg.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')))
        })
    })
}

/// An image path (absolute, or relative to the image root) as the file with the
/// same relative path under the model directory; refused when it leaves it.
fn dir_path(dir: &RuntimeDir, flag: &str, value: &str) -> Result<PathBuf, ModelError> {
    let mut rel = PathBuf::new();
    for component in Path::new(value).components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => rel.push(part),
            Component::ParentDir => {
                if !rel.pop() {
                    return Err(invalid(
                        dir,
                        &format!(
                            "the stored command's {flag} {value} leaves the runtime directory; refusing to run it"
                        ),
                    ));
                }
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(invalid(dir, &format!("the stored command's {flag} {value:?} names no file")));
    }
    Ok(dir.model_dir.join(rel))
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn invalid(dir: &RuntimeDir, reason: &str) -> ModelError {
    ModelError::InvalidArtifact { what: dir.root.display().to_string(), reason: reason.to_string() }
}

fn no_dduf_runtime(dir: &RuntimeDir) -> ModelError {
    invalid(dir, "no runtime for DDUF yet")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime_dir() -> RuntimeDir {
        let root = PathBuf::from("/b");
        RuntimeDir {
            config_path: root.join("config.json"),
            model_dir: root.join("model"),
            root,
            format: Some("gguf".into()),
            gguf: Some("/b/model/m.gguf".into()),
            mmproj: None,
            chat_template: None,
            safetensors_dir: None,
            dduf: None,
            context_size: None,
            command: Vec::new(),
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn argv(dir: &RuntimeDir, options: &RunOptions) -> String {
        runtime_argv(dir, Runtime::LlamaServer, options).unwrap().join(" ")
    }

    #[test]
    fn defaults_name_the_runtime_dir_files_in_order() {
        let mut b = runtime_dir();
        b.mmproj = Some("/b/model/mmproj.gguf".into());
        b.chat_template = Some("/b/model/template.jinja".into());
        b.context_size = Some(2048);
        let options = RunOptions { port: Some(8081), extra_args: words("--threads 2") };
        assert_eq!(
            argv(&b, &options),
            "-m /b/model/m.gguf --mmproj /b/model/mmproj.gguf --chat-template-file /b/model/template.jinja \
             -c 2048 --port 8081 --threads 2"
        );
    }

    #[test]
    fn only_the_model_when_the_runtime_dir_knows_nothing_else() {
        assert_eq!(argv(&runtime_dir(), &RunOptions::default()), "-m /b/model/m.gguf");
    }

    #[test]
    fn stored_command_files_become_paths_in_the_runtime_dir() {
        let mut b = runtime_dir();
        b.command = words(
            "llama-server -m /gguf/model.gguf -md draft.gguf --mmproj /gguf/./proj.gguf --lora /a/../lora.gguf \
             --system-prompt-file system-prompt.txt --foo-file=/x/y.bin -c 8192 --temp 0.5",
        );
        assert_eq!(
            argv(&b, &RunOptions::default()),
            "-m /b/model/gguf/model.gguf -md /b/model/draft.gguf --mmproj /b/model/gguf/proj.gguf \
             --lora /b/model/lora.gguf --system-prompt-file /b/model/system-prompt.txt --foo-file=/b/model/x/y.bin \
             -c 8192 --temp 0.5"
        );
    }

    #[test]
    fn long_forms_and_draft_model() {
        let mut b = runtime_dir();
        b.command = words("--model m.gguf --model-draft=d.gguf --ctx-size=512");
        b.context_size = Some(4096);
        assert_eq!(
            argv(&b, &RunOptions::default()),
            "--model /b/model/m.gguf --model-draft=/b/model/d.gguf --ctx-size=512"
        );
    }

    #[test]
    fn paths_that_escape_the_runtime_dir_are_refused() {
        for command in ["-m ../../etc/passwd", "--lora /../x", "--foo-file a/../../b", "--model=/../../m.gguf"] {
            let mut b = runtime_dir();
            b.command = words(command);
            let error = runtime_argv(&b, Runtime::LlamaServer, &RunOptions::default()).unwrap_err().to_string();
            assert!(error.contains("leaves the runtime directory"), "{command}: {error}");
        }
    }

    #[test]
    fn a_file_flag_without_a_value_is_refused() {
        let mut b = runtime_dir();
        b.command = words("-c 10 --mmproj");
        let error = runtime_argv(&b, Runtime::LlamaServer, &RunOptions::default()).unwrap_err().to_string();
        assert!(error.contains("--mmproj"), "{error}");
    }

    #[test]
    fn only_a_leading_server_name_is_dropped() {
        let mut b = runtime_dir();
        b.command = words("/usr/bin/llama-server --threads 4");
        assert_eq!(argv(&b, &RunOptions::default()), "--threads 4 -m /b/model/m.gguf");
        b.command = words("--alias llama-server");
        assert_eq!(argv(&b, &RunOptions::default()), "--alias llama-server -m /b/model/m.gguf");
    }

    #[test]
    fn context_and_template_are_not_repeated() {
        let mut b = runtime_dir();
        b.chat_template = Some("/b/model/t.jinja".into());
        b.context_size = Some(2048);
        b.command = words("-m m.gguf -c 8192 --chat-template chatml");
        assert_eq!(argv(&b, &RunOptions::default()), "-m /b/model/m.gguf -c 8192 --chat-template chatml");

        b.command = Vec::new();
        let options = RunOptions { port: None, extra_args: words("--ctx-size 100") };
        let args = argv(&b, &options);
        assert_eq!(args, "-m /b/model/m.gguf --chat-template-file /b/model/t.jinja --ctx-size 100");
        assert!(!args.contains("-c "), "{args}");
    }

    #[test]
    fn user_args_come_last_and_their_port_wins() {
        let mut b = runtime_dir();
        b.command = words("-m m.gguf --temp 0.1");
        let options = RunOptions { port: Some(1), extra_args: words("--port 2 --temp 0.9") };
        assert_eq!(argv(&b, &options), "-m /b/model/m.gguf --temp 0.1 --port 2 --temp 0.9");
    }

    #[test]
    fn vllm_serves_the_safetensors_directory() {
        let mut b = runtime_dir();
        b.gguf = None;
        b.format = Some("safetensors".into());
        b.safetensors_dir = Some("/b/model/weights".into());
        b.context_size = Some(4096);
        assert_eq!(Runtime::default_for(&b).unwrap(), Runtime::Vllm);
        let options = RunOptions { port: Some(8000), extra_args: words("--dtype half") };
        let args = runtime_argv(&b, Runtime::Vllm, &options).unwrap().join(" ");
        assert_eq!(args, "serve /b/model/weights --port 8000 --max-model-len 4096 --dtype half");
        let options = RunOptions { port: None, extra_args: words("--max-model-len=10") };
        let args = runtime_argv(&b, Runtime::Vllm, &options).unwrap().join(" ");
        assert_eq!(args, "serve /b/model/weights --max-model-len=10");
        let error = runtime_argv(&b, Runtime::LlamaServer, &options).unwrap_err().to_string();
        assert!(error.contains("--by vllm"), "{error}");
    }

    #[test]
    fn dduf_has_no_runtime() {
        let mut b = runtime_dir();
        b.gguf = None;
        b.dduf = Some("/b/model/m.dduf".into());
        assert!(Runtime::default_for(&b).unwrap_err().to_string().contains("no runtime for DDUF yet"));
        for runtime in [Runtime::LlamaServer, Runtime::Vllm] {
            let error = runtime_argv(&b, runtime, &RunOptions::default()).unwrap_err().to_string();
            assert!(error.contains("no runtime for DDUF yet"), "{error}");
        }
    }

    #[test]
    fn gguf_runs_in_llama_server_by_default() {
        assert_eq!(Runtime::default_for(&runtime_dir()).unwrap(), Runtime::LlamaServer);
        assert_eq!(Runtime::from_program("/opt/llama.cpp/llama-server"), Some(Runtime::LlamaServer));
        assert_eq!(Runtime::from_program("vllm"), Some(Runtime::Vllm));
        assert_eq!(Runtime::from_program("/tmp/my-server"), None);
    }
}
