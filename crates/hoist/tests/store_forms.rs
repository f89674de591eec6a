//! The store forms `hoist quantize MODEL TYPE -t REF` and `hoist convert MODEL -t
//! REF`: the new model's weights are the bytes the file forms write, the
//! source's license, chat template and projector come along with the same
//! digests, and every refusal leaves the store as it was.

mod common;

use std::path::{Path, PathBuf};

use common::{Sandbox, minilm_package_dir, tree_snapshot};
use hoist_gguf::GgmlType;
use hoist_gguf::synth::TinyModel;
use hoist_oci::Digest;
use hoist_quant::synth::SynthModel;
use hoist_testkit::RegistryServer;
use serde_json::Value;

const GGUF: &str = "application/vnd.docker.ai.gguf.v3";
const MMPROJ: &str = "application/vnd.docker.ai.mmproj";
const LICENSE: &str = "application/vnd.docker.ai.license";
const CHAT_TEMPLATE: &str = "application/vnd.docker.ai.chat.template.jinja";

/// An F32 synthetic model packed as `src:f32` with a license, a chat template,
/// a projector and a context size; returns the model file.
fn packed_source(sandbox: &Sandbox, format: &str) -> PathBuf {
    let model = sandbox.path("in.gguf");
    SynthModel::odd().write(&model).unwrap();
    let projector = sandbox.path("mmproj-odd.gguf");
    SynthModel { seed: 7, weight_type: GgmlType::F16, ..SynthModel::odd() }.write(&projector).unwrap();
    let license = sandbox.write("LICENSE", "Apache-2.0\n");
    let template = sandbox.write("chat.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
    let args = ["pack", "-q", "--progress", "none", "--format", format, "--context-size", "777", "-t", "src:f32"];
    sandbox
        .hoist()
        .args(args)
        .arg("--license")
        .arg(license)
        .arg("--chat-template")
        .arg(template)
        .arg("--mmproj")
        .arg(projector)
        .arg(&model)
        .assert()
        .success();
    model
}

/// `inspect --json REF`: the manifest and the config.
fn inspect(sandbox: &Sandbox, reference: &str) -> (Value, Value) {
    let json = sandbox.json(&["inspect", "--json", reference]);
    (json["manifest"].clone(), json["config"].clone())
}

fn layers(manifest: &Value) -> Vec<Value> {
    manifest["layers"].as_array().unwrap().clone()
}

fn layer_at(manifest: &Value, path: &str) -> Value {
    layers(manifest)
        .into_iter()
        .find(|l| l["annotations"]["org.cncf.model.filepath"] == path)
        .unwrap_or_else(|| panic!("no layer {path} in {manifest}"))
}

fn file_digest(path: &Path) -> String {
    Digest::of(&std::fs::read(path).unwrap()).to_string()
}

/// The file form's output for the same input and type.
fn file_form(sandbox: &Sandbox, input: &Path, ftype: &str, extra: &[&str]) -> PathBuf {
    let out = sandbox.path(&format!("file-form-{ftype}.gguf"));
    sandbox
        .hoist()
        .args(["quantize", "--progress", "none"])
        .args(extra)
        .arg(input)
        .arg(&out)
        .arg(ftype)
        .assert()
        .success();
    out
}

fn ingest_is_empty(sandbox: &Sandbox) -> bool {
    std::fs::read_dir(sandbox.store().join("ingest")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn quantize_to_the_store_writes_the_file_forms_bytes_and_carries_the_extras() {
    let sandbox = Sandbox::new();
    let model = packed_source(&sandbox, "docker");
    let json = sandbox.json(&["quantize", "--json", "--progress", "none", "src:f32", "q4_k_m", "-t", "src:q4"]);
    assert_eq!(json["reference"], "src:q4");
    assert_eq!(json["source"], "src:f32");
    assert_eq!(json["format"], "docker");
    assert_eq!(json["type"], "Q4_K_M");
    assert_eq!(json["tensors"], 20);
    assert_eq!(json["types"]["F16"], 13, "as the file form's test counts them");
    assert_eq!(json["fallbacks"], 15);
    assert_eq!(json["layers"], 4);

    let expected = file_form(&sandbox, &model, "Q4_K_M", &[]);
    let (manifest, config) = inspect(&sandbox, "src:q4");
    let raw = sandbox.hoist().args(["inspect", "--raw", "src:q4"]).output().unwrap().stdout;
    assert_eq!(json["digest"], Digest::of(&raw).to_string());
    let weights = &layers(&manifest)[0];
    assert_eq!(weights["mediaType"], GGUF);
    assert_eq!(weights["annotations"]["org.cncf.model.filepath"], "in-Q4_K_M.gguf");
    assert_eq!(weights["digest"], file_digest(&expected), "byte-identical to the file form");
    assert_eq!(weights["size"], std::fs::metadata(&expected).unwrap().len());
    assert_eq!(json["output_bytes"], weights["size"]);

    let (source, _) = inspect(&sandbox, "src:f32");
    for (path, media_type) in [("LICENSE", LICENSE), ("chat.jinja", CHAT_TEMPLATE), ("mmproj-odd.gguf", MMPROJ)] {
        let carried = layer_at(&manifest, path);
        assert_eq!(carried, layer_at(&source, path), "{path}: same digest, media type and annotations");
        assert_eq!(carried["mediaType"], media_type);
    }
    assert_eq!(config["config"]["context_size"], 777, "{config}");
    assert_eq!(config["config"]["quantization"], "Q4_K_M", "{config}");
    assert!(ingest_is_empty(&sandbox), "the scratch directory is removed");
    sandbox.hoist().args(["verify", "--progress", "none"]).assert().success();
}

#[test]
fn a_modelpack_source_stays_modelpack_unless_format_says_otherwise() {
    let sandbox = Sandbox::new();
    packed_source(&sandbox, "modelpack");
    sandbox.hoist().args(["quantize", "--progress", "none", "src:f32", "Q8_0", "-t", "mp:q8"]).assert().success();
    let (manifest, _) = inspect(&sandbox, "mp:q8");
    assert_eq!(manifest["artifactType"], "application/vnd.cncf.model.manifest.v1+json");
    let (source, _) = inspect(&sandbox, "src:f32");
    for path in ["LICENSE", "chat.jinja", "mmproj-odd.gguf"] {
        assert_eq!(layer_at(&manifest, path), layer_at(&source, path), "{path}");
    }

    let args = ["quantize", "--progress", "none", "--format", "docker", "src:f32", "Q8_0", "-t", "docker:q8"];
    sandbox.hoist().args(args).assert().success();
    let (manifest, config) = inspect(&sandbox, "docker:q8");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.ai.model.config.v0.1+json");
    assert_eq!(layer_at(&manifest, "mmproj-odd.gguf")["mediaType"], MMPROJ);
    assert_eq!(layer_at(&manifest, "LICENSE")["digest"], layer_at(&source, "LICENSE")["digest"]);
    assert_eq!(config["config"]["quantization"], "Q8_0", "{config}");
}

#[test]
fn a_split_source_is_quantized_whole_into_one_file() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("split");
    std::fs::create_dir_all(&dir).unwrap();
    let model = TinyModel { file_type: GgmlType::F16, ..TinyModel::default() };
    let shards = model.write_split(&dir, "odd", 3).unwrap();
    sandbox.hoist().args(["pack", "-q", "--progress", "none", "-t", "split:f32"]).arg(&shards[0]).assert().success();
    assert_eq!(layers(&inspect(&sandbox, "split:f32").0).len(), 3);

    sandbox.hoist().args(["quantize", "--progress", "none", "split:f32", "Q8_0", "-t", "split:q8"]).assert().success();
    let expected = file_form(&sandbox, &shards[0], "Q8_0", &[]);
    let (manifest, _) = inspect(&sandbox, "split:q8");
    let found: Vec<(Value, Value)> = layers(&manifest)
        .iter()
        .map(|l| (l["annotations"]["org.cncf.model.filepath"].clone(), l["digest"].clone()))
        .collect();
    assert_eq!(found, [(Value::from("odd-Q8_0.gguf"), Value::from(file_digest(&expected)))]);
}

/// Runs a store form that must fail with one error line mentioning
/// `expect`, and checks that the store did not change at all.
fn refused(sandbox: &Sandbox, args: &[&str], expect: &str) {
    let before = tree_snapshot(&sandbox.store());
    let stderr = sandbox.fails_with_one_error(args, expect);
    assert!(!stderr.contains("/ingest/"), "{args:?}: names the scratch directory that is gone: {stderr}");
    assert_eq!(tree_snapshot(&sandbox.store()), before, "{args:?} changed the store");
}

#[test]
fn refusals_leave_the_store_as_it_was() {
    let sandbox = Sandbox::new();
    packed_source(&sandbox, "docker");
    sandbox
        .hoist()
        .args(["pack", "-q", "--progress", "none", "-t", "st:1"])
        .arg(sandbox.hf_model("hf", "{}"))
        .assert()
        .success();
    sandbox.hoist().args(["quantize", "--progress", "none", "src:f32", "Q8_0", "-t", "src:q8"]).assert().success();

    let quantize = |model: &str, ftype: &str, tag: &str| {
        ["quantize", "--progress", "none", model, ftype, "-t", tag].map(str::to_string)
    };
    let run = |args: [String; 7], expect: &str| {
        refused(&sandbox, &args.iter().map(String::as_str).collect::<Vec<_>>(), expect)
    };
    run(quantize("nosuch:1", "Q8_0", "new:1"), "nosuch:1");
    run(quantize("st:1", "Q8_0", "new:1"), "st:1 is a safetensors model, not gguf");
    run(quantize("src:f32", "Q8_0", "src:q8"), "src:q8 already names model");
    run(quantize("src:f32", "Q9_Z", "new:1"), "Q9_Z");
    // Midway: the source is unpacked, the quantizer refuses it.
    run(quantize("src:q8", "Q4_K_M", "new:1"), "--allow-requantize");
    refused(&sandbox, &["quantize", "src:f32", "Q8_0", "extra", "-t", "new:1"], "one too many");
    refused(
        &sandbox,
        &["convert", "--progress", "none", "src:f32", "-t", "new:1"],
        "src:f32 is a gguf model, not safetensors",
    );
    // Midway: the converter refuses a directory without a known architecture.
    refused(&sandbox, &["convert", "--progress", "none", "st:1", "-t", "new:1"], "converting st:1: config.json: ");
    refused(&sandbox, &["convert", "--progress", "none", "nosuch:1", "-t", "new:1"], "nosuch:1");
}

#[test]
fn a_registry_source_is_pulled_first_and_untagged_again_when_the_command_fails() {
    let registry = RegistryServer::anonymous();
    let publisher = Sandbox::new();
    let model = packed_source(&publisher, "docker");
    let remote = format!("{}/team/src:f32", registry.host());
    publisher.hoist().args(["push", "--progress", "none", "src:f32", &remote]).assert().success();

    let sandbox = Sandbox::new();
    sandbox
        .hoist()
        .args(["pack", "-q", "--progress", "none", "-t", "other:1"])
        .arg(sandbox.tiny_gguf("t.gguf"))
        .assert()
        .success();
    // Not in the registry: nothing pulled, nothing changed.
    let missing = format!("{}/team/nosuch:1", registry.host());
    refused(&sandbox, &["quantize", "--progress", "none", &missing, "Q8_0", "-t", "new:1"], "nosuch");

    // Bad options are refused before anything is pulled.
    refused(&sandbox, &["quantize", "--progress", "none", &remote, "Q8_0", "-t", &remote], "a name of its own");
    let args = ["quantize", "--progress", "none", "--token-embedding-type", "Q9_Z", &remote, "Q8_0", "-t", "new:1"];
    refused(&sandbox, &args, "Q9_Z");
    let args = ["quantize", "--progress", "none", "--imatrix", "/nonexistent.dat", &remote, "Q8_0", "-t", "new:1"];
    refused(&sandbox, &args, "nonexistent");

    // Pulled, then refused by the quantizer: the pulled name goes again (its
    // blobs stay unreferenced until a prune, as after `hoist rm`).
    let list_before = sandbox.json(&["list", "--json"]);
    let store_before = tree_snapshot(&sandbox.store());
    let requant_remote = format!("{}/team/src:q8", registry.host());
    publisher.hoist().args(["quantize", "--progress", "none", "src:f32", "Q8_0", "-t", "src:q8"]).assert().success();
    publisher.hoist().args(["push", "--progress", "none", "src:q8", &requant_remote]).assert().success();
    let args = ["quantize", "--progress", "none", &requant_remote, "Q4_K_M", "-t", "new:1"];
    let stderr = sandbox.fails_with_one_error(&args, "--allow-requantize");
    assert!(stderr.contains("pulling it"), "{stderr}");
    assert_eq!(sandbox.json(&["list", "--json"]), list_before, "no new name");
    assert!(ingest_is_empty(&sandbox));
    sandbox.hoist().args(["prune"]).assert().success();
    assert_eq!(tree_snapshot(&sandbox.store()), store_before, "a prune removes all the pull left");

    let json = sandbox.json(&["quantize", "--json", "--progress", "none", &remote, "Q4_K_M", "-t", "local:q4"]);
    let expected = file_form(&sandbox, &model, "Q4_K_M", &[]);
    let (manifest, _) = inspect(&sandbox, "local:q4");
    assert_eq!(layers(&manifest)[0]["digest"], file_digest(&expected));
    assert_eq!(json["source"], remote.as_str());
    let names: Vec<String> = sandbox
        .json(&["list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reference"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [remote.clone(), "local:q4".into(), "other:1".into()],
        "the pulled source stays, as `run` leaves it"
    );
}

#[test]
fn convert_to_the_store_writes_the_file_forms_bytes_with_the_license_and_template() {
    let sandbox = Sandbox::new();
    let snapshot = minilm_package_dir().join("model");
    let license = sandbox.write("LICENSE", "Apache-2.0\n");
    let template = sandbox.write("template.jinja", "{{ messages }}");
    sandbox
        .hoist()
        .args(["pack", "-q", "--progress", "none", "-t", "minilm:st", "--license"])
        .arg(&license)
        .arg("--chat-template")
        .arg(&template)
        .arg(&snapshot)
        .assert()
        .success();
    let json =
        sandbox.json(&["convert", "--json", "--progress", "none", "--type", "f16", "minilm:st", "-t", "minilm:f16"]);
    assert_eq!(json["architecture"], "bert");
    assert_eq!(json["file_type"], "F16");
    assert_eq!(json["reference"], "minilm:f16");
    assert_eq!(json["layers"], 3);

    let expected = sandbox.path("minilm.f16.gguf");
    sandbox
        .hoist()
        .args(["convert", "--progress", "none", "--type", "f16"])
        .arg(&snapshot)
        .arg(&expected)
        .assert()
        .success();
    let (manifest, config) = inspect(&sandbox, "minilm:f16");
    let (source, _) = inspect(&sandbox, "minilm:st");
    let weights = &layers(&manifest)[0];
    assert_eq!(weights["mediaType"], GGUF);
    assert_eq!(weights["annotations"]["org.cncf.model.filepath"], "minilm-F16.gguf");
    assert_eq!(weights["digest"], file_digest(&expected), "byte-identical to the file form");
    assert_eq!(json["bytes"], weights["size"]);
    for path in ["LICENSE", "template.jinja"] {
        assert_eq!(layer_at(&manifest, path), layer_at(&source, path), "{path}");
    }
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.ai.model.config.v0.1+json");
    assert_eq!(config["config"]["architecture"], "bert", "{config}");
    assert!(ingest_is_empty(&sandbox));

    // And on to a quantized model: the converted one is a GGUF source like any other.
    sandbox
        .hoist()
        .args(["quantize", "--progress", "none", "minilm:f16", "Q8_0", "-t", "minilm:q8"])
        .assert()
        .success();
    let expected_q8 = file_form(&sandbox, &expected, "Q8_0", &[]);
    let (manifest, _) = inspect(&sandbox, "minilm:q8");
    assert_eq!(layers(&manifest)[0]["digest"], file_digest(&expected_q8));
    assert_eq!(layer_at(&manifest, "LICENSE")["digest"], layer_at(&source, "LICENSE")["digest"]);
}
