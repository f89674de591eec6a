//! `hoist run` against stand-in runtimes: shell scripts that record their argv
//! and exit with code 7, so the tests see both the command line and that the
//! exit code comes back through `exec`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Sandbox;
use hoist_testkit::RegistryServer;

const STAND_IN: &str =
    "#!/bin/sh\n: > \"$ARGV_FILE\"\nfor arg in \"$@\"; do printf '%s\\n' \"$arg\" >> \"$ARGV_FILE\"; done\nexit 7\n";

/// Writes the stand-in as `dir/name` and returns its path.
fn stand_in(sandbox: &Sandbox, dir: &str, name: &str) -> PathBuf {
    let path = sandbox.write(&format!("{dir}/{name}"), STAND_IN);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `dir` first on PATH, the rest as the test runs with.
fn path_with(dir: &Path) -> String {
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("{}:{rest}", dir.display())
}

fn recorded(sandbox: &Sandbox) -> Vec<String> {
    let text = std::fs::read_to_string(sandbox.path("argv.txt")).expect("the stand-in ran");
    text.lines().map(str::to_string).collect()
}

/// A GGUF model with a projector, a chat template and a context size, packed as `m:1`.
struct Packed {
    model: PathBuf,
    projector: PathBuf,
    template: PathBuf,
}

fn pack_gguf_with_extras(sandbox: &Sandbox) -> Packed {
    let model = sandbox.tiny_gguf("src/m.gguf");
    let projector = sandbox.tiny_gguf("src/mmproj-m-f16.gguf");
    let template = sandbox.write("src/t.jinja", "{{ messages }}");
    sandbox
        .hoist()
        .args(["pack", "--progress", "none", "-t", "m:1", "--context-size", "8192"])
        .arg(&model)
        .arg("--chat-template")
        .arg(&template)
        .arg("--mmproj")
        .arg(&projector)
        .assert()
        .success();
    Packed { model, projector, template }
}

/// Asserts `path` is a file in the store with the same bytes as `original`.
fn same_file_in_store(sandbox: &Sandbox, path: &str, original: &Path) {
    assert!(Path::new(path).starts_with(sandbox.store()), "{path} is in the store");
    assert_eq!(std::fs::read(path).unwrap(), std::fs::read(original).unwrap(), "{path}");
}

#[test]
fn gguf_runs_in_llama_server_with_the_runtime_dir_files_and_its_exit_code() {
    let sandbox = Sandbox::new();
    let packed = pack_gguf_with_extras(&sandbox);
    stand_in(&sandbox, "bin", "llama-server");
    let out = sandbox
        .hoist()
        .args(["run", "m:1", "--port", "8081", "--", "--threads", "2"])
        .env("PATH", path_with(&sandbox.path("bin")))
        .env("ARGV_FILE", sandbox.path("argv.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "exec passes the exit code: {}", String::from_utf8_lossy(&out.stderr));
    let argv = recorded(&sandbox);
    assert_eq!(argv.len(), 12, "{argv:?}");
    assert_eq!(argv[0], "-m");
    same_file_in_store(&sandbox, &argv[1], &packed.model);
    assert_eq!(argv[2], "--mmproj");
    same_file_in_store(&sandbox, &argv[3], &packed.projector);
    assert_eq!(argv[4], "--chat-template-file");
    same_file_in_store(&sandbox, &argv[5], &packed.template);
    assert_eq!(argv[6..], ["-c", "8192", "--port", "8081", "--threads", "2"]);

    // A dry run prints the same command, shell-quoted, runs nothing and needs no runtime.
    std::fs::remove_file(sandbox.path("argv.txt")).unwrap();
    let out = sandbox
        .hoist()
        .args(["run", "m:1", "--dry-run", "--port", "8081", "--", "--threads", "2", "--alias", "it's mine"])
        .env("PATH", sandbox.path("empty"))
        .env("ARGV_FILE", sandbox.path("argv.txt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(argv.iter().all(|a| !a.contains([' ', '\'', '$'])), "nothing to quote in {argv:?}");
    let expected = format!("llama-server {} --alias 'it'\\''s mine'\n", argv.join(" "));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    assert!(!sandbox.path("argv.txt").exists(), "a dry run runs nothing");
}

#[test]
fn by_names_the_runtime_executable() {
    let sandbox = Sandbox::new();
    let packed = pack_gguf_with_extras(&sandbox);
    let server = stand_in(&sandbox, "elsewhere", "my-llama-server");
    let out = sandbox
        .hoist()
        .args(["run", "m:1", "--by"])
        .arg(&server)
        .env("PATH", sandbox.path("empty"))
        .env("ARGV_FILE", sandbox.path("argv.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    let argv = recorded(&sandbox);
    assert_eq!(argv[0], "-m");
    same_file_in_store(&sandbox, &argv[1], &packed.model);
    assert_eq!(argv[6..], ["-c", "8192"]);

    let dry = sandbox.hoist().args(["run", "m:1", "--dry-run", "--by"]).arg(&server).output().unwrap();
    let text = String::from_utf8(dry.stdout).unwrap();
    assert!(text.starts_with(&format!("{} -m ", server.display())), "{text}");
}

#[test]
fn a_missing_runtime_is_an_error_with_an_install_hint() {
    let sandbox = Sandbox::new();
    pack_gguf_with_extras(&sandbox);
    let out = sandbox.hoist().args(["run", "m:1"]).env("PATH", sandbox.path("empty")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("llama-server not found on PATH"), "{stderr}");
    assert!(stderr.contains("install llama.cpp"), "{stderr}");
    assert!(stderr.contains("https://github.com/ggml-org/llama.cpp"), "{stderr}");
    assert!(stderr.contains("--by PATH"), "{stderr}");

    let out = sandbox.hoist().args(["run", "m:1", "--by"]).arg(sandbox.path("nothing-here")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("nothing-here: no such executable file"), "{stderr}");

    let text = sandbox.write("bin/llama-server", "not executable");
    let out = sandbox.hoist().args(["run", "m:1"]).env("PATH", text.parent().unwrap()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("llama-server not found on PATH"), "a file without x bits is no runtime: {stderr}");
}

/// A tiny Hugging Face style safetensors directory.
fn safetensors_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.hf_model("hf", r#"{"architectures":["BertModel"],"model_type":"bert"}"#)
}

#[test]
fn safetensors_run_in_vllm_serve() {
    let sandbox = Sandbox::new();
    let dir = safetensors_dir(&sandbox);
    sandbox.hoist().args(["pack", "--progress", "none", "-t", "st:1"]).arg(&dir).assert().success();
    stand_in(&sandbox, "bin", "vllm");
    let out = sandbox
        .hoist()
        .args(["run", "st:1", "--port", "8000", "--", "--dtype", "half"])
        .env("PATH", path_with(&sandbox.path("bin")))
        .env("ARGV_FILE", sandbox.path("argv.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    let argv = recorded(&sandbox);
    assert_eq!(argv[0], "serve");
    let served = Path::new(&argv[1]);
    assert!(served.starts_with(sandbox.store()), "{argv:?}");
    for name in ["model.safetensors", "config.json", "tokenizer.json"] {
        assert_eq!(std::fs::read(served.join(name)).unwrap(), std::fs::read(dir.join(name)).unwrap(), "{name}");
    }
    assert_eq!(argv[2..4], ["--port", "8000"]);
    assert_eq!(argv[argv.len() - 2..], ["--dtype", "half"]);

    let out = sandbox.hoist().args(["run", "st:1"]).env("PATH", sandbox.path("empty")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("vllm not found on PATH: pip install vllm"), "{stderr}");
}

#[test]
fn a_registry_reference_missing_from_the_store_is_pulled_first() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let remote = format!("{}/team/tiny:1", registry.host());
    sandbox.push_tiny("tiny:q8", &remote);

    let fresh = Sandbox::new();
    let out = fresh.hoist().args(["run", "--progress", "none", "--dry-run", &remote]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("llama-server -m "), "only the command is on stdout: {stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Pulled"));
    let list = fresh.json(&["list", "--json"]);
    assert_eq!(list[0]["reference"], remote.as_str());

    let out = fresh.hoist().args(["run", "--dry-run", "nothing:1"]).output().unwrap();
    assert!(!out.status.success(), "a name without a registry is not pulled");
}
