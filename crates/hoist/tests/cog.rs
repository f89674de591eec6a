//! Cog-style bundles (FORMATS.md §3): `weights lock`, `weights gen`, `bundle`,
//! and pushing and pulling them through a real registry.

mod common;

use std::path::Path;

use common::Sandbox;
use hoist_model::format_size;
use hoist_oci::{Descriptor, Digest, ImageManifest, Reference, media_types};
use hoist_store::Store;
use hoist_testkit::{FaultProxy, RegistryServer, pseudo_random};
use serde_json::{Value, json};

/// 2026-01-30T12:00:00Z.
const EPOCH: &str = "1769774400";

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(store: &Path, digest: &str) -> Vec<u8> {
    let digest: Digest = digest.parse().unwrap();
    std::fs::read(store.join("blobs/sha256").join(digest.hex())).unwrap()
}

/// A tar of a tiny python app for `arch`, with the absolute symbolic link
/// images are full of.
fn app_layer(arch: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        builder.append_data(&mut header, name, data).unwrap();
    };
    add("src/predict.py", tar::EntryType::Regular, format!("print('{arch}')\n").as_bytes(), None);
    add("usr/bin/python3", tar::EntryType::Regular, b"#!/bin/sh\n", None);
    add("usr/bin/python", tar::EntryType::Symlink, b"", Some("/usr/bin/python3"));
    builder.into_inner().unwrap()
}

/// A minimal runnable image (OCI image config with os/architecture, one tar
/// layer) tagged `reference`; returns its manifest digest.
fn runnable_image(store: &Path, reference: &str, arch: &str) -> Digest {
    image_with_layer(store, reference, arch, &app_layer(arch)).0
}

/// A runnable image whose one layer is `layer`, tagged `reference`: its
/// manifest digest, and its config and layer descriptors.
fn image_with_layer(store: &Path, reference: &str, arch: &str, layer: &[u8]) -> (Digest, Descriptor, Descriptor) {
    let store = Store::new(store);
    let session = store.write_session().unwrap();
    let (digest, size) = session.put_bytes(layer).unwrap();
    let layer = Descriptor::new(media_types::OCI_LAYER_TAR, digest.clone(), size);
    let config = json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["python", "-m", "cog.server.http"], "WorkingDir": "/src"},
        "rootfs": {"type": "layers", "diff_ids": [digest.to_string()]},
    });
    let (digest, size) = session.put_bytes(&serde_json::to_vec(&config).unwrap()).unwrap();
    let config = Descriptor::new(media_types::OCI_IMAGE_CONFIG, digest, size);
    let manifest = ImageManifest::new(config.clone(), vec![layer.clone()]);
    let (digest, size) = session.put_bytes(&manifest.to_canonical_json()).unwrap();
    let reference: Reference = reference.parse().unwrap();
    session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest.clone(), size), &reference).unwrap();
    (digest, config, layer)
}

/// A tar holding one file of `size` pseudo-random bytes.
fn big_layer(size: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(size as u64);
    header.set_mode(0o644);
    builder.append_data(&mut header, "src/data.bin", &pseudo_random(size, 50)[..]).unwrap();
    builder.into_inner().unwrap()
}

/// `hoist bundle app:1 --weights LOCK -t TARGET EXTRA...`, which must succeed; its stdout.
fn bundle(sandbox: &Sandbox, lock: &Path, target: &str, extra: &[&str]) -> String {
    let mut cmd = sandbox.hoist();
    cmd.args(["bundle", "app:1", "--weights"]).arg(lock).args(["-t", target]).args(extra);
    stdout_of(&mut cmd)
}

/// `weights gen` into `dir` with sizes between min and max.
fn gen_weights(sandbox: &Sandbox, dir: &str, count: usize, min: &str, max: &str, seed: u64) {
    let out_dir = sandbox.path(dir);
    stdout_of(sandbox.hoist().env("SOURCE_DATE_EPOCH", EPOCH).args([
        "weights",
        "gen",
        "--count",
        &count.to_string(),
        "--min-size",
        min,
        "--max-size",
        max,
        "--seed",
        &seed.to_string(),
        "--output-dir",
        out_dir.to_str().unwrap(),
    ]));
}

