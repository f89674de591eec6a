//! `hoist unpack`: runtime directories of hardlinks and extracted tar layers,
//! path-safe, idempotent. Runs the real binary.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::Sandbox;
use hoist_gguf::synth::TinyModel;
use hoist_oci::{Descriptor, ImageManifest, Reference, media_types};
use hoist_store::Store;
use hoist_testkit::gzip;
use serde_json::{Value, json};

/// `hoist unpack --json ARGS` → the RuntimeDir fields.
fn unpack_json(sandbox: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["unpack", "--json"];
    all.extend_from_slice(args);
    sandbox.json(&all)
}

fn path(value: &Value, key: &str) -> PathBuf {
    PathBuf::from(value[key].as_str().unwrap_or_else(|| panic!("{key} missing in {value}")))
}

/// The blob in the store holding exactly this file's bytes.
fn blob_for(sandbox: &Sandbox, file: &Path) -> PathBuf {
    let digest = hoist_oci::Digest::of(&std::fs::read(file).unwrap());
    sandbox.store().join("blobs/sha256").join(digest.hex())
}

fn same_inode(a: &Path, b: &Path) -> bool {
    std::fs::metadata(a).unwrap().ino() == std::fs::metadata(b).unwrap().ino()
}

/// A layer for [`put_artifact`]: media type, bytes, file path annotation.
struct Layer {
    media_type: String,
    bytes: Vec<u8>,
    filepath: Option<String>,
}

fn layer(media_type: &str, bytes: Vec<u8>, filepath: Option<&str>) -> Layer {
    Layer { media_type: media_type.into(), bytes, filepath: filepath.map(str::to_string) }
}

/// Writes an artifact straight into the store and tags it; returns the manifest digest.
fn put_artifact(store: &Path, reference: &str, config_media_type: &str, config: &Value, layers: Vec<Layer>) -> String {
    let store = Store::new(store);
    let session = store.write_session().unwrap();
    let descriptors = layers
        .into_iter()
        .map(|l| {
            let (digest, size) = session.put_bytes(&l.bytes).unwrap();
            let mut descriptor = Descriptor::new(l.media_type, digest, size);
            if let Some(path) = l.filepath {
                descriptor.annotations.insert("org.cncf.model.filepath".into(), path);
            }
            descriptor
        })
        .collect();
    let (digest, size) = session.put_bytes(&serde_json::to_vec(config).unwrap()).unwrap();
    let manifest = ImageManifest::new(Descriptor::new(config_media_type, digest, size), descriptors);
    let (digest, size) = session.put_bytes(&manifest.to_canonical_json()).unwrap();
    let reference: Reference = reference.parse().unwrap();
    session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest.clone(), size), &reference).unwrap();
    digest.to_string()
}

