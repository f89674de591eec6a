//! `hoist completion SHELL`: scripts for every shell, and bash's completes
//! subcommands and the model names in the store; `hoist help COMMAND` pages.

mod common;

use std::process::Command;

use common::{Sandbox, require_tool};

fn script(sandbox: &Sandbox, shell: &str) -> String {
    let out = sandbox.hoist().args(["completion", shell]).output().unwrap();
    assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_script_for_every_shell_calls_hoist_back() {
    let sandbox = Sandbox::new();
    let binary = assert_cmd::cargo::cargo_bin!("hoist").to_str().unwrap().to_string();
    for (shell, registers) in [
        ("bash", "complete -o nospace -o bashdefault -o nosort -F _clap_complete_hoist hoist"),
        ("zsh", "#compdef hoist"),
        ("fish", "complete --keep-order --exclusive --command hoist"),
        ("powershell", "Register-ArgumentCompleter -Native -CommandName hoist"),
    ] {
        let text = script(&sandbox, shell);
        assert!(text.contains(registers), "{shell}: {text}");
        let asks = [format!("COMPLETE=\"{shell}\""), format!("COMPLETE={shell}"), format!("COMPLETE = \"{shell}\"")];
        assert!(asks.iter().any(|ask| text.contains(ask.as_str())), "{shell} sets COMPLETE: {text}");
        assert!(text.contains(&binary), "{shell} calls this hoist back: {text}");
    }
    let bad = sandbox.hoist().args(["completion", "tcsh"]).output().unwrap();
    assert!(!bad.status.success());
}

/// What bash's completion function offers for `words` (the last one is being
/// typed), with the script sourced as a user's ~/.bashrc would.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let current = words.len() - 1;
    let program = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD={current}; COMP_TYPE=9\n\
         _clap_complete_hoist hoist '{last}' '{previous}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" "),
        last = words[current],
        previous = words[current - 1],
    );
    let out = Command::new("bash").arg("-c").arg(program).output().unwrap();
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[test]
fn bash_completes_subcommands_and_stored_model_names() {
    require_tool("bash", "apt-get install -y bash");
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("tiny:q8");
    sandbox.pack_tiny("team/other:1");
    let script = script(&sandbox, "bash");
    let store = sandbox.store().to_str().unwrap().to_string();

    assert_eq!(bash_completes(&script, &["hoist", "pu"]), ["push", "pull"]);
    assert_eq!(bash_completes(&script, &["hoist", "--store", &store, "rm", "ti"]), ["tiny:q8"]);
    // An empty word: the names first, then the flags.
    let offered = bash_completes(&script, &["hoist", "--store", &store, "inspect", ""]);
    assert_eq!(offered[..2], ["team/other:1", "tiny:q8"]);
    assert!(offered[2..].iter().all(|o| o.starts_with("--")), "{offered:?}");
    assert_eq!(
        bash_completes(&script, &["hoist", "--store", &store, "tag", "tiny:q8", "t"]),
        Vec::<String>::new(),
        "a new name is not a stored one"
    );
    // Without --store, $HOIST_HOME names the store, as for any command.
    let program = format!("export HOIST_HOME={store}\n{script}");
    assert_eq!(bash_completes(&program, &["hoist", "run", "team/"]), ["team/other:1"]);
}

#[test]
fn help_pages_explain_each_command_with_examples() {
    let sandbox = Sandbox::new();
    for command in [
        "pack",
        "build",
        "list",
        "inspect",
        "tag",
        "rm",
        "prune",
        "verify",
        "login",
        "push",
        "pull",
        "copy",
        "estimate",
        "weights",
        "bundle",
        "unpack",
        "quantize",
        "convert",
        "completion",
    ] {
        let out = sandbox.hoist().args(["help", command]).output().unwrap();
        assert!(out.status.success(), "{command}");
        let page = String::from_utf8(out.stdout).unwrap();
        assert!(page.contains(&format!("Examples:\n  hoist {command}")), "{command}: {page}");
        let added = page.split("Print help (see a summary with '-h')").nth(1).unwrap_or_default();
        assert!(added.lines().all(|l| l.chars().count() <= 100), "{command}'s page is wrapped: {added}");
    }
    let pull = String::from_utf8(sandbox.hoist().args(["pull", "--help"]).output().unwrap().stdout).unwrap();
    assert!(pull.contains("docker.io/ai/smollm2:latest"), "{pull}");
}