#[test]
fn weights_lock_writes_every_field_and_stores_the_layer_blobs() {
    let sandbox = Sandbox::new();
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 97) as u8).collect();
    let model = sandbox.write("files/model.safetensors", &content);
    let tokenizer = sandbox.write("files/tokenizer.json", b"{\"vocab\":{}}");
    for compress in ["none", "gzip", "zstd"] {
        let lock_path = sandbox.path(&format!("{compress}.lock"));
        let out = stdout_of(sandbox.hoist().env("SOURCE_DATE_EPOCH", EPOCH).args([
            "weights",
            "lock",
            &format!("llama-3.1-8b={}", model.display()),
            &format!("tok={}", tokenizer.display()),
            "--dest-prefix",
            "/src/weights/",
            "--compress",
            compress,
            "-o",
            lock_path.to_str().unwrap(),
        ]));
        assert!(out.contains("Locked 2 files"), "{out}");
        let lock = read_json(&lock_path);
        assert_eq!(lock["version"], "1");
        assert_eq!(lock["created"], "2026-01-30T12:00:00Z");
        let files = lock["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        let suffix = match compress {
            "none" => "",
            "gzip" => "+gzip",
            _ => "+zstd",
        };
        for (file, (name, dest, raw)) in files.iter().zip([
            ("llama-3.1-8b", "/src/weights/model.safetensors", &content[..]),
            ("tok", "/src/weights/tokenizer.json", &b"{\"vocab\":{}}"[..]),
        ]) {
            let keys: Vec<&String> = file.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 8, "{file}");
            assert_eq!(file["name"], name);
            assert_eq!(file["dest"], dest);
            assert_eq!(file["digestOriginal"], Digest::of(raw).to_string());
            assert_eq!(file["sizeUncompressed"], raw.len());
            assert_eq!(file["mediaType"], format!("application/vnd.cog.weights.layer.v1{suffix}"));
            assert_eq!(file["contentType"], "application/octet-stream");
            // The layer blob is in the store, hashes to `digest`, and is `size` long.
            let stored = blob(&sandbox.store(), file["digest"].as_str().unwrap());
            assert_eq!(Digest::of(&stored).to_string(), file["digest"]);
            assert_eq!(stored.len() as u64, file["size"].as_u64().unwrap());
            if compress == "none" {
                assert_eq!(file["digest"], file["digestOriginal"]);
                assert_eq!(stored, raw);
            } else {
                assert_ne!(file["digest"], file["digestOriginal"]);
            }
        }
        if compress == "gzip" {
            let stored = blob(&sandbox.store(), files[0]["digest"].as_str().unwrap());
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&stored[..]), &mut raw).unwrap();
            assert_eq!(raw, content);
            assert!(stored.len() < content.len());
        }
    }
}