/// A tar entry: raw path bytes (not validated, so hostile names are possible).
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_old();
        let (name, kind, data, link): (&str, tar::EntryType, &[u8], Option<&str>) = match entry {
            Entry::File(name, data) => (name, tar::EntryType::Regular, data, None),
            Entry::Dir(name) => (name, tar::EntryType::Directory, b"", None),
            Entry::Symlink(name, target) => (name, tar::EntryType::Symlink, b"", Some(target)),
            Entry::HardLink(name, target) => (name, tar::EntryType::Link, b"", Some(target)),
        };
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn pack(sandbox: &Sandbox, args: &[&str], path: &Path) {
    let out = sandbox.hoist().args(["pack", "-q", "--progress", "none"]).args(args).arg(path).output().unwrap();
    assert!(out.status.success(), "pack failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn packed_gguf_becomes_hardlinks_with_roles_found() {
    let sandbox = Sandbox::new();
    let model = sandbox.tiny_gguf("src/tiny.gguf");
    let mmproj = sandbox.tiny_gguf("src/mmproj-tiny.gguf");
    let license = sandbox.write("src/LICENSE", "Apache-2.0\n");
    let template = sandbox.write("src/chat.jinja", "{{ messages }}");
    let mut args = vec!["-t", "tiny:1", "--context-size", "2048", "--license"];
    args.push(license.to_str().unwrap());
    args.extend(["--chat-template", template.to_str().unwrap(), "--mmproj", mmproj.to_str().unwrap()]);
    pack(&sandbox, &args, &model);

    let unpacked = unpack_json(&sandbox, &["tiny:1"]);
    let root = path(&unpacked, "root");
    assert!(root.starts_with(sandbox.store().join("bundles")), "default dir inside the store: {root:?}");
    assert_eq!(unpacked["format"], "gguf");
    assert_eq!(unpacked["context_size"], 2048);
    assert_eq!(unpacked["command"], json!([]));
    for (key, original) in [("gguf", &model), ("mmproj", &mmproj), ("chat_template", &template)] {
        let file = path(&unpacked, key);
        assert!(file.starts_with(root.join("model")), "{key}: {file:?}");
        assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(original).unwrap(), "{key}");
        assert!(same_inode(&file, &blob_for(&sandbox, &file)), "{key} is a hardlink to its blob");
    }
    let licenses: Vec<_> = walkdir::WalkDir::new(root.join("model"))
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .filter(|p| std::fs::read(p).is_ok_and(|b| b == b"Apache-2.0\n"))
        .collect();
    assert_eq!(licenses.len(), 1, "the license is in the runtime directory");
    let config = path(&unpacked, "config_path");
    assert_eq!(config, root.join("config.json"));
    assert!(same_inode(&config, &blob_for(&sandbox, &config)), "config.json is the config blob");
    assert!(root.join(".hoist-bundle.json").is_file());

    // Plain output: the runtime directory.
    let out = sandbox.hoist().args(["unpack", "tiny:1"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), root.to_str().unwrap());
}

#[test]
fn safetensors_directory_keeps_relative_paths() {
    let sandbox = Sandbox::new();
    let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut safetensors = (header.len() as u64).to_le_bytes().to_vec();
    safetensors.extend_from_slice(header);
    safetensors.extend_from_slice(&[0u8; 8]);
    sandbox.write("st/model.safetensors", &safetensors);
    sandbox.write("st/config.json", r#"{"architectures":["LlamaForCausalLM"],"max_position_embeddings":4096}"#);
    sandbox.write("st/tokenizer/tokenizer.json", "{}");
    sandbox.write("st/extra/deep/notes.md", "notes");
    pack(&sandbox, &["-t", "st:1", "--format", "modelpack"], &sandbox.path("st"));

    let out = sandbox.path("out/st-bundle");
    let unpacked = unpack_json(&sandbox, &["st:1", out.to_str().unwrap()]);
    assert_eq!(path(&unpacked, "root"), out);
    assert_eq!(unpacked["format"], "safetensors");
    assert_eq!(path(&unpacked, "safetensors_dir"), out.join("model"));
    for rel in ["model.safetensors", "config.json", "tokenizer/tokenizer.json", "extra/deep/notes.md"] {
        let file = out.join("model").join(rel);
        assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(sandbox.path("st").join(rel)).unwrap(), "{rel}");
        assert!(same_inode(&file, &blob_for(&sandbox, &file)), "{rel} is a hardlink");
    }
}

