use std::path::Path;

use hoist_gguf::GgmlType;
use hoist_gguf::synth::TinyModel;
use hoist_store::Store;

use super::*;
use crate::parse::parse;
use crate::plan::{NoPlanReporter, PlanOptions, plan};

struct Fixture {
    _dir: tempfile::TempDir,
    context: PathBuf,
    store: Store,
}

fn fixture(files: &[(&str, &[u8])]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    for (path, bytes) in files {
        let p = context.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    std::fs::create_dir_all(&context).unwrap();
    let store = Store::new(dir.path().join("store"));
    Fixture { _dir: dir, context, store }
}

fn build(fx: &Fixture, src: &str, args: &[(&str, &str)], epoch: u64) -> Result<Built, Error> {
    build_with(fx, src, args, epoch, false)
}

fn build_with(fx: &Fixture, src: &str, args: &[(&str, &str)], epoch: u64, no_cache: bool) -> Result<Built, Error> {
    build_as(fx, src, args, epoch, no_cache, Output::Image)
}

fn build_as(
    fx: &Fixture,
    src: &str,
    args: &[(&str, &str)],
    epoch: u64,
    no_cache: bool,
    output: Output,
) -> Result<Built, Error> {
    let file = parse("GGUFPackerfile", src).unwrap();
    let options =
        PlanOptions { build_args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), target: None };
    let plan = plan(&file, &options, &NoPlanReporter)?;
    let session = fx.store.write_session().unwrap();
    execute(
        &plan,
        &ExecOptions {
            context: fx.context.clone(),
            epoch,
            os: "linux".into(),
            architecture: "amd64".into(),
            no_cache,
            output,
            build_file: None,
        },
        &session,
        &NoFetcher,
        &NoReporter,
    )
}

/// (path, mode, uid, mtime, content) of every entry of a stored tar layer.
fn layer_entries(store: &Store, layer: &Descriptor) -> Vec<(String, u32, u64, u64, Vec<u8>)> {
    let bytes = store.read_blob(&layer.digest, 1 << 30).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut content).unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
                content,
            )
        })
        .collect()
}

fn names(entries: &[(String, u32, u64, u64, Vec<u8>)]) -> Vec<&str> {
    entries.iter().map(|e| e.0.as_str()).collect()
}