#[test]
fn weights_gen_writes_the_same_files_for_the_same_seed() {
    let sandbox = Sandbox::new();
    gen_weights(&sandbox, "a", 3, "100kB", "200kB", 7);
    gen_weights(&sandbox, "b", 3, "100kB", "200kB", 7);
    gen_weights(&sandbox, "c", 3, "100kB", "200kB", 8);
    let (a, b, c) = (
        read_json(&sandbox.path("a/weights.lock")),
        read_json(&sandbox.path("b/weights.lock")),
        read_json(&sandbox.path("c/weights.lock")),
    );
    let digests = |lock: &Value| -> Vec<String> {
        lock["files"].as_array().unwrap().iter().map(|f| f["digest"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(digests(&a), digests(&b));
    assert_ne!(digests(&a), digests(&c));
    for file in a["files"].as_array().unwrap() {
        let size = file["size"].as_u64().unwrap();
        assert!((100_000..=200_000).contains(&size), "{size}");
        let dest = file["dest"].as_str().unwrap();
        let on_disk = std::fs::read(sandbox.path("a").join(dest.rsplit('/').next().unwrap())).unwrap();
        assert_eq!(Digest::of(&on_disk).to_string(), file["digestOriginal"]);
    }
}

#[test]
fn the_bundle_index_and_weights_manifest_are_as_formats_3_says() {
    let sandbox = Sandbox::new();
    let image = runnable_image(&sandbox.store(), "app:1", "amd64");
    gen_weights(&sandbox, "w", 2, "50kB", "60kB", 1);
    let lock_path = sandbox.path("w/weights.lock");
    let out = bundle(&sandbox, &lock_path, "app:bundle", &[]);
    assert!(out.contains("bundle: image"), "{out}");
    let raw_index = stdout_of(sandbox.hoist().args(["inspect", "--raw", "app:bundle"]));
    let index: Value = serde_json::from_str(raw_index.trim_end()).unwrap();
    let image_size = blob(&sandbox.store(), &image.to_string()).len();
    let weights_digest = index["manifests"][1]["digest"].as_str().unwrap().to_string();
    let weights_bytes = blob(&sandbox.store(), &weights_digest);
    assert_eq!(
        index,
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.to_string(), "size": image_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": weights_digest, "size": weights_bytes.len(),
             "artifactType": "application/vnd.cog.weights.v1", "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.cog.reference.type": "weights", "vnd.cog.reference.digest": image.to_string()}}]})
    );

    let lock = read_json(&lock_path);
    let layers: Vec<Value> = lock["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            json!({"mediaType": "application/vnd.cog.weights.layer.v1", "digest": f["digest"], "size": f["size"],
                   "annotations": {"vnd.cog.weights.name": f["name"], "vnd.cog.weights.dest": f["dest"],
                                   "vnd.cog.weights.digest.original": f["digestOriginal"],
                                   "vnd.cog.weights.size.uncompressed": f["sizeUncompressed"].to_string()}})
        })
        .collect();
    let weights: Value = serde_json::from_slice(&weights_bytes).unwrap();
    assert_eq!(
        weights,
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "artifactType": "application/vnd.cog.weights.v1",
               "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
               "layers": layers})
    );
    assert_eq!(blob(&sandbox.store(), &Digest::of(b"{}").to_string()), b"{}");
    let list = stdout_of(sandbox.hoist().args(["list"]));
    assert!(list.contains("app") && list.contains("bundle"), "{list}");
    let no_lock = sandbox.hoist().args(["bundle", "app:1", "-t", "app:nolock"]).output().unwrap();
    assert!(String::from_utf8_lossy(&no_lock.stderr).contains("--weights"), "a bundle needs its lock");
    sandbox.hoist().args(["verify", "--progress", "none"]).assert().success();
}

#[test]
fn a_pushed_bundle_pulls_back_identical_and_platform_picks_the_image() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let image = runnable_image(&sandbox.store(), "app:1", "amd64");
    gen_weights(&sandbox, "w", 3, "100kB", "150kB", 3);
    let remote = format!("{}/team/app:bundle", registry.host());
    let lock_path = sandbox.path("w/weights.lock");
    let pushed = bundle(&sandbox, &lock_path, &remote, &["--push", "--progress", "none"]);
    // Image config + layer, the empty config, three weights.
    assert!(pushed.contains("Pushed") && pushed.contains("6 blobs copied"), "{pushed}");
    let ours = stdout_of(sandbox.hoist().args(["inspect", "--raw", &remote]));
    let index_digest = Digest::of(ours.trim_end().as_bytes());

    let other = Sandbox::new();
    let pulled = stdout_of(other.hoist().args(["pull", "--progress", "none", &remote]));
    assert!(pulled.contains(&index_digest.to_string()), "{pulled}");
    assert!(pulled.contains("6 blobs copied"), "{pulled}");
    assert_eq!(stdout_of(other.hoist().args(["inspect", "--raw", &remote])), ours);
    let lock = read_json(&lock_path);
    for file in lock["files"].as_array().unwrap() {
        let digest = file["digest"].as_str().unwrap();
        assert_eq!(blob(&other.store(), digest), blob(&sandbox.store(), digest));
    }
    other.hoist().args(["verify", "--progress", "none"]).assert().success();

    // --platform takes the image and never the unknown/unknown weights.
    let third = Sandbox::new();
    let pulled = stdout_of(third.hoist().args(["pull", "--progress", "none", "--platform", "linux/amd64", &remote]));
    assert!(pulled.contains(&image.to_string()) && pulled.contains("2 blobs copied"), "{pulled}");
    let missing =
        third.hoist().args(["pull", "--progress", "none", "--platform", "unknown/unknown", &remote]).output().unwrap();
    assert!(!missing.status.success());
}

