//! `hoist pack` on every input kind, checked through `inspect --json`.

mod common;

use common::Sandbox;
use hoist_gguf::synth::TinyModel;
use serde_json::Value;

fn layer_types(manifest: &Value) -> Vec<String> {
    manifest["layers"].as_array().unwrap().iter().map(|l| l["mediaType"].as_str().unwrap().to_string()).collect()
}

fn layer_paths(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["annotations"]["org.cncf.model.filepath"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_gguf_packs_as_a_docker_v01_artifact_with_its_facts() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("tiny:q8");
    let json = sandbox.json(&["inspect", "--json", "tiny:q8"]);
    let manifest = &json["manifest"];
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.ai.model.config.v0.1+json");
    assert_eq!(layer_types(manifest), ["application/vnd.docker.ai.gguf.v3"]);
    let config = &json["config"]["config"];
    assert_eq!(config["format"], "gguf");
    assert_eq!(config["architecture"], "llama");
    assert_eq!(config["quantization"], "Q8_0");
    assert_eq!(config["context_size"], 2048);
    assert_eq!(config["gguf"]["general.architecture"], "llama");
    assert_eq!(config["gguf"]["general.name"], "Tiny Test");
    assert!(config["gguf"].get("tokenizer.ggml.tokens").is_none(), "long arrays stay out of the config");
    let diff_ids = json["config"]["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids[0], manifest["layers"][0]["digest"]);
    let metadata: Value = serde_json::from_str(
        manifest["layers"][0]["annotations"]["org.cncf.model.file.metadata+json"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(metadata["typeflag"], 48);
    assert_eq!(metadata["name"], "tiny_q8.gguf");
}

#[test]
fn extras_become_their_own_layers_and_context_size_overrides() {
    let sandbox = Sandbox::new();
    let model = sandbox.tiny_gguf("m.gguf");
    let projector = sandbox.tiny_gguf("mmproj-m-f16.gguf");
    let license = sandbox.write("LICENSE", "Apache-2.0\n");
    let template = sandbox.write("t.jinja", "{{ messages }}");
    sandbox
        .hoist()
        .args(["pack", "--progress", "none", "-t", "m:1", "--context-size", "8192"])
        .arg(&model)
        .arg("--license")
        .arg(&license)
        .arg("--chat-template")
        .arg(&template)
        .arg("--mmproj")
        .arg(&projector)
        .assert()
        .success();
    let json = sandbox.json(&["inspect", "--json", "m:1"]);
    assert_eq!(
        layer_types(&json["manifest"]),
        [
            "application/vnd.docker.ai.gguf.v3",
            "application/vnd.docker.ai.license",
            "application/vnd.docker.ai.chat.template.jinja",
            "application/vnd.docker.ai.mmproj",
        ]
    );
    assert_eq!(json["config"]["config"]["context_size"], 8192);
}

#[test]
fn every_shard_of_a_split_gguf_is_one_layer() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("split");
    std::fs::create_dir_all(&dir).unwrap();
    let model = TinyModel { name: "Split".into(), ..TinyModel::default() };
    let shards = model.write_split(&dir, "big", 3).unwrap();
    let whole = sandbox.tiny_gguf("whole.gguf");
    sandbox.hoist().args(["pack", "--progress", "none", "-t", "big:q4"]).arg(&shards[0]).assert().success();
    sandbox.hoist().args(["pack", "--progress", "none", "-t", "whole:1"]).arg(&whole).assert().success();
    let json = sandbox.json(&["inspect", "--json", "big:q4"]);
    assert_eq!(
        layer_paths(&json["manifest"]),
        ["big-00001-of-00003.gguf", "big-00002-of-00003.gguf", "big-00003-of-00003.gguf"]
    );
    let whole_json = sandbox.json(&["inspect", "--json", "whole:1"]);
    assert_eq!(
        json["config"]["config"]["parameters"], whole_json["config"]["config"]["parameters"],
        "the parameters of all shards add up to the whole model's"
    );
}

#[test]
fn a_missing_shard_is_an_error_naming_it() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("split");
    std::fs::create_dir_all(&dir).unwrap();
    let shards = TinyModel::default().write_split(&dir, "big", 3).unwrap();
    std::fs::remove_file(&shards[1]).unwrap();
    let out = sandbox.hoist().args(["pack", "-t", "big:1"]).arg(&shards[0]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("big-00002-of-00003.gguf"), "{stderr}");
}

/// A Hugging Face style snapshot: weights, configs, tokenizer, docs, code, nested folders, hidden files.
fn hf_snapshot(sandbox: &Sandbox) -> std::path::PathBuf {
    let dir = sandbox.hf_model(
        "hf",
        r#"{"architectures":["BertModel"],"model_type":"bert","torch_dtype":"float32","max_position_embeddings":512}"#,
    );
    sandbox.write("hf/1_Pooling/config.json", r#"{"word_embedding_dimension":384}"#);
    sandbox.write("hf/README.md", "# MiniLM\n");
    sandbox.write("hf/LICENSE", "Apache-2.0\n");
    sandbox.write("hf/train_script.py", "print('hi')\n");
    sandbox.write("hf/.cache/huggingface/download.lock", "");
    sandbox.write("hf/.gitattributes", "*.safetensors filter=lfs\n");
    dir
}

#[test]
fn a_safetensors_directory_packs_as_modelpack_with_classified_layers() {
    let sandbox = Sandbox::new();
    let dir = hf_snapshot(&sandbox);
    sandbox
        .hoist()
        .args(["pack", "--progress", "none", "--format", "modelpack", "-t", "minilm:1"])
        .arg(&dir)
        .assert()
        .success();
    let json = sandbox.json(&["inspect", "--json", "minilm:1"]);
    let manifest = &json["manifest"];
    assert_eq!(manifest["artifactType"], "application/vnd.cncf.model.manifest.v1+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.cncf.model.config.v1+json");
    let layers: Vec<(String, String)> = layer_paths(manifest).into_iter().zip(layer_types(manifest)).collect();
    let expect = |path: &str, class: &str| (path.to_string(), format!("application/vnd.cncf.model.{class}.v1.raw"));
    assert_eq!(
        layers,
        [
            expect("1_Pooling/config.json", "weight.config"),
            expect("LICENSE", "doc"),
            expect("README.md", "doc"),
            expect("config.json", "weight.config"),
            expect("model.safetensors", "weight"),
            expect("tokenizer.json", "weight.config"),
            expect("train_script.py", "code"),
        ]
    );
    let config = &json["config"];
    assert_eq!(config["config"]["format"], "safetensors");
    assert_eq!(config["config"]["architecture"], "BertModel");
    assert_eq!(config["config"]["paramSize"], "32");
    assert_eq!(config["config"]["precision"], "float32");
    assert_eq!(config["descriptor"]["family"], "bert");
    assert_eq!(config["modelfs"]["diffIds"].as_array().unwrap().len(), 7);
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("../../spec/modelpack/config-schema.json").unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(config).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "config does not validate: {errors:?}");
}

#[test]
fn hidden_files_and_overrides_are_the_users_choice() {
    let sandbox = Sandbox::new();
    let dir = hf_snapshot(&sandbox);
    sandbox
        .hoist()
        .args([
            "pack",
            "--progress",
            "none",
            "--include-hidden",
            "--exclude",
            ".cache/**",
            "--dataset",
            "*.py",
            "-t",
            "x:1",
        ])
        .arg(&dir)
        .assert()
        .success();
    let json = sandbox.json(&["inspect", "--json", "x:1"]);
    let paths = layer_paths(&json["manifest"]);
    assert!(paths.contains(&".gitattributes".to_string()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with(".cache")), "{paths:?}");
    assert_eq!(json["manifest"]["config"]["mediaType"], "application/vnd.docker.ai.model.config.v0.2+json");
    let config = &json["config"]["config"];
    assert_eq!(config["format"], "safetensors");
    assert_eq!(config["context_size"], 512);
    assert_eq!(config["safetensors"]["format"], "pt");
}

#[test]
fn a_dduf_packs_with_the_diffusers_layout() {
    let sandbox = Sandbox::new();
    let dduf = sandbox.path("sd3.dduf");
    let script =
        "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    z.writestr('model_index.json', '{}')\n";
    common::require_tool("python3", "apt-get install -y python3");
    let status = std::process::Command::new("python3").args(["-c", script]).arg(&dduf).status().unwrap();
    assert!(status.success());
    sandbox.hoist().args(["pack", "--progress", "none", "-t", "sd3:1"]).arg(&dduf).assert().success();
    let json = sandbox.json(&["inspect", "--json", "sd3:1"]);
    assert_eq!(layer_types(&json["manifest"]), ["application/vnd.docker.ai.dduf"]);
    let config = &json["config"]["config"];
    assert_eq!(config["format"], "dduf");
    assert_eq!(config["architecture"], "diffusers");
    assert_eq!(config["diffusers"]["layout"], "dduf");
    assert_eq!(config["diffusers"]["dduf_file"], "sd3.dduf");
}

#[test]
fn packing_twice_with_a_fixed_time_gives_the_same_digest() {
    let sandbox = Sandbox::new();
    let model = sandbox.tiny_gguf("m.gguf");
    let pack = |store: &str, extra: &[&str], epoch: Option<&str>| {
        let mut cmd = sandbox.hoist_at(&sandbox.path(store));
        cmd.args(["pack", "-q", "--progress", "none", "-t", "m:1"]);
        cmd.args(extra).arg(&model);
        if let Some(epoch) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let a = pack("a", &[], Some("1700000000"));
    // Touch the file: a later mtime is clamped to the fixed time.
    std::fs::File::options().append(true).open(&model).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
    let b = pack("b", &[], Some("1700000000"));
    assert_eq!(a, b);
    let c = pack("c", &["--created", "2023-11-14T22:13:20Z"], None);
    assert_eq!(a, c, "--created and SOURCE_DATE_EPOCH name the same instant");
    let d = pack("d", &["--format", "modelpack", "--created", "1700000000"], None);
    let e = pack("e", &["--format", "modelpack", "--created", "1700000000"], None);
    assert_eq!(d, e);
}
