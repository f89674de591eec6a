use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoist_gguf::GgmlType;
use hoist_gguf::synth::TinyModel;
use hoist_oci::{Descriptor, ImageManifest};

use super::*;
use crate::{NoPackReporter, SourceOptions};

fn created() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn tiny(path: &Path, file_type: GgmlType, seed: u64) {
    TinyModel { file_type, seed, ..TinyModel::default() }.write_to_path(path).unwrap();
}

/// Packs `path` with `options` into `store` as `reference`.
fn pack_files(store: &Store, path: &Path, options: &SourceOptions, format: PackFormat, reference: &str) -> PackOutcome {
    let source = PackSource::collect(path, options).unwrap();
    let options = PackOptions { format, context_size: Some(512), created: created(), reproducible: true };
    pack(store, &source, &reference.parse().unwrap(), &options, &NoPackReporter).unwrap()
}

/// A GGUF model with a license, a chat template and a projector.
fn gguf_with_extras(dir: &Path, store: &Store, format: PackFormat) -> PackOutcome {
    tiny(&dir.join("tiny.gguf"), GgmlType::F16, 1);
    tiny(&dir.join("projector.gguf"), GgmlType::F16, 2);
    fs::write(dir.join("LICENSE"), "Apache-2.0\n").unwrap();
    fs::write(dir.join("chat.jinja"), "{{ messages }}").unwrap();
    let options = SourceOptions {
        licenses: vec![dir.join("LICENSE")],
        chat_template: Some(dir.join("chat.jinja")),
        mmproj: Some(dir.join("projector.gguf")),
        ..SourceOptions::default()
    };
    pack_files(store, &dir.join("tiny.gguf"), &options, format, "tiny:f16")
}

fn options(carry: Carry) -> DeriveOptions {
    DeriveOptions { format: None, carry, created: created(), reproducible: true }
}

fn layer_by_path<'a>(manifest: &'a ImageManifest, path: &str) -> &'a Descriptor {
    manifest.layers.iter().find(|l| annotated_path(l) == Some(path)).unwrap_or_else(|| panic!("no layer {path}"))
}