#[test]
fn a_second_version_sharing_two_of_three_weights_uploads_only_the_new_one() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    runnable_image(&sandbox.store(), "app:1", "amd64");
    gen_weights(&sandbox, "v1", 3, "300kB", "400kB", 11);
    gen_weights(&sandbox, "new", 1, "1234567", "1234567", 12);
    let v1_lock = sandbox.path("v1/weights.lock");
    let v2_lock = sandbox.path("v2.lock");
    let file = |rel: &str| sandbox.path(rel).display().to_string();
    stdout_of(sandbox.hoist().args([
        "weights",
        "lock",
        &format!("weights-000={}", file("v1/weights-000.bin")),
        &format!("weights-001={}", file("v1/weights-001.bin")),
        &format!("weights-002={}", file("new/weights-000.bin")),
        "-o",
        v2_lock.to_str().unwrap(),
    ]));
    let push = |lock: &Path, tag: &str| {
        let remote = format!("{}/team/app:{tag}", registry.host());
        bundle(&sandbox, lock, &remote, &["--push", "--progress", "none"])
    };
    let v1_total: u64 =
        read_json(&v1_lock)["files"].as_array().unwrap().iter().map(|f| f["size"].as_u64().unwrap()).sum();
    let first = push(&v1_lock, "v1");
    assert!(first.contains("6 blobs copied"), "{first}");
    assert!(v1_total > 900_000);
    let second = push(&v2_lock, "v2");
    let line = second.lines().find(|l| l.starts_with("Pushed")).unwrap();
    assert!(
        line.ends_with(&format!(": 1 blobs copied ({}), 3 already there, 0 mounted", format_size(1_234_567))),
        "only the new weight file is uploaded: {line}"
    );

    let fresh = Sandbox::new();
    let remote = format!("{}/team/app:v2", registry.host());
    stdout_of(fresh.hoist().args(["pull", "--progress", "none", &remote]));
    fresh.hoist().args(["verify", "--progress", "none"]).assert().success();
}

#[test]
fn standalone_pushes_the_plain_image_only() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let image = runnable_image(&sandbox.store(), "app:1", "arm64");
    gen_weights(&sandbox, "w", 2, "50kB", "60kB", 5);
    let remote = format!("{}/team/app:plain", registry.host());
    let lock_path = sandbox.path("w/weights.lock");
    let out = bundle(&sandbox, &lock_path, &remote, &["--push", "--format", "standalone", "--progress", "none"]);
    assert!(out.contains(&format!("Pushed {remote} {image}: 2 blobs copied")), "{out}");
    let fresh = Sandbox::new();
    let pulled = stdout_of(fresh.hoist().args(["pull", "--progress", "none", &remote]));
    assert!(pulled.contains(&image.to_string()), "{pulled}");
    let lock = read_json(&lock_path);
    for file in lock["files"].as_array().unwrap() {
        let digest: Digest = file["digest"].as_str().unwrap().parse().unwrap();
        assert!(!fresh.store().join("blobs/sha256").join(digest.hex()).exists(), "weights were pushed");
    }
}

