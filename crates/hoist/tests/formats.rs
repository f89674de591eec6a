//! Reading artifacts other tools wrote: ModelPack under its legacy `cnai` names,
//! and ModelPack configs checked against the specification's JSON schema.

mod common;

use common::Sandbox;
use hoist_oci::{Descriptor, ImageManifest, Reference, media_types};
use hoist_store::Store;
use serde_json::{Value, json};

/// Writes a manifest, config and layer into the store the way another tool would.
fn store_artifact(
    store: &Store,
    reference: &str,
    artifact_type: &str,
    config_type: &str,
    config: Value,
    layer: Descriptor,
) {
    let session = store.write_session().unwrap();
    let (config_digest, config_size) = session.put_bytes(&serde_json::to_vec(&config).unwrap()).unwrap();
    session.put_bytes(b"weights").unwrap();
    let mut manifest = ImageManifest::new(Descriptor::new(config_type, config_digest, config_size), vec![layer]);
    manifest.artifact_type = Some(artifact_type.to_string());
    let (digest, size) = session.put_bytes(&manifest.to_canonical_json()).unwrap();
    let reference: Reference = reference.parse().unwrap();
    session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest, size), &reference).unwrap();
}

#[test]
fn legacy_cnai_artifacts_list_and_inspect() {
    let sandbox = Sandbox::new();
    let store = Store::new(sandbox.store());
    let mut layer = Descriptor::for_bytes("application/vnd.cnai.model.weight.v1.raw", b"weights");
    layer.annotations.insert("org.cnai.model.filepath".into(), "model.safetensors".into());
    let config = json!({
        "descriptor": {"createdAt": "2025-01-01T00:00:00Z", "family": "qwen2", "name": "qwen2-0.5b"},
        "config": {"architecture": "transformer", "format": "safetensors", "paramSize": "0.5b", "precision": "bfloat16"},
        "modelfs": {"type": "layers", "diffIds": [layer.digest.to_string()]}
    });
    store_artifact(
        &store,
        "legacy:1",
        "application/vnd.cnai.model.manifest.v1+json",
        "application/vnd.cnai.model.config.v1+json",
        config,
        layer,
    );
    let list = sandbox.json(&["list", "--json"]);
    let row = &list[0];
    assert_eq!(row["artifact"], "CNCF ModelPack v1 (legacy cnai names)");
    assert_eq!(row["architecture"], "transformer");
    assert_eq!(row["parameters"], "0.5b");
    assert_eq!(row["format"], "safetensors");
    let out = sandbox.hoist().args(["inspect", "legacy:1"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Family:       qwen2"), "{text}");
    assert!(text.contains("model.safetensors"), "the legacy filepath annotation is read: {text}");
}

#[test]
fn modelpack_configs_from_gguf_validate_against_the_schema() {
    let sandbox = Sandbox::new();
    let model = sandbox.tiny_gguf("m.gguf");
    let license = sandbox.write("LICENSE", "MIT\n");
    sandbox
        .hoist()
        .args(["pack", "--progress", "none", "--format", "modelpack", "-t", "m:1", "--license"])
        .arg(&license)
        .arg(&model)
        .assert()
        .success();
    let json = sandbox.json(&["inspect", "--json", "m:1"]);
    let config = &json["config"];
    assert_eq!(config["config"]["format"], "gguf");
    assert_eq!(config["config"]["architecture"], "llama");
    assert_eq!(config["config"]["quantization"], "q8_0");
    assert_eq!(config["descriptor"]["name"], "Tiny Test");
    assert_eq!(config["descriptor"]["family"], "llama");
    let types: Vec<&str> =
        json["manifest"]["layers"].as_array().unwrap().iter().map(|l| l["mediaType"].as_str().unwrap()).collect();
    assert_eq!(types, ["application/vnd.cncf.model.weight.v1.raw", "application/vnd.cncf.model.doc.v1.raw"]);
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("../../spec/modelpack/config-schema.json").unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(config).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "config does not validate: {errors:?}");
    // And the list shows it like any other model, in the same vocabulary.
    let list = sandbox.json(&["list", "--json"]);
    assert_eq!(list[0]["artifact"], "CNCF ModelPack v1");
    assert_eq!(list[0]["quantization"], "Q8_0");
}
