//! Bad input: a one-line error naming what and where, a non-zero exit, and the
//! store byte-for-byte as it was.

mod common;

use common::{Sandbox, tree_snapshot};

/// Runs `args` against a store holding one model and checks the failure.
fn fails_cleanly(sandbox: &Sandbox, args: &[&str], expect_in_error: &str) {
    let before = tree_snapshot(&sandbox.store());
    let stderr = sandbox.fails_with_one_error(args, expect_in_error);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error:"), "{args:?}: the error comes last: {stderr:?}");
    assert_eq!(tree_snapshot(&sandbox.store()), before, "{args:?} changed the store");
}

fn sandbox_with_a_model() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("keep:1");
    sandbox
}

#[test]
fn a_missing_path() {
    let sandbox = sandbox_with_a_model();
    let missing = sandbox.path("nope.gguf");
    fails_cleanly(&sandbox, &["pack", "-t", "x:1", missing.to_str().unwrap()], "nope.gguf: no such file");
}

#[test]
fn a_directory_without_model_files() {
    let sandbox = sandbox_with_a_model();
    sandbox.write("docs/README.md", "just docs");
    let dir = sandbox.path("docs");
    fails_cleanly(&sandbox, &["pack", "-t", "x:1", dir.to_str().unwrap()], "no model weights found");
}

#[test]
fn a_file_that_is_not_a_gguf() {
    let sandbox = sandbox_with_a_model();
    let fake = sandbox.write("fake.gguf", vec![b'x'; 100_000]);
    fails_cleanly(&sandbox, &["pack", "-t", "x:1", fake.to_str().unwrap()], "fake.gguf: not a valid GGUF file");
}

#[test]
fn a_truncated_gguf() {
    let sandbox = sandbox_with_a_model();
    let model = sandbox.tiny_gguf("cut.gguf");
    let bytes = std::fs::read(&model).unwrap();
    for keep in [10, bytes.len() / 50, bytes.len() - 1] {
        std::fs::write(&model, &bytes[..keep]).unwrap();
        fails_cleanly(&sandbox, &["pack", "-t", "x:1", model.to_str().unwrap()], "cut.gguf: not a valid GGUF file");
    }
}

#[test]
fn an_unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = sandbox_with_a_model();
    // Root reads files whatever their mode, so this part only bites for other users.
    let model = sandbox.tiny_gguf("locked.gguf");
    std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = std::process::Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root {
        fails_cleanly(&sandbox, &["pack", "-t", "x:1", model.to_str().unwrap()], "locked.gguf: Permission denied");
    }
    // A FIFO cannot be read as a model file by anyone; it is refused before it could block.
    let fifo = sandbox.path("pipe.gguf");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    fails_cleanly(&sandbox, &["pack", "-t", "x:1", fifo.to_str().unwrap()], "pipe.gguf: not a regular file");
}

#[test]
fn a_reference_syntax_error() {
    let sandbox = sandbox_with_a_model();
    let model = sandbox.tiny_gguf("ok.gguf");
    fails_cleanly(&sandbox, &["pack", "-t", "Bad Name", model.to_str().unwrap()], "invalid reference \"Bad Name\"");
    fails_cleanly(&sandbox, &["tag", "keep:1", "x:-bad"], "invalid reference");
}

#[test]
fn an_unknown_tag() {
    let sandbox = sandbox_with_a_model();
    fails_cleanly(&sandbox, &["inspect", "keep:2"], "keep:2");
    fails_cleanly(&sandbox, &["rm", "keep:2"], "keep:2");
    fails_cleanly(&sandbox, &["tag", "nothing:1", "y:1"], "nothing:1");
    fails_cleanly(&sandbox, &["rm", "keep:1", "nothing:1"], "nothing:1");
}