const FILE: &str = "# syntax=gpustack/gguf-packer:latest
ARG TYPE=Q4_K_M
FROM scratch AS files
COPY --chmod=600 models/ /src/
FROM scratch
LABEL org.opencontainers.image.title=\"tiny ${TYPE}\"
COPY --from=files /src/tiny.${TYPE}.gguf /
COPY --exclude=*.md docs /docs/
CAT <<EOF /system-prompt.txt
You are a ${TYPE} model.
EOF
CMD [\"-m\", \"tiny.${TYPE}.gguf\", \"--system-prompt-file\", \"system-prompt.txt\"]
";

fn context_files() -> Vec<(&'static str, &'static [u8])> {
    vec![("docs/LICENSE", b"MIT".as_slice()), ("docs/README.md", b"# readme".as_slice())]
}

/// The context with two small real models, Q4_K_M-named (Q4_0 weights) and Q8_0.
fn model_fixture() -> Fixture {
    let fx = fixture(&context_files());
    for (name, file_type) in [("tiny.Q4_K_M.gguf", GgmlType::Q4_0), ("tiny.Q8_0.gguf", GgmlType::Q8_0)] {
        let path = fx.context.join("models").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        TinyModel { name: "Tiny Test".into(), file_type, ..TinyModel::default() }.write_to_path(&path).unwrap();
    }
    fx
}

#[test]
fn a_multi_stage_build_into_the_store() {
    let fx = model_fixture();
    let built = build(&fx, FILE, &[], 0).unwrap();
    // The target stage's three file-making steps, not the first stage's.
    assert_eq!(built.layers.len(), 3);
    let model = std::fs::read(fx.context.join("models/tiny.Q4_K_M.gguf")).unwrap();
    assert_eq!(layer_entries(&fx.store, &built.layers[0]), [("tiny.Q4_K_M.gguf".to_string(), 0o600, 0, 0, model)]);
    assert_eq!(names(&layer_entries(&fx.store, &built.layers[1])), ["docs/", "docs/LICENSE"]);
    assert_eq!(
        layer_entries(&fx.store, &built.layers[2]),
        [("system-prompt.txt".to_string(), 0o644, 0, 0, b"You are a Q4_K_M model.\n".to_vec())]
    );
    let config = &built.config;
    assert_eq!(config.cmd, ["-m", "tiny.Q4_K_M.gguf", "--system-prompt-file", "system-prompt.txt"]);
    // A LABEL wins over the label read from the GGUF.
    assert_eq!(config.labels["org.opencontainers.image.title"], "tiny Q4_K_M");
    assert_eq!(config.labels["gguf.model.name"], "Tiny Test");
    assert_eq!(config.labels["gguf.model.architecture"], "llama");
    assert_eq!(config.labels["gguf.model.filetype"], "Q4_0");
    assert_eq!(config.labels["gguf.model.usage"], "text-to-text");
    assert_eq!(config.labels["org.opencontainers.image.created"], "1970-01-01T00:00:00Z");
    let facts = config.model.as_ref().unwrap();
    assert_eq!((facts.cmd_value.as_str(), facts.cmd_index), ("tiny.Q4_K_M.gguf", 1));
    assert_eq!(facts.file_type_id, Some(2));
    let header = hoist_gguf::read_header_from_path(&fx.context.join("models/tiny.Q4_K_M.gguf")).unwrap();
    let summary = header.summary().unwrap();
    assert_eq!(facts.parameters, summary.parameters);
    assert_eq!(config.labels["gguf.model.bpw"], format!("{:.2} bpw", summary.bits_per_weight));
    assert_eq!(config.history.len(), 5);
    assert_eq!(config.history.iter().filter(|h| h.empty_layer).count(), 2);
    let diff_ids: Vec<String> = built.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(config.diff_ids, diff_ids);

    // The manifest in the store points at the config and the layers.
    let manifest = ImageManifest::from_slice(&fx.store.read_blob(&built.manifest.digest, 1 << 20).unwrap()).unwrap();
    assert_eq!(manifest.layers, built.layers);
    let config_bytes = fx.store.read_blob(&manifest.config.digest, 1 << 20).unwrap();
    assert_eq!(config_bytes, built.config.to_json());
    assert_eq!(manifest.config.media_type, media_types::OCI_IMAGE_CONFIG);
}

#[test]
fn builds_are_reproducible_and_follow_the_epoch_and_args() {
    let a = model_fixture();
    let b = model_fixture();
    let first = build(&a, FILE, &[], 0).unwrap();
    let second = build(&b, FILE, &[], 0).unwrap();
    assert_eq!(first.manifest, second.manifest);
    let later = build(&b, FILE, &[], 1_700_000_000).unwrap();
    assert_ne!(later.manifest.digest, first.manifest.digest);
    assert_eq!(layer_entries(&b.store, &later.layers[0])[0].3, 1_700_000_000);
    assert_eq!(later.config.created, "2023-11-14T22:13:20Z");
    let q8 = build(&b, FILE, &[("TYPE", "Q8_0")], 0).unwrap();
    assert_eq!(layer_entries(&b.store, &q8.layers[0])[0].0, "tiny.Q8_0.gguf");
    // The docs layer did not change, so it is the same blob.
    assert_eq!(q8.layers[1], first.layers[1]);
}

#[test]
fn heredocs_chown_and_directories() {
    let fx = fixture(&[("m/a.gguf", b"a"), ("m/sub/b.json", b"{}")]);
    let src = "FROM scratch\nCOPY --chown=1000:1001 <<A <<B /etc/\na\nA\nb\nB\nADD m /app\n";
    let built = build(&fx, src, &[], 0).unwrap();
    let first = layer_entries(&fx.store, &built.layers[0]);
    assert_eq!(names(&first), ["etc/", "etc/A", "etc/B"]);
    assert_eq!((first[1].2, first[1].4.as_slice()), (1000, b"a\n".as_slice()));
    assert_eq!(
        names(&layer_entries(&fx.store, &built.layers[1])),
        ["app/", "app/a.gguf", "app/sub/", "app/sub/b.json"]
    );
}

fn err(fx: &Fixture, src: &str) -> String {
    build(fx, src, &[], 0).unwrap_err().to_string()
}

#[test]
fn errors_name_the_instruction() {
    let fx = fixture(&[("a.gguf", b"a")]);
    assert_eq!(
        err(&fx, "FROM scratch\nCOPY a.gguf /\nCMD [\"-m\", \"a.gguf\"]"),
        "GGUFPackerfile:3:1: the model \"a.gguf\" is not a readable GGUF file: not a GGUF file: magic bytes [61, 00, 00, 00] at offset 0, expected \"GGUF\": \"CMD [\\\"-m\\\", \\\"a.gguf\\\"]\""
    );
    assert_eq!(
        err(&fx, "FROM scratch\nCMD [\"-m\", \"b.gguf\"]"),
        "GGUFPackerfile:2:1: the model \"b.gguf\" is not in the image: \"CMD [\\\"-m\\\", \\\"b.gguf\\\"]\""
    );
    assert_eq!(
        err(&fx, "FROM scratch\nCOPY missing.gguf /"),
        "GGUFPackerfile:2:1: \"missing.gguf\" matches no file: \"COPY missing.gguf /\""
    );
    assert_eq!(
        err(&fx, "FROM scratch\nCONVERT a b.gguf"),
        "GGUFPackerfile:2:1: \"a\": no such directory: \"CONVERT a b.gguf\""
    );
    assert_eq!(
        err(&fx, "FROM scratch\nQUANTIZE missing.gguf b.gguf"),
        "GGUFPackerfile:2:1: \"missing.gguf\": no such file: \"QUANTIZE missing.gguf b.gguf\""
    );
    assert!(
        err(&fx, "FROM scratch\nQUANTIZE --type=Q9_X a.gguf b.gguf").starts_with("GGUFPackerfile:2:1: "),
        "an unknown type names the line"
    );
    // A git remote that is not there (needs git: apt-get install git); its
    // credentials are never shown.
    let unreachable = err(&fx, "FROM scratch\nADD http://bob:secret@127.0.0.1:9/m.git#v1 /m/");
    assert!(unreachable.starts_with("GGUFPackerfile:2:1: git ls-remote http://127.0.0.1:9/m.git: "), "{unreachable}");
    assert!(unreachable.ends_with(": \"ADD http://***@127.0.0.1:9/m.git#v1 /m/\""), "{unreachable}");
    assert!(!unreachable.contains("secret") && unreachable.lines().count() == 1, "{unreachable}");
    assert_eq!(
        err(&fx, "FROM scratch\nADD a.gguf https://example.com/m.git#v1 /m/"),
        "GGUFPackerfile:2:1: ADD of a git repository takes no other sources: \"ADD a.gguf https://example.com/m.git#v1 /m/\""
    );
    assert_eq!(
        err(&fx, "FROM scratch\nADD --checksum=md5:00 http://127.0.0.1:9/m.gguf /"),
        "GGUFPackerfile:2:1: --checksum=md5:00: expected sha256:, sha384: or sha512: and the digest in hex: \"ADD --checksum=md5:00 http://127.0.0.1:9/m.gguf /\""
    );
    let refused = err(&fx, "FROM scratch\nADD http://127.0.0.1:9/m.gguf /");
    assert!(refused.starts_with("GGUFPackerfile:2:1: http://127.0.0.1:9/m.gguf: "), "{refused}");
    assert_eq!(refused.lines().count(), 1);
    let missing_base = err(&fx, "FROM ghcr.io/a/b:1");
    assert_eq!(
        missing_base,
        "GGUFPackerfile:1:1: FROM ghcr.io/a/b:1: ghcr.io/a/b:1 is not in the store, and this build does not pull: \"FROM ghcr.io/a/b:1\""
    );
    assert_eq!(
        err(&fx, "FROM scratch\nCOPY --chmod=rw a.gguf /"),
        "GGUFPackerfile:2:1: --chmod=rw: the mode must be octal, like 644: \"COPY --chmod=rw a.gguf /\""
    );
    assert_eq!(
        err(&fx, "FROM scratch\nCOPY a.gguf a.gguf /x"),
        "GGUFPackerfile:2:1: with more than one source the destination must be a directory ending in /: \"COPY a.gguf a.gguf /x\""
    );
    let missing = Fixture { context: Path::new("/nonexistent-hoist-context").to_path_buf(), ..fixture(&[]) };
    assert!(err(&missing, "FROM scratch\nCOPY a /").starts_with("reading /nonexistent-hoist-context"));
}

fn tar_bytes(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_uid(7);
        h.set_gid(0);
        h.set_mtime(0);
        // Written raw: the tar crate refuses `..`, which a hostile archive has.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn add_unpacks_local_archives_and_copy_does_not() {
    let plain = tar_bytes(&[("w/model.gguf", b"weights", 0o640), ("../../escape.txt", b"x", 0o644)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes(&[("cfg/config.json", b"{}", 0o644)])).unwrap();
    let gz = gz.finish().unwrap();
    let fx = fixture(&[("m.tar", plain.as_slice()), ("c.tgz", gz.as_slice()), ("note.txt", b"hi")]);
    let built = build(&fx, "FROM scratch\nADD m.tar c.tgz note.txt /app/\nCOPY m.tar /raw/\n", &[], 0).unwrap();
    let added = layer_entries(&fx.store, &built.layers[0]);
    let got: Vec<(&str, u32, u64, &[u8])> = added.iter().map(|e| (e.0.as_str(), e.1, e.2, e.4.as_slice())).collect();
    assert_eq!(
        got,
        [
            ("app/", 0o755, 0, b"".as_slice()),
            ("app/cfg/", 0o755, 0, b"".as_slice()),
            ("app/cfg/config.json", 0o644, 7, b"{}".as_slice()),
            ("app/escape.txt", 0o644, 7, b"x".as_slice()),
            ("app/note.txt", 0o644, 0, b"hi".as_slice()),
            ("app/w/", 0o755, 0, b"".as_slice()),
            ("app/w/model.gguf", 0o640, 7, b"weights".as_slice()),
        ]
    );
    let copied = layer_entries(&fx.store, &built.layers[1]);
    assert_eq!(names(&copied), ["raw/", "raw/m.tar"]);
    assert_eq!(copied[1].4, plain);
}

#[test]
fn from_and_copy_from_an_image_in_the_store() {
    let fx = model_fixture();
    let base = build(&fx, FILE, &[], 0).unwrap();
    let session = fx.store.write_session().unwrap();
    session.tag(&base.manifest, &"tiny:built".parse().unwrap()).unwrap();
    drop(session);
    std::fs::write(fx.context.join("extra.txt"), b"more").unwrap();

    // On top of the image: its layers reused, its CMD and facts carried on.
    let on_top = build(&fx, "FROM tiny:built\nLABEL x=y\nCOPY extra.txt /\n", &[], 0).unwrap();
    assert_eq!(on_top.layers[..3], base.layers[..]);
    assert_eq!(on_top.layers.len(), 4);
    assert_eq!(on_top.config.cmd, base.config.cmd);
    assert_eq!(on_top.config.labels["org.opencontainers.image.base.name"], "tiny:built");
    assert_eq!(on_top.config.labels["org.opencontainers.image.base.digest"], base.manifest.digest.to_string());
    assert_eq!(on_top.config.labels["gguf.model.architecture"], "llama");
    let json: serde_json::Value = serde_json::from_slice(&on_top.config.to_json()).unwrap();
    assert_eq!(json["config"]["Model"]["CmdParameterValue"], "tiny.Q4_K_M.gguf");
    assert_eq!(json["history"].as_array().unwrap().len(), 7);
    assert_eq!(json["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);

    // Files of the image, read out of its layer, into a new image.
    let model = std::fs::read(fx.context.join("models/tiny.Q4_K_M.gguf")).unwrap();
    for src in [
        "FROM tiny:built AS m\nFROM scratch\nCOPY --from=m /tiny.Q4_K_M.gguf /x.gguf\nCMD [\"-m\", \"x.gguf\"]\n",
        "FROM scratch\nCOPY --from=tiny:built /tiny.Q4_K_M.gguf /x.gguf\nCMD [\"-m\", \"x.gguf\"]\n",
    ] {
        let copied = build(&fx, src, &[], 0).unwrap();
        assert_eq!(copied.layers.len(), 1);
        assert_eq!(layer_entries(&fx.store, &copied.layers[0])[0].4, model);
        assert_eq!(copied.config.model.as_ref().unwrap().cmd_value, "x.gguf");
    }
}

/// QUANTIZE runs hoist-quant in process: the layer holds exactly the file
/// `quantize_file` writes for the same input and type, from a stage or the
/// context, and CMD's facts are read from it.
#[test]
fn quantize_writes_what_the_quantizer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("f32.gguf");
    let tiny = hoist_gguf::synth::TinyModel { file_type: hoist_gguf::GgmlType::F32, ..Default::default() };
    tiny.write_to_path(&model).unwrap();
    let expected = dir.path().join("q8.gguf");
    let options = hoist_quant::QuantizeOptions::new(hoist_quant::rules::RuleOptions::new(
        hoist_quant::FileType::parse("Q8_0").unwrap(),
    ));
    hoist_quant::quantize_file(&model, &expected, &options, &hoist_quant::NoReport).unwrap();
    let expected = std::fs::read(&expected).unwrap();
    let fx = fixture(&[("models/f32.gguf", &std::fs::read(&model).unwrap())]);
    let file = "FROM scratch AS src\nCOPY models/f32.gguf /in/\n\
                FROM scratch\nQUANTIZE --from=src --type=Q8_0 /in/f32.gguf /m.gguf\n\
                QUANTIZE --from=context --type=q8_0 models/f32.gguf /again.gguf\nCMD [\"-m\", \"/m.gguf\"]";
    let built = build(&fx, file, &[], 0).unwrap();
    assert_eq!(built.layers.len(), 2, "one layer per QUANTIZE");
    for (layer, name) in built.layers.iter().zip(["m.gguf", "again.gguf"]) {
        let entries = layer_entries(&fx.store, layer);
        assert_eq!(names(&entries), [name]);
        assert!(entries[0].4 == expected, "{name}: not the quantizer's bytes");
    }
    let model = built.config.model.expect("CMD's model facts");
    assert_eq!(model.file_type, "Q8_0");
    assert!(std::fs::read_dir(fx.store.root().join("ingest")).unwrap().next().is_none(), "scratch removed");
}

/// The step cache: a rebuild reuses every layer and reads no source byte; a
/// changed ARG rebuilds the steps whose expansion it changes and nothing else.
#[test]
fn rebuilds_come_from_the_cache() {
    let fx = model_fixture();
    let first = build(&fx, FILE, &[], 0).unwrap();
    // The `files` stage's COPY, then the target's COPY, COPY and CAT.
    let layer_bytes: u64 = first.layers.iter().map(|l| l.size).sum();
    assert_eq!(first.stats.layers_written, 4);
    assert_eq!(first.stats.steps_cached, 0);
    assert!(first.stats.bytes_written > layer_bytes, "the files stage's layer is written too");

    let again = build(&fx, FILE, &[], 0).unwrap();
    assert_eq!(again.manifest, first.manifest);
    assert_eq!(again.config, first.config);
    assert_eq!(again.stats, Stats { layers_written: 0, bytes_written: 0, steps_cached: 4 });

    // Proof that the rebuild does not read the model: its bytes replaced in
    // place, size and time kept, the cached image (and its facts) still come out.
    let model = fx.context.join("models/tiny.Q4_K_M.gguf");
    let mtime = std::fs::metadata(&model).unwrap().modified().unwrap();
    let size = std::fs::metadata(&model).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&model).unwrap();
    std::io::Write::write_all(&mut &file, &vec![0u8; size as usize]).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    let blind = build(&fx, FILE, &[], 0).unwrap();
    assert_eq!((blind.manifest.clone(), blind.stats.steps_cached), (first.manifest.clone(), 4));
    // A changed time is a changed file.
    std::fs::File::options().write(true).open(&model).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
    let changed = build(&fx, FILE, &[], 0).unwrap_err().to_string();
    assert!(changed.contains("is not a readable GGUF file"), "{changed}");

    // TYPE is used by the second COPY and the CAT: only they are built.
    let q8 = build(&fx, FILE, &[("TYPE", "Q8_0")], 0).unwrap();
    assert_eq!((q8.stats.layers_written, q8.stats.steps_cached), (2, 2));
    assert_eq!(q8.layers[1], first.layers[1]);
    let q8_again = build(&fx, FILE, &[("TYPE", "Q8_0")], 0).unwrap();
    assert_eq!((q8_again.manifest, q8_again.stats.layers_written), (q8.manifest.clone(), 0));

    // --no-cache builds every step, into the same image.
    let fresh = build_with(&fx, FILE, &[("TYPE", "Q8_0")], 0, true).unwrap();
    assert_eq!((fresh.manifest, fresh.stats.layers_written, fresh.stats.steps_cached), (q8.manifest, 4, 0));
}

/// An artifact's stage writes no layer of the files it packs; after an image
/// build, its steps come from the cache and are packed from inside the cached
/// layers, into the same artifact.
#[test]
fn artifact_stages_write_no_layers() {
    let fx = model_fixture();
    let reference: hoist_oci::Reference = "tiny:artifact".parse().unwrap();
    let artifact = || Output::Artifact { format: hoist_model::PackFormat::Docker, reference: reference.clone() };
    let first = build_as(&fx, FILE, &[], 0, false, artifact()).unwrap();
    // Only the `files` stage's COPY, which the target copies from.
    assert_eq!((first.stats.layers_written, first.stats.steps_cached), (1, 0));
    let paths: Vec<&str> =
        first.layers.iter().filter_map(|l| l.annotations.get("org.cncf.model.filepath")).map(String::as_str).collect();
    assert_eq!(paths, ["tiny.Q4_K_M.gguf", "docs/LICENSE", "system-prompt.txt"]);

    let image = build(&fx, FILE, &[], 0).unwrap();
    assert_eq!((image.stats.layers_written, image.stats.steps_cached), (3, 1));
    let again = build_as(&fx, FILE, &[], 0, false, artifact()).unwrap();
    assert_eq!(again.stats, Stats { layers_written: 0, bytes_written: 0, steps_cached: 4 });
    assert_eq!(again.manifest, first.manifest);
}

/// CONVERT and QUANTIZE outputs are cached like any layer, keyed by what they read.
#[test]
fn quantize_steps_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("f32.gguf");
    let tiny = hoist_gguf::synth::TinyModel { file_type: hoist_gguf::GgmlType::F32, ..Default::default() };
    tiny.write_to_path(&model).unwrap();
    let fx = fixture(&[("models/f32.gguf", &std::fs::read(&model).unwrap()), ("other.txt", b"x")]);
    let file = "FROM scratch AS src\nCOPY models/f32.gguf /in/\n\
                FROM scratch\nQUANTIZE --from=src --type=Q8_0 /in/f32.gguf /m.gguf\n\
                QUANTIZE --from=context --type=q8_0 models/f32.gguf /again.gguf\nCMD [\"-m\", \"/m.gguf\"]";
    let first = build(&fx, file, &[], 0).unwrap();
    assert_eq!(first.stats.layers_written, 3);
    // A context file the steps do not read changes nothing.
    std::fs::write(fx.context.join("other.txt"), b"changed").unwrap();
    let again = build(&fx, file, &[], 0).unwrap();
    assert_eq!((again.manifest, again.stats.steps_cached, again.stats.layers_written), (first.manifest, 3, 0));
    assert_eq!(again.config.model.unwrap().file_type, "Q8_0", "facts read from the cached layer");
}

#[test]
fn urls_and_git_remotes() {
    assert!(is_url("https://huggingface.co/x/resolve/main/m.gguf?download=true"));
    assert!(!is_url("https://github.com/x/y.git#main") && is_git("https://github.com/x/y.git#main"));
    assert!(is_git("git@github.com:x/y.git") && !is_url("models/m.gguf"));
    assert_eq!(url_file_name("https://h.co/a/b/m.gguf?download=true#x"), "m.gguf");
    assert_eq!(url_file_name("http://h.co"), "download");
    assert_eq!(url_file_name("http://h.co/a/.."), "download");
}

/// A cached step's files are read back from its layer, which lists parent
/// directories the step itself did not: the next step must place files alike.
#[test]
fn cold_and_cached_builds_place_files_alike() {
    let fx = fixture(&[("a.gguf", b"a"), ("b.gguf", b"b")]);
    let src = "FROM scratch\nCOPY a.gguf /models/a.gguf\nCOPY b.gguf /models\n";
    let cold = build(&fx, src, &[], 0).unwrap();
    assert_eq!(names(&layer_entries(&fx.store, &cold.layers[1])), ["models/", "models/b.gguf"]);
    let cached = build(&fx, src, &[], 0).unwrap();
    assert_eq!((cached.manifest, cached.stats.steps_cached), (cold.manifest, 2));
}