#[test]
fn a_bundle_of_weights_missing_from_the_store_fails_naming_them() {
    let sandbox = Sandbox::new();
    runnable_image(&sandbox.store(), "app:1", "amd64");
    let elsewhere = Sandbox::new();
    gen_weights(&elsewhere, "w", 1, "10kB", "10kB", 1);
    let lock_path = elsewhere.path("w/weights.lock");
    let out = sandbox
        .hoist()
        .args(["bundle", "app:1", "--weights", lock_path.to_str().unwrap(), "-t", "app:b"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("weights-000") && error.contains("not in the store"), "{error}");
}

#[test]
fn unpacking_a_bundle_puts_the_weights_where_the_image_expects_them() {
    let sandbox = Sandbox::new();
    runnable_image(&sandbox.store(), "app:1", "amd64");
    let weights = sandbox.tiny_safetensors("files/model.safetensors");
    let config = sandbox.write("files/config.json", r#"{"architectures":["BertModel"]}"#);
    let lock_path = sandbox.path("weights.lock");
    stdout_of(sandbox.hoist().args([
        "weights",
        "lock",
        &format!("bert={}", weights.display()),
        &format!("config={}", config.display()),
        "--compress",
        "gzip",
        "-o",
        lock_path.to_str().unwrap(),
    ]));
    bundle(&sandbox, &lock_path, "app:b", &[]);

    let out = sandbox.json(&["unpack", "--json", "app:b", sandbox.path("bundle").to_str().unwrap()]);
    let model_dir = Path::new(out["model_dir"].as_str().unwrap());
    assert_eq!(
        std::fs::read(model_dir.join("src/weights/model.safetensors")).unwrap(),
        std::fs::read(&weights).unwrap()
    );
    assert_eq!(std::fs::read(model_dir.join("src/weights/config.json")).unwrap(), std::fs::read(&config).unwrap());
    assert_eq!(std::fs::read_to_string(model_dir.join("src/predict.py")).unwrap(), "print('amd64')\n");
    // The image's absolute link now points at the bundle's own file.
    let link = model_dir.join("usr/bin/python");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("../../usr/bin/python3"));
    assert_eq!(
        std::fs::canonicalize(&link).unwrap(),
        std::fs::canonicalize(model_dir.join("usr/bin/python3")).unwrap()
    );
    assert_eq!(out["safetensors_dir"], model_dir.join("src/weights").display().to_string());
    assert_eq!(out["format"], "safetensors");

    let dry_run = stdout_of(sandbox.hoist().args(["run", "app:b", "--by", "vllm", "--dry-run"]));
    assert!(dry_run.contains("vllm serve") && dry_run.contains("/model/src/weights"), "{dry_run}");

    let out = sandbox.hoist().args(["unpack", "app:b", "--platform", "linux/s390x"]).output().unwrap();
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("no manifest for linux/s390x") && error.contains("it has linux/amd64"), "{error}");
}