#[test]
fn split_gguf_first_shard_with_all_shards_beside() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("split");
    std::fs::create_dir_all(&dir).unwrap();
    let shards = TinyModel::default().write_split(&dir, "tiny", 3).unwrap();
    pack(&sandbox, &["-t", "split:1"], &shards[0]);
    let unpacked = unpack_json(&sandbox, &["split:1"]);
    let gguf = path(&unpacked, "gguf");
    assert_eq!(gguf.file_name().unwrap(), "tiny-00001-of-00003.gguf");
    for shard in &shards {
        let beside = gguf.with_file_name(shard.file_name().unwrap());
        assert_eq!(std::fs::read(&beside).unwrap(), std::fs::read(shard).unwrap());
    }

    // Shards stored out of order: the first shard is still the one named.
    let layers = ["b-00002-of-00002.gguf", "b-00001-of-00002.gguf"]
        .iter()
        .map(|name| layer("application/vnd.docker.ai.gguf.v3", name.as_bytes().to_vec(), Some(name)))
        .collect();
    let config = json!({"config": {"format": "gguf"}});
    put_artifact(&sandbox.store(), "shuffled:1", "application/vnd.docker.ai.model.config.v0.2+json", &config, layers);
    let unpacked = unpack_json(&sandbox, &["shuffled:1"]);
    assert_eq!(path(&unpacked, "gguf").file_name().unwrap(), "b-00001-of-00002.gguf");
}

#[test]
fn modelpack_tar_gzip_layer_is_extracted() {
    let sandbox = Sandbox::new();
    let tar = tar_bytes(&[
        Entry::Dir("qwen/"),
        Entry::File("qwen/model.gguf", b"GGUF pretend"),
        Entry::File("qwen/config.json", b"{}"),
        Entry::Symlink("qwen/current.gguf", "model.gguf"),
        Entry::HardLink("qwen/again.gguf", "qwen/model.gguf"),
    ]);
    let config = json!({"descriptor": {"name": "qwen"}, "config": {"format": "gguf"}, "modelfs": {"type": "layers", "diffIds": []}});
    put_artifact(
        &sandbox.store(),
        "mp:1",
        "application/vnd.cncf.model.config.v1+json",
        &config,
        vec![
            layer("application/vnd.cncf.model.weight.v1.tar+gzip", gzip(&tar), Some("qwen")),
            layer("application/vnd.cncf.model.doc.v1.raw", b"# readme".to_vec(), Some("docs/README.md")),
        ],
    );
    let unpacked = unpack_json(&sandbox, &["mp:1"]);
    let model = path(&unpacked, "model_dir");
    assert_eq!(path(&unpacked, "gguf"), model.join("qwen/model.gguf"));
    assert_eq!(std::fs::read(model.join("qwen/model.gguf")).unwrap(), b"GGUF pretend");
    assert_eq!(std::fs::read(model.join("qwen/current.gguf")).unwrap(), b"GGUF pretend");
    assert!(same_inode(&model.join("qwen/again.gguf"), &model.join("qwen/model.gguf")));
    assert_eq!(std::fs::read(model.join("docs/README.md")).unwrap(), b"# readme");
}

#[test]
fn image_with_tar_layers_gets_its_command_and_model() {
    let sandbox = Sandbox::new();
    let base = gzip(&tar_bytes(&[
        Entry::Dir("models/"),
        Entry::File("models/aaa.gguf", b"removed by the next layer"),
        Entry::File("models/tiny.gguf", b"GGUF tiny"),
    ]));
    let top = tar_bytes(&[Entry::File("models/.wh.aaa.gguf", b""), Entry::File("models/chat.jinja", b"{{x}}")]);
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "Entrypoint": ["llama-server"],
            "Cmd": ["-m", "/models/tiny.gguf", "-c", "512"],
            "Labels": {"gguf.model.architecture": "llama"}
        },
        "rootfs": {"type": "layers", "diff_ids": []}
    });
    put_artifact(
        &sandbox.store(),
        "packer:1",
        media_types::OCI_IMAGE_CONFIG,
        &config,
        vec![
            layer("application/vnd.docker.image.rootfs.diff.tar.gzip", base, None),
            layer(media_types::OCI_LAYER_TAR, top, None),
        ],
    );
    let unpacked = unpack_json(&sandbox, &["packer:1"]);
    let model = path(&unpacked, "model_dir");
    assert_eq!(unpacked["command"], json!(["llama-server", "-m", "/models/tiny.gguf", "-c", "512"]));
    assert_eq!(path(&unpacked, "gguf"), model.join("models/tiny.gguf"));
    assert_eq!(unpacked["format"], "gguf");
    assert_eq!(path(&unpacked, "chat_template"), model.join("models/chat.jinja"));
    assert!(!model.join("models/aaa.gguf").exists(), "the whiteout removed it");
    assert!(!model.join("models/.wh.aaa.gguf").exists());
}

