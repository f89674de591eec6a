//! The command an artifact stores for its runtime (an image config's
//! Entrypoint + Cmd, as gguf-packer images carry llama-server arguments), and
//! reading flags out of it.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// An OCI or Docker image config's Entrypoint + Cmd; empty for other configs.
pub fn stored_command(config: &Json) -> Vec<String> {
    let list = |key: &str| -> Vec<String> {
        config
            .pointer(&format!("/config/{key}"))
            .and_then(Json::as_array)
            .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let mut command = list("Entrypoint");
    command.extend(list("Cmd"));
    command
}

/// The value after one of `flags` (`-m X`, `--model X` or `--model=X`).
pub fn command_value<'a>(command: &'a [String], flags: &[&str]) -> Option<&'a str> {
    let mut args = command.iter();
    while let Some(arg) = args.next() {
        if flags.contains(&arg.as_str()) {
            return args.next().map(String::as_str);
        }
        if let Some((flag, value)) = arg.split_once('=')
            && flag.starts_with("--")
            && flags.contains(&flag)
        {
            return Some(value);
        }
    }
    None
}

/// The image path of the file the stored command names after one of `flags`:
/// the value itself when absolute, else against the config's `WorkingDir`
/// (`/` when it has none). Not normalised: `..` is the caller's to judge.
pub fn command_file(config: &Json, flags: &[&str]) -> Option<PathBuf> {
    let value = command_value(&stored_command(config), flags)?.to_string();
    let working_dir = config.pointer("/config/WorkingDir").and_then(Json::as_str).unwrap_or("/");
    Some(Path::new(working_dir).join(value))
}

/// Whether one of `flags` (a switch without a value) is in the command.
pub fn command_has(command: &[String], flags: &[&str]) -> bool {
    command.iter().any(|arg| flags.contains(&arg.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_switches() {
        let cmd: Vec<String> =
            ["-m", "/m.gguf", "--mmproj=/p.gguf", "-fa", "-c", "8192"].iter().map(|s| s.to_string()).collect();
        assert_eq!(command_value(&cmd, &["-m", "--model"]), Some("/m.gguf"));
        assert_eq!(command_value(&cmd, &["--mmproj"]), Some("/p.gguf"));
        assert_eq!(command_value(&cmd, &["-c", "--ctx-size"]), Some("8192"));
        assert_eq!(command_value(&cmd, &["--lora"]), None);
        assert!(command_has(&cmd, &["-fa", "--flash-attn"]));
        assert!(!command_has(&cmd, &["--no-mmap"]));
        let config = serde_json::json!({"config": {"Entrypoint": ["llama-server"], "Cmd": ["-m", "/m.gguf"]}});
        assert_eq!(stored_command(&config), ["llama-server", "-m", "/m.gguf"]);
        let relative = serde_json::json!({"config": {"Cmd": ["-m", "m.gguf"], "WorkingDir": "/models"}});
        assert_eq!(command_file(&relative, &["-m"]), Some("/models/m.gguf".into()));
        assert_eq!(command_file(&config, &["-m"]), Some("/m.gguf".into()), "absolute: WorkingDir is not used");
        assert_eq!(command_file(&config, &["--lora"]), None);
    }
}