#[test]
fn a_bundle_of_an_image_only_in_the_registry_never_downloads_its_layers() {
    let registry = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&registry);
    // The image, pushed by another machine.
    let builder = Sandbox::new();
    let (image, config, layer) = image_with_layer(&builder.store(), "app:1", "amd64", &big_layer(50_000_000));
    let direct = format!("{}/team/app:1", registry.host());
    builder.hoist().args(["push", "--progress", "none", "app:1", &direct]).assert().success();
    let image_bytes = config.size + layer.size;

    let sandbox = Sandbox::new();
    gen_weights(&sandbox, "w", 2, "100kB", "150kB", 7);
    let lock_path = sandbox.path("w/weights.lock");
    let remote_image = format!("{}/team/app:1", proxy.host());
    let bundle_to = |target: &str| {
        let mut cmd = sandbox.hoist();
        cmd.args(["bundle", &remote_image, "--weights"]).arg(&lock_path).args(["-t", target]);
        stdout_of(cmd.args(["--push", "--progress", "none"]))
    };

    // To the image's own repository: the image is there already.
    let same = bundle_to(&format!("{}/team/app:v1", proxy.host()));
    let read = proxy.body_bytes_served();
    eprintln!("same repository: read {read} of the image's {image_bytes} bytes\n{same}");
    assert!(
        same.contains("3 blobs copied") && same.contains("0 mounted; image"),
        "two weights and the empty config: {same}"
    );
    assert_eq!(proxy.body_bytes_served_for(&format!("/blobs/{}", layer.digest)), 0, "the layer is never read");
    assert!(read * 100 < image_bytes, "read {read} of {image_bytes} bytes");

    // To another repository of the same registry: the image's blobs are mounted.
    let other = bundle_to(&format!("{}/team/bundles:v1", proxy.host()));
    let read_other = proxy.body_bytes_served() - read;
    eprintln!("other repository: read {read_other} of the image's {image_bytes} bytes\n{other}");
    assert!(
        other.contains(&format!("image {}: 0 blobs copied (0B), 0 already there, 2 mounted", image.short())),
        "{other}"
    );
    assert_eq!(proxy.body_bytes_served_for(&format!("/blobs/{}", layer.digest)), 0, "the layer is never read");
    assert!(read_other * 100 < image_bytes, "read {read_other} of {image_bytes} bytes");
    assert!(!sandbox.store().join("blobs/sha256").join(layer.digest.hex()).exists(), "nothing of the image stored");

    // What was pushed is a whole bundle: it pulls, verifies, and names the image with its platform.
    let fresh = Sandbox::new();
    let pushed = format!("{}/team/bundles:v1", registry.host());
    stdout_of(fresh.hoist().args(["pull", "--progress", "none", &pushed]));
    fresh.hoist().args(["verify", "--progress", "none"]).assert().success();
    let index: Value = serde_json::from_str(&stdout_of(fresh.hoist().args(["inspect", "--raw", &pushed]))).unwrap();
    assert_eq!(index["manifests"][0]["digest"], image.to_string());
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(index["manifests"][1]["annotations"]["vnd.cog.reference.digest"], image.to_string());
}