#[test]
fn hostile_tars_are_refused_and_leave_nothing() {
    let sandbox = Sandbox::new();
    let cases: &[(&str, Vec<Entry>, &str)] = &[
        ("dotdot", vec![Entry::File("../evil", b"x")], "../evil"),
        ("deep-dotdot", vec![Entry::Dir("a/"), Entry::File("a/../../../evil", b"x")], "a/../../../evil"),
        ("absolute", vec![Entry::File("/abs", b"x")], "/abs"),
        ("etc-link", vec![Entry::Symlink("etc", "/etc"), Entry::File("etc/evil", b"x")], "\"etc\""),
        ("up-link", vec![Entry::Symlink("x", "../../x")], "\"x\""),
        ("dir-link", vec![Entry::Symlink("d", "sub"), Entry::File("d/evil", b"x")], "d/evil"),
        ("hardlink-out", vec![Entry::HardLink("h", "../../../../etc/passwd")], "\"h\""),
    ];
    let before = top_level(sandbox.dir.path());
    for (name, entries, entry) in cases {
        let reference = format!("{name}:1");
        let tar = tar_bytes(entries);
        let digest = hoist_oci::Digest::of(&tar).to_string();
        put_artifact(
            &sandbox.store(),
            &reference,
            "application/vnd.cncf.model.config.v1+json",
            &json!({"config": {}}),
            vec![layer("application/vnd.cncf.model.weight.v1.tar", tar, None)],
        );
        let out_dir = sandbox.path("out");
        let target = out_dir.join(name);
        let out = sandbox.hoist().args(["unpack", &reference]).arg(&target).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: refused");
        assert!(stderr.contains(&digest), "{name}: names the layer: {stderr}");
        assert!(stderr.contains(entry), "{name}: names the entry {entry}: {stderr}");
        assert!(!target.exists(), "{name}: no runtime directory left");
        assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "{name}: no partial runtime directory left");
        // Nor in the store's default place.
        let out = sandbox.hoist().args(["unpack", &reference]).output().unwrap();
        assert!(!out.status.success());
        let bundles = sandbox.store().join("bundles");
        assert_eq!(std::fs::read_dir(&bundles).map(|d| d.count()).unwrap_or(0), 0, "{name}: store bundles empty");
    }
    let mut after = top_level(sandbox.dir.path());
    after.remove("out");
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "nothing written outside");
    assert!(!sandbox.path("evil").exists() && !Path::new("/abs").exists());
}

fn top_level(dir: &Path) -> BTreeMap<String, ()> {
    let mut names: BTreeMap<String, ()> =
        std::fs::read_dir(dir).unwrap().map(|e| (e.unwrap().file_name().to_string_lossy().into_owned(), ())).collect();
    names.insert("store".into(), ());
    names
}

/// Path → (inode, mtime ns, ctime ns) of every entry under `root`.
fn stat_snapshot(root: &Path) -> BTreeMap<PathBuf, (u64, i64, i64)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            (
                e.path().to_path_buf(),
                (m.ino(), m.mtime_nsec() + m.mtime() * 1_000_000_000, m.ctime_nsec() + m.ctime() * 1_000_000_000),
            )
        })
        .collect()
}

