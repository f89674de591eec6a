//! How `hoist list` names models: Docker Hub models by the short name they
//! were pulled by (a name without a registry: the store first, then Docker
//! Hub), architectures and types in one vocabulary for every format.

mod common;

use common::Sandbox;

fn references(sandbox: &Sandbox) -> Vec<String> {
    let list = sandbox.json(&["list", "--json"]);
    list.as_array().unwrap().iter().map(|m| m["reference"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_stored_model_is_not_taken_for_a_docker_hub_name() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("ai/tiny:1");
    let before = common::tree_snapshot(&sandbox.store());
    let stderr = sandbox.fails_with_one_error(&["pull", "--progress", "none", "ai/tiny:1"], "docker.io/ai/tiny:1");
    assert!(stderr.contains("ai/tiny:1 is a model in the store, not one pulled from Docker Hub"), "{stderr}");
    sandbox.fails_with_one_error(&["push", "--progress", "none", "ai/tiny:1"], "not one pulled from Docker Hub");
    sandbox.fails_with_one_error(&["inspect", "--remote", "ai/tiny:1"], "not one pulled from Docker Hub");
    assert_eq!(common::tree_snapshot(&sandbox.store()), before, "the store is left as it was");
}

#[test]
fn list_shows_a_docker_hub_model_under_the_short_name_it_was_pulled_by() {
    let sandbox = Sandbox::new();
    // What `hoist pull ai/tiny:1` stores: the full name and the typed one, one digest.
    sandbox.pack_tiny("ai/tiny:1");
    sandbox.hoist().args(["tag", "ai/tiny:1", "docker.io/ai/tiny:1"]).assert().success();
    // A Docker Hub model stored only by its full name keeps it.
    sandbox.pack_tiny("docker.io/library/solo:2");
    // A short name that names another model than its Docker Hub twin: both lines.
    sandbox.pack_tiny("other:3");
    sandbox.hoist().args(["tag", "ai/tiny:1", "docker.io/library/other:3"]).assert().success();
    assert_eq!(references(&sandbox), ["ai/tiny:1", "docker.io/library/other:3", "docker.io/library/solo:2", "other:3"]);

    // Removing the short name removes the full one with it.
    sandbox.hoist().args(["rm", "ai/tiny:1"]).assert().success();
    assert_eq!(references(&sandbox), ["docker.io/library/other:3", "docker.io/library/solo:2", "other:3"]);
}

#[test]
fn list_names_architectures_and_types_alike_for_every_format() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("gguf:1");
    let config = r#"{"architectures":["BertModel"],"model_type":"bert","torch_dtype":"bfloat16"}"#;
    let dir = sandbox.hf_model("hf", config);
    for (format, name) in [("docker", "docker:1"), ("modelpack", "modelpack:1")] {
        let out = sandbox
            .hoist()
            .args(["pack", "-q", "--progress", "none", "--format", format, "-t", name])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let list = sandbox.json(&["list", "--json"]);
    let facts: Vec<(&str, &str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (m["reference"].as_str().unwrap(), m["architecture"].as_str().unwrap(), m["quantization"].as_str().unwrap())
        })
        .collect();
    assert_eq!(facts, [("docker:1", "bert", "BF16"), ("gguf:1", "llama", "Q8_0"), ("modelpack:1", "bert", "BF16")]);
    let table = sandbox.hoist().arg("list").output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(!table.contains("BertModel") && !table.contains("bf16"), "{table}");
}