#[test]
fn a_bundle_of_an_image_only_in_the_registry_tagged_in_the_store_pulls_the_image_first() {
    let registry = RegistryServer::anonymous();
    let builder = Sandbox::new();
    let image = runnable_image(&builder.store(), "app:1", "amd64");
    let remote_image = format!("{}/team/app:1", registry.host());
    builder.hoist().args(["push", "--progress", "none", "app:1", &remote_image]).assert().success();

    let sandbox = Sandbox::new();
    gen_weights(&sandbox, "w", 1, "10kB", "10kB", 2);
    let lock_path = sandbox.path("w/weights.lock");
    let pushed_index = {
        let mut cmd = sandbox.hoist();
        cmd.args(["bundle", &remote_image, "--weights"]).arg(&lock_path);
        let pushed = stdout_of(cmd.args(["-t", &format!("{}/team/app:v1", registry.host()), "--push"]));
        pushed.split_whitespace().nth(1).unwrap().to_string()
    };
    let mut cmd = sandbox.hoist();
    cmd.args(["bundle", &remote_image, "--weights"]).arg(&lock_path).args(["-t", "app:bundle"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pulling it"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("image {}", image.short())), "{stdout}");
    assert!(stdout.starts_with(&format!("app:bundle {pushed_index} ")), "the same index as pushed: {stdout}");
    // Whole in the store: it unpacks with the image's files and the weights.
    let root = stdout_of(sandbox.hoist().args(["unpack", "app:bundle"]));
    let model = Path::new(root.trim_end()).join("model");
    assert!(model.join("src/predict.py").is_file() && model.join("src/weights/weights-000.bin").is_file());
    sandbox.hoist().args(["verify", "--progress", "none"]).assert().success();
}

#[test]
fn a_bundle_pushed_to_another_registry_copies_the_image_across_without_storing_it() {
    let (source, destination) = (RegistryServer::anonymous(), RegistryServer::anonymous());
    let builder = Sandbox::new();
    let (image, _, layer) = image_with_layer(&builder.store(), "app:1", "arm64", &app_layer("arm64"));
    let remote_image = format!("{}/team/app:1", source.host());
    builder.hoist().args(["push", "--progress", "none", "app:1", &remote_image]).assert().success();

    let sandbox = Sandbox::new();
    gen_weights(&sandbox, "w", 1, "10kB", "10kB", 4);
    let lock_path = sandbox.path("w/weights.lock");
    let target = format!("{}/team/app:v1", destination.host());
    let mut cmd = sandbox.hoist();
    cmd.args(["bundle", &remote_image, "--weights"]).arg(&lock_path).args(["-t", &target]);
    let out = stdout_of(cmd.args(["--push", "--progress", "none"]));
    assert!(out.contains(&format!("image {}: 2 blobs copied", image.short())), "config and layer: {out}");
    assert!(!sandbox.store().join("blobs/sha256").join(layer.digest.hex()).exists(), "nothing of the image stored");

    let fresh = Sandbox::new();
    stdout_of(fresh.hoist().args(["pull", "--progress", "none", &target]));
    fresh.hoist().args(["verify", "--progress", "none"]).assert().success();
    let root = stdout_of(fresh.hoist().args(["unpack", &target]));
    assert!(Path::new(root.trim_end()).join("model/src/weights/weights-000.bin").is_file());
}

#[test]
fn a_standalone_bundle_of_an_image_only_in_the_registry_mounts_it_under_the_new_name() {
    let registry = RegistryServer::anonymous();
    let builder = Sandbox::new();
    let image = runnable_image(&builder.store(), "app:1", "amd64");
    let remote_image = format!("{}/team/app:1", registry.host());
    builder.hoist().args(["push", "--progress", "none", "app:1", &remote_image]).assert().success();

    let sandbox = Sandbox::new();
    let target = format!("{}/team/plain:1", registry.host());
    let out =
        stdout_of(sandbox.hoist().args(["bundle", &remote_image, "--format", "standalone", "-t", &target]).args([
            "--push",
            "--progress",
            "none",
        ]));
    assert!(
        out.contains(&format!("Pushed {target} {image}: 0 blobs copied (0B), 0 already there, 2 mounted")),
        "{out}"
    );
    assert!(!sandbox.store().exists(), "nothing stored: {out}");
}

#[test]
fn weights_lock_bundle_and_unpack_report_as_json() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let image = runnable_image(&sandbox.store(), "app:1", "amd64");
    let weights = sandbox.write("files/a.bin", pseudo_random(3000, 7));
    let lock_path = sandbox.path("weights.lock");
    let locked = sandbox.json(&[
        "weights",
        "lock",
        "--json",
        &format!("a={}", weights.display()),
        "-o",
        lock_path.to_str().unwrap(),
    ]);
    let file = &locked["files"][0];
    assert_eq!(file["name"], "a");
    assert_eq!(file["size"], 3000);
    assert_eq!(file["digest"].as_str().unwrap(), Digest::of(&pseudo_random(3000, 7)).to_string());
    assert_eq!(locked["total_bytes"], 3000);
    assert_eq!(locked["output"], lock_path.to_str().unwrap());

    let remote = format!("{}/team/app:b", registry.host());
    let made = sandbox.json(&[
        "bundle",
        "app:1",
        "--json",
        "--progress",
        "none",
        "--weights",
        lock_path.to_str().unwrap(),
        "-t",
        &remote,
        "--push",
    ]);
    assert_eq!(made["format"], "bundle");
    assert_eq!(made["image"], image.to_string().as_str());
    assert_eq!(made["files"], 1);
    assert_eq!(made["replaced"], Value::Null);
    let pushed = &made["pushed"];
    // Image (config, layer) and weights (config, layer) blobs; the index and two manifests.
    assert_eq!(pushed["blobs_copied"], 4, "{made}");
    assert_eq!(pushed["manifests_pushed"], 3, "{made}");
    let index = blob(&sandbox.store(), made["digest"].as_str().unwrap());
    assert!(!index.is_empty());

    let out = sandbox.json(&["unpack", "--json", &remote, sandbox.path("bundle").to_str().unwrap()]);
    assert_eq!(out["root"], sandbox.path("bundle").to_str().unwrap());
    assert_eq!(out["manifest"], made["digest"]);
}
