//! `hoist build` with a registry: a base the store lacks is pulled (its layers
//! reused by digest), `--push` uploads every tag once built, and only the
//! layers the registry lacks; a base that cannot be pulled fails the build with
//! one line, tagging and pushing nothing.

mod common;

use common::Sandbox;
use hoist_testkit::RegistryServer;

const BASE: &str = "FROM scratch\nCOPY tiny.gguf /\nCAT <<EOF /system-prompt.txt\nYou are tiny.\nEOF\n\
                    CMD [\"-m\", \"tiny.gguf\"]\n";

fn build(sandbox: &Sandbox, file: &str, args: &[&str]) -> std::process::Output {
    sandbox.write("ctx/GGUFPackerfile", file);
    sandbox.hoist().args(["build", "--progress", "none"]).args(args).arg(sandbox.path("ctx")).output().unwrap()
}

fn stdout(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_build_on_a_pulled_base_pushes_only_its_new_layers() {
    let registry = RegistryServer::anonymous();
    let base_ref = format!("{}/team/tiny:base", registry.host());
    let first = Sandbox::new();
    std::fs::create_dir_all(first.path("ctx")).unwrap();
    std::fs::copy(first.tiny_gguf("tiny.gguf"), first.path("ctx/tiny.gguf")).unwrap();
    let pushed = stdout(build(&first, BASE, &["--push", "-t", &base_ref]));
    // Two layers and the config; the manifest is counted apart.
    assert!(pushed.contains(&format!("Pushed {base_ref} sha256:")), "{pushed}");
    assert!(pushed.contains("3 blobs copied"), "{pushed}");
    let base_digest = pushed.split_whitespace().nth(1).unwrap().to_string();

    // Another machine: the base is not in its store.
    let second = Sandbox::new();
    second.write("ctx/extra.txt", "more");
    let derived_ref = format!("{}/team/tiny:derived", registry.host());
    let file = format!("FROM {base_ref}\nCOPY extra.txt /\n");
    let out = stdout(build(&second, &file, &["--push", "-t", &derived_ref]));
    // Only the new layer and the new config go up; the base's layers are there.
    assert!(out.contains("2 blobs copied"), "{out}");
    assert!(out.contains("2 already there"), "{out}");
    let derived = second.json(&["inspect", "--json", &derived_ref]);
    let diff_ids = derived["config"]["rootfs"]["diff_ids"].as_array().unwrap().clone();
    assert_eq!(diff_ids.len(), 3);
    let base = second.json(&["inspect", "--json", &base_ref]);
    assert_eq!(base["descriptor"]["digest"], base_digest.as_str(), "the pulled base is in the store by its name");
    assert_eq!(diff_ids[..2], base["config"]["rootfs"]["diff_ids"].as_array().unwrap()[..]);
    let labels = &derived["config"]["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.base.digest"], base_digest.as_str());
    assert_eq!(derived["config"]["config"]["Cmd"][1], "tiny.gguf");

    // And a third store pulls what was pushed.
    let third = Sandbox::new();
    third.hoist().args(["pull", "--progress", "none", &derived_ref]).assert().success();
    let pulled = third.json(&["inspect", "--json", &derived_ref]);
    assert_eq!(pulled["descriptor"]["digest"], derived["descriptor"]["digest"]);
}

#[test]
fn a_base_that_cannot_be_pulled_fails_in_one_line() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    sandbox.write("ctx/extra.txt", "more");
    let missing = format!("{}/team/none:1", registry.host());
    let target = format!("{}/team/out:1", registry.host());
    let out = build(&sandbox, &format!("FROM {missing}\nCOPY extra.txt /\n"), &["--push", "-t", &target]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("GGUFPackerfile:1:1: FROM {missing}: pulling it: ")), "{stderr}");
    assert_eq!(sandbox.json(&["list", "--json"]).as_array().unwrap().len(), 0);
    // Nothing pushed: the target does not resolve.
    let fresh = Sandbox::new();
    fresh.hoist().args(["pull", "--progress", "none", &target]).assert().failure();
}
