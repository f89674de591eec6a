//! `estimate` and `inspect --remote --gguf` on gguf-packer-style images in a
//! real registry, their GGUF files inside tar layers: only the tar headers and
//! the GGUF headers are read (plain tars by ranges, compressed ones as a
//! stream dropped early), counted by a proxy in front of the registry.

mod common;

use std::path::Path;

use common::Sandbox;
use hoist_gguf::synth::TinyModel;
use hoist_oci::{Descriptor, ImageManifest, Reference, media_types};
use hoist_store::Store;
use hoist_testkit::{FaultProxy, RegistryServer, gzip, pax_record};
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;

/// A tar member: a file, or a pax header (records) for the next one.
enum Member<'a> {
    File(&'a str, &'a [u8]),
    Pax(&'a [(&'a str, &'a str)]),
}

fn tar_of(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_ustar();
        match member {
            Member::File(path, data) => {
                header.set_size(data.len() as u64);
                header.set_mode(0o644);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Member::Pax(records) => {
                let data: String = records.iter().map(|(k, v)| pax_record(k, v)).collect();
                header.set_entry_type(tar::EntryType::XHeader);
                header.set_path("PaxHeaders.0/next").unwrap();
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, data.as_bytes()).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// An image config holding llama-server's command, as gguf-packer writes it.
fn image_config(cmd: &[&str], working_dir: &str) -> Value {
    json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["llama-server"], "Cmd": cmd, "WorkingDir": working_dir},
        "rootfs": {"type": "layers", "diff_ids": []}
    })
}

/// Writes an image straight into the store, tags it `reference`, and returns
/// its layers' descriptors.
fn put_image(store: &Path, reference: &str, config: &Value, layers: Vec<(&str, Vec<u8>)>) -> Vec<Descriptor> {
    let store = Store::new(store);
    let session = store.write_session().unwrap();
    let descriptors: Vec<Descriptor> = layers
        .into_iter()
        .map(|(media_type, bytes)| {
            let (digest, size) = session.put_bytes(&bytes).unwrap();
            Descriptor::new(media_type, digest, size)
        })
        .collect();
    let (digest, size) = session.put_bytes(&serde_json::to_vec(config).unwrap()).unwrap();
    let manifest =
        ImageManifest::new(Descriptor::new(media_types::OCI_IMAGE_CONFIG, digest, size), descriptors.clone());
    let (digest, size) = session.put_bytes(&manifest.to_canonical_json()).unwrap();
    let reference: Reference = reference.parse().unwrap();
    session.tag(&Descriptor::new(media_types::OCI_MANIFEST, digest, size), &reference).unwrap();
    descriptors
}

/// A registry, a counting proxy in front of it, and a sandbox whose store
/// holds the images to push.
struct Setup {
    registry: RegistryServer,
    proxy: FaultProxy,
    sandbox: Sandbox,
}

impl Setup {
    fn new() -> Setup {
        let registry = RegistryServer::anonymous();
        let proxy = FaultProxy::start(&registry);
        Setup { registry, proxy, sandbox: Sandbox::new() }
    }

    /// Pushes `local` straight to the registry; returns the same repository
    /// seen through the proxy.
    fn push(&self, local: &str, repository: &str) -> String {
        let direct = format!("{}/{repository}", self.registry.host());
        self.sandbox.hoist().args(["push", "--progress", "none", local, &direct]).assert().success();
        format!("{}/{repository}", self.proxy.host())
    }

    /// Body bytes the proxy served for `layer`.
    fn served(&self, layer: &Descriptor) -> u64 {
        self.proxy.body_bytes_served_for(&format!("/blobs/{}", layer.digest))
    }
}