fn ingest_entries(store: &Store) -> usize {
    fs::read_dir(store.root().join("ingest")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_quantized_model_keeps_the_license_template_projector_and_context_size() {
    let temp = tempfile::tempdir().unwrap();
    let store = Store::new(temp.path().join("store"));
    let packed = gguf_with_extras(temp.path(), &store, PackFormat::Docker);

    let source = DerivedSource::open(&store, &packed.descriptor, None).unwrap();
    assert_eq!(source.weights_format(), Some("gguf"));
    assert_eq!(source.pack_format(), PackFormat::Docker);
    let new = source.output_dir().unwrap().join("tiny-Q8_0.gguf");
    tiny(&new, GgmlType::Q8_0, 1);
    let reference = "tiny:q8".parse().unwrap();
    let derived = pack_derived(
        &store,
        &source,
        std::slice::from_ref(&new),
        &reference,
        &options(Carry::AllButWeights),
        &NoPackReporter,
    )
    .unwrap();
    let new_digest = hoist_oci::Digest::of(&fs::read(&new).unwrap());
    drop(source);

    let layers = &derived.manifest.layers;
    assert_eq!(layers.len(), 4, "{layers:?}");
    assert_eq!(annotated_path(&layers[0]), Some("tiny-Q8_0.gguf"));
    assert_eq!(layers[0].media_type, docker::GGUF);
    assert_eq!(layers[0].digest, new_digest);
    for path in ["LICENSE", "chat.jinja", "projector.gguf"] {
        let (ours, theirs) = (layer_by_path(&derived.manifest, path), layer_by_path(&packed.manifest, path));
        assert_eq!(ours, theirs, "{path}: same digest, media type and annotations");
    }
    assert_eq!(derived.facts.context_size, Some(512), "the source's context size, set when it was packed");
    assert_eq!(derived.facts.quantization.as_deref(), Some("Q8_0"));
    assert_eq!(store.resolve("tiny:q8").unwrap().descriptor.digest, derived.descriptor.digest);
    assert_eq!(ingest_entries(&store), 0, "the scratch directory is gone");
}

#[test]
fn a_modelpack_source_gives_a_modelpack_model_unless_the_options_say_otherwise() {
    let temp = tempfile::tempdir().unwrap();
    let store = Store::new(temp.path().join("store"));
    let packed = gguf_with_extras(temp.path(), &store, PackFormat::ModelPack);
    let source = DerivedSource::open(&store, &packed.descriptor, None).unwrap();
    assert_eq!(source.pack_format(), PackFormat::ModelPack);
    let new = source.output_dir().unwrap().join("tiny-Q8_0.gguf");
    tiny(&new, GgmlType::Q8_0, 1);

    let same = pack_derived(
        &store,
        &source,
        std::slice::from_ref(&new),
        &"a:1".parse().unwrap(),
        &options(Carry::AllButWeights),
        &NoPackReporter,
    )
    .unwrap();
    assert_eq!(same.manifest.config.media_type, crate::media::modelpack::CONFIG);
    // ModelPack media types say "weight" for the projector too: it is carried by its name.
    assert_eq!(layer_by_path(&same.manifest, "projector.gguf"), layer_by_path(&packed.manifest, "projector.gguf"));
    assert_eq!(same.manifest.layers.len(), 4);

    let docker = DeriveOptions { format: Some(PackFormat::Docker), ..options(Carry::AllButWeights) };
    let other = pack_derived(&store, &source, &[new], &"b:1".parse().unwrap(), &docker, &NoPackReporter).unwrap();
    assert_eq!(other.manifest.config.media_type, docker::CONFIG_V01);
    assert_eq!(layer_by_path(&other.manifest, "projector.gguf").media_type, docker::MMPROJ);
    assert_eq!(layer_by_path(&other.manifest, "LICENSE").media_type, docker::LICENSE);
}

#[test]
fn a_converted_model_keeps_only_the_license_and_chat_template() {
    let temp = tempfile::tempdir().unwrap();
    let store = Store::new(temp.path().join("store"));
    let hf = temp.path().join("hf");
    fs::create_dir(&hf).unwrap();
    let json = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut weights = (json.len() as u64).to_le_bytes().to_vec();
    weights.extend_from_slice(json.as_bytes());
    weights.extend_from_slice(&[0u8; 8]);
    fs::write(hf.join("model.safetensors"), weights).unwrap();
    fs::write(hf.join("config.json"), r#"{"model_type":"llama","max_position_embeddings":4096}"#).unwrap();
    fs::write(hf.join("tokenizer.json"), "{}").unwrap();
    fs::write(hf.join("LICENSE.txt"), "MIT\n").unwrap();
    fs::write(hf.join("chat_template.jinja"), "{{ messages }}").unwrap();
    fs::write(hf.join("README.md"), "# card\n").unwrap();
    let packed = pack_files(&store, &hf, &SourceOptions::default(), PackFormat::Docker, "hf:1");

    let source = DerivedSource::open(&store, &packed.descriptor, None).unwrap();
    assert_eq!(source.weights_format(), Some("safetensors"));
    // The weights are the store's blob itself (a hardlink), not a copy.
    let weights = source.runtime_dir().safetensors_dir.as_ref().unwrap().join("model.safetensors");
    let blob = store.blob_path(&layer_by_path(&packed.manifest, "model.safetensors").digest);
    assert_eq!(fs::metadata(&weights).unwrap().ino(), fs::metadata(&blob).unwrap().ino());
    let new = source.output_dir().unwrap().join("hf-F16.gguf");
    tiny(&new, GgmlType::F16, 3);
    let derived = pack_derived(
        &store,
        &source,
        &[new],
        &"hf:gguf".parse().unwrap(),
        &options(Carry::LicenseAndTemplate),
        &NoPackReporter,
    )
    .unwrap();
    let paths: Vec<&str> = derived.manifest.layers.iter().filter_map(annotated_path).collect();
    assert_eq!(paths, ["hf-F16.gguf", "LICENSE.txt", "chat_template.jinja"]);
    assert_eq!(
        layer_by_path(&derived.manifest, "LICENSE.txt").digest,
        layer_by_path(&packed.manifest, "LICENSE.txt").digest
    );
    assert_eq!(derived.manifest.config.media_type, docker::CONFIG_V01, "a GGUF model now");
    assert_eq!(derived.facts.context_size, Some(512));
}

#[test]
fn a_clash_of_paths_fails_before_anything_is_tagged() {
    let temp = tempfile::tempdir().unwrap();
    let store = Store::new(temp.path().join("store"));
    let packed = gguf_with_extras(temp.path(), &store, PackFormat::Docker);
    let index_before = fs::read(store.root().join("index.json")).unwrap();
    let source = DerivedSource::open(&store, &packed.descriptor, None).unwrap();
    assert_eq!(ingest_entries(&store), 1, "the scratch directory");
    let new = source.output_dir().unwrap().join("LICENSE");
    fs::write(&new, "not a model").unwrap();
    let error =
        pack_derived(&store, &source, &[new], &"x:1".parse().unwrap(), &options(Carry::AllButWeights), &NoPackReporter)
            .unwrap_err();
    assert!(error.to_string().contains("\"LICENSE\""), "{error}");
    drop(source);
    assert_eq!(fs::read(store.root().join("index.json")).unwrap(), index_before);
    assert_eq!(ingest_entries(&store), 0);
}

#[test]
fn no_weights_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let store = Store::new(temp.path().join("store"));
    let packed = gguf_with_extras(temp.path(), &store, PackFormat::Docker);
    let source = DerivedSource::open(&store, &packed.descriptor, None).unwrap();
    let error =
        pack_derived(&store, &source, &[], &"x:1".parse().unwrap(), &options(Carry::AllButWeights), &NoPackReporter)
            .unwrap_err();
    assert!(matches!(error, ModelError::NoModelFiles { .. }), "{error}");
}