#[test]
fn unpacking_twice_reads_the_marker_and_touches_nothing() {
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("twice:1");
    let first = unpack_json(&sandbox, &["twice:1"]);
    let root = path(&first, "root");
    let before = stat_snapshot(&root);
    let second = unpack_json(&sandbox, &["twice:1"]);
    assert_eq!(first, second);
    assert_eq!(stat_snapshot(&root), before, "no file touched");

    // Into a directory too; an existing directory hoist did not write is refused.
    let dir = sandbox.path("mine");
    let a = unpack_json(&sandbox, &["twice:1", dir.to_str().unwrap()]);
    let snapshot = stat_snapshot(&dir);
    let b = unpack_json(&sandbox, &["twice:1", dir.to_str().unwrap()]);
    assert_eq!(a, b);
    assert_eq!(stat_snapshot(&dir), snapshot);
    sandbox.write("busy/file", "mine");
    let out = sandbox.hoist().args(["unpack", "twice:1"]).arg(sandbox.path("busy")).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read(sandbox.path("busy/file")).unwrap(), b"mine");
}

#[test]
fn estimate_takes_its_defaults_from_a_packer_images_command() {
    let sandbox = Sandbox::new();
    let gguf = std::fs::read(sandbox.tiny_gguf("tiny.gguf")).unwrap();
    let layer_tar = gzip(&tar_bytes(&[Entry::Dir("models/"), Entry::File("models/tiny.gguf", &gguf)]));
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["llama-server"], "Cmd": ["-m", "/models/tiny.gguf", "-c", "4096", "-fa", "-ctk", "q8_0", "-np", "2"]},
        "rootfs": {"type": "layers", "diff_ids": []}
    });
    put_artifact(
        &sandbox.store(),
        "packer:1",
        media_types::OCI_IMAGE_CONFIG,
        &config,
        vec![layer("application/vnd.docker.image.rootfs.diff.tar.gzip", layer_tar, None)],
    );
    let estimate = |extra: &[&str]| -> Value {
        let out = sandbox.hoist().args(["estimate", "--json", "packer:1"]).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let stored = estimate(&[]);
    // -c 4096 with flash attention (padded to 256), 2 sequences, a q8_0 K cache.
    assert_eq!(stored["context_size"], 4096);
    assert_eq!(stored["flash_attention"], true);
    assert_eq!(stored["parallel"], 2);
    assert_eq!(stored["kv_cache"]["k_bytes"], 4096 * 128 / 32 * 34);
    // Flags override the stored command.
    let given = estimate(&["-c", "1024", "--cache-type-k", "f16"]);
    assert_eq!(given["context_size"], 1024);
    assert_eq!(given["kv_cache"]["k_bytes"], 1024 * 128 * 2);
}

#[test]
fn a_runtime_dir_on_another_file_system_gets_read_only_copies() {
    let sandbox = Sandbox::new();
    let model = sandbox.tiny_gguf("src/tiny.gguf");
    pack(&sandbox, &["-t", "tiny:1"], &model);
    // /dev/shm is a tmpfs on Linux: a file system other than the store's.
    let other_fs = tempfile::tempdir_in("/dev/shm").expect("a directory in /dev/shm");
    let store_dev = std::fs::metadata(sandbox.store()).unwrap().dev();
    assert_ne!(
        std::fs::metadata(other_fs.path()).unwrap().dev(),
        store_dev,
        "this test needs /dev/shm on a file system other than {}",
        sandbox.store().display()
    );
    let dir = other_fs.path().join("bundle");
    let unpacked = unpack_json(&sandbox, &["tiny:1", dir.to_str().unwrap()]);
    let gguf = path(&unpacked, "gguf");
    assert!(gguf.starts_with(&dir), "{gguf:?}");
    assert_eq!(std::fs::read(&gguf).unwrap(), std::fs::read(&model).unwrap());
    let meta = std::fs::metadata(&gguf).unwrap();
    assert_eq!((meta.nlink(), meta.mode() & 0o777), (1, 0o444), "a read-only copy, not a link");
    let blob = blob_for(&sandbox, &gguf);
    assert_eq!(std::fs::metadata(&blob).unwrap().nlink(), 1, "the blob gained no link");
}