/// `hoist ARGS` from a store that has nothing: (stdout, stderr).
fn fresh_run(args: &[&str]) -> (String, String) {
    let fresh = Sandbox::new();
    let out = fresh.hoist().args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    assert!(!fresh.store().exists(), "a remote read stores nothing");
    (stdout, stderr.into_owned())
}

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The GGUF report of `hoist inspect --gguf` without its `== name` lines and
/// the cost line.
fn reports(text: &str) -> String {
    text.lines().filter(|l| !l.starts_with("== ") && !l.starts_with("read ")).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_plain_tar_layer_is_read_by_ranges_through_a_pax_header() {
    let setup = Setup::new();
    let sandbox = &setup.sandbox;
    let model = sandbox.path("tiny.gguf");
    TinyModel { target_size: 24 * MIB, ..TinyModel::default() }.write_to_path(&model).unwrap();
    let gguf = std::fs::read(&model).unwrap();
    // A file before the model, and the model's name in a pax header (as tars
    // write names they cannot keep in ustar's fields).
    let layer = tar_of(&[
        Member::File("models/README.md", b"# tiny\n"),
        Member::Pax(&[("path", "models/tiny.gguf"), ("mtime", "1700000000.25")]),
        Member::File("models/placeholder", &gguf),
    ]);
    let config = image_config(&["-m", "tiny.gguf", "-c", "4096"], "/models");
    let layers = put_image(&sandbox.store(), "packer:1", &config, vec![(media_types::OCI_LAYER_TAR, layer)]);
    let remote = setup.push("packer:1", "team/packer:1");

    let (json, cost) = fresh_run(&["estimate", "--json", &remote]);
    let served = setup.served(&layers[0]);
    eprintln!("plain tar: {cost} (proxy served {served} of {} bytes)", layers[0].size);
    // The stored image (unpacked) and the remote one give the same estimate.
    assert_eq!(json, stdout_of(sandbox.hoist().args(["estimate", "--json", "packer:1"])));
    let estimate: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(estimate["context_size"], 4096, "the stored command's -c");
    assert!(served < MIB / 2, "{served} of {} bytes served", layers[0].size);
    let percent: f64 = cost.split('(').nth(1).and_then(|s| s.split('%').next()).unwrap().parse().unwrap();
    assert!(percent < 2.0, "{cost}");

    let (text, _) = fresh_run(&["inspect", "--remote", "--gguf", &remote]);
    assert!(text.starts_with("== models/tiny.gguf\n"), "{text}");
    let local = stdout_of(sandbox.hoist().args(["inspect", "--gguf"]).arg(&model));
    assert_eq!(reports(&text), reports(&local));
    assert!(text.contains("read ") && text.contains(" requests"), "{text}");
}

#[test]
fn a_gzip_layer_is_streamed_only_up_to_the_header() {
    let setup = Setup::new();
    let sandbox = &setup.sandbox;
    let model = sandbox.path("tiny.gguf");
    TinyModel { target_size: 64 * MIB, ..TinyModel::default() }.write_to_path(&model).unwrap();
    let gguf = std::fs::read(&model).unwrap();
    let layer = gzip(&tar_of(&[Member::File("app/notes.txt", b"hello"), Member::File("app/model.gguf", &gguf)]));
    let config = image_config(&["-m", "/app/model.gguf"], "/");
    let media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    let layers = put_image(&sandbox.store(), "zipped:1", &config, vec![(media_type, layer)]);
    let remote = setup.push("zipped:1", "team/zipped:1");

    let (json, cost) = fresh_run(&["estimate", "--json", &remote]);
    let served = setup.served(&layers[0]);
    eprintln!("tar+gzip: {cost} (proxy served {served} of {} bytes)", layers[0].size);
    let local = stdout_of(sandbox.hoist().args(["estimate", "--json"]).arg(&model));
    assert_eq!(json, local, "the remote header gives the file's estimate");
    assert!(cost.contains("in 1 requests"), "{cost}");
    // What the client read, and what sat in socket buffers when it hung up.
    assert!(served < layers[0].size / 4, "{served} of {} bytes served", layers[0].size);
}

#[test]
fn a_split_model_named_by_its_command_is_read_with_its_shards() {
    let setup = Setup::new();
    let sandbox = &setup.sandbox;
    let dir = sandbox.path("split");
    std::fs::create_dir_all(&dir).unwrap();
    let shards = TinyModel { target_size: 12 * MIB, ..TinyModel::default() }.write_split(&dir, "big", 3).unwrap();
    let bytes: Vec<Vec<u8>> = shards.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let projector = std::fs::read(sandbox.tiny_gguf("mmproj.gguf")).unwrap();
    let layer = tar_of(&[
        Member::File("srv/weights/big-00002-of-00003.gguf", &bytes[1]),
        Member::File("srv/weights/mmproj.gguf", &projector),
        Member::File("srv/weights/big-00001-of-00003.gguf", &bytes[0]),
        Member::File("srv/weights/big-00003-of-00003.gguf", &bytes[2]),
    ]);
    let config =
        image_config(&["--model", "./weights/big-00001-of-00003.gguf", "--mmproj", "weights/mmproj.gguf"], "/srv");
    let layers = put_image(&sandbox.store(), "split:1", &config, vec![(media_types::OCI_LAYER_TAR, layer)]);
    let remote = setup.push("split:1", "team/split:1");

    let (json, cost) = fresh_run(&["estimate", "--json", &remote]);
    let served = setup.served(&layers[0]);
    eprintln!("split: {cost} (proxy served {served} of {} bytes)", layers[0].size);
    assert_eq!(json, stdout_of(sandbox.hoist().args(["estimate", "--json"]).arg(&shards[0])));
    assert!(served < 2 * MIB, "{served} of {} bytes served", layers[0].size);

    let (text, _) = fresh_run(&["inspect", "--remote", "--gguf", &remote]);
    let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("== ")).collect();
    assert_eq!(
        names,
        [
            "srv/weights/big-00001-of-00003.gguf",
            "srv/weights/big-00002-of-00003.gguf",
            "srv/weights/big-00003-of-00003.gguf"
        ]
    );
}

#[test]
fn an_image_without_a_gguf_file_says_so() {
    let setup = Setup::new();
    let sandbox = &setup.sandbox;
    let layer = gzip(&tar_of(&[Member::File("usr/bin/llama-server", b"\x7fELF"), Member::File("etc/motd", b"hi")]));
    let config = image_config(&["--port", "8080"], "/");
    put_image(&sandbox.store(), "empty:1", &config, vec![(media_types::OCI_LAYER_TAR_GZIP, layer)]);
    let remote = setup.push("empty:1", "team/empty:1");
    let out = Sandbox::new().hoist().args(["estimate", &remote]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no GGUF file") && stderr.contains("1 tar layers (2 entries read)"), "{stderr}");

    // Named by -m, and absent.
    let config = image_config(&["-m", "/models/gone.gguf"], "/");
    let layer = tar_of(&[Member::File("models/other.gguf", b"GGUF")]);
    put_image(&sandbox.store(), "named:1", &config, vec![(media_types::OCI_LAYER_TAR, layer)]);
    let remote = setup.push("named:1", "team/named:1");
    let out = Sandbox::new().hoist().args(["inspect", "--remote", "--gguf", &remote]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("-m /models/gone.gguf, models/gone.gguf") && stderr.contains("is missing"), "{stderr}");
}
