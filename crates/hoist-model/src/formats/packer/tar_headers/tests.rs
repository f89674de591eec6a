//! Tar layers in a real store, read through it (ranges) or through a source
//! that streams in small pieces and serves no ranges.

use async_trait::async_trait;
use futures_util::StreamExt;
use hoist_gguf::synth::TinyModel;
use hoist_gguf::{GgmlType, read_header_from_path};
use hoist_oci::{BlobStream, Descriptor, ImageManifest, Source, TargetError, media_types};
use hoist_store::Store;
use hoist_testkit::{gzip, pax_record};
use serde_json::{Value as Json, json};

use super::layer::{MAX_ENTRIES, MAX_WALK_REQUESTS};
use super::*;

/// A tar member: a file (path, bytes), or a raw pax header for the next one.
enum Member<'a> {
    File(&'a str, &'a [u8]),
    Pax(Vec<(&'a str, String)>),
    Symlink(&'a str, &'a str),
}

fn tar_of(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        match member {
            Member::File(path, data) => {
                // GNU headers: paths over 100 bytes become `L` long-name entries.
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_mode(0o644);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Member::Pax(records) => {
                let data: String = records.iter().map(|(k, v)| pax_record(k, v)).collect();
                let mut header = tar::Header::new_ustar();
                header.set_entry_type(tar::EntryType::XHeader);
                header.set_path("PaxHeaders/next").unwrap();
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, data.as_bytes()).unwrap();
            }
            Member::Symlink(path, target) => {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// A store holding layers, and the image manifest over them.
struct Image {
    _dir: tempfile::TempDir,
    store: Store,
    manifest: ImageManifest,
}

fn image(layers: Vec<(&str, Vec<u8>)>) -> Image {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("store"));
    let session = store.write_session().unwrap();
    let layers = layers
        .into_iter()
        .map(|(media_type, bytes)| {
            let (digest, size) = session.put_bytes(&bytes).unwrap();
            Descriptor::new(media_type, digest, size)
        })
        .collect();
    let manifest = ImageManifest::new(Descriptor::for_bytes(media_types::OCI_IMAGE_CONFIG, b"{}"), layers);
    Image { _dir: dir, store, manifest }
}

fn command(cmd: &[&str], working_dir: Option<&str>) -> Json {
    json!({"config": {"Entrypoint": ["llama-server"], "Cmd": cmd, "WorkingDir": working_dir}})
}

/// A GGUF file's bytes and its header as read from the file.
fn gguf(name: &str, target_size: u64) -> (Vec<u8>, GgufHeader) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let model = TinyModel { name: name.into(), file_type: GgmlType::Q8_0, target_size, ..TinyModel::default() };
    model.write_to_path(&path).unwrap();
    (std::fs::read(&path).unwrap(), read_header_from_path(&path).unwrap())
}

/// The store as a source that streams in `chunk`-byte pieces and serves no
/// ranges, as a registry that ignores Range.
struct Streaming {
    store: Store,
    chunk: usize,
}

#[async_trait]
impl Source for Streaming {
    fn name(&self) -> String {
        "streaming".into()
    }

    async fn resolve(&self, reference: &str) -> Result<Descriptor, TargetError> {
        Source::resolve(&self.store, reference).await
    }

    async fn fetch_all(&self, descriptor: &Descriptor) -> Result<Vec<u8>, TargetError> {
        Source::fetch_all(&self.store, descriptor).await
    }

    async fn fetch(&self, descriptor: &Descriptor, offset: u64) -> Result<BlobStream, TargetError> {
        let chunk = self.chunk;
        let stream = Source::fetch(&self.store, descriptor, offset).await?;
        Ok(Box::pin(stream.flat_map(move |item| {
            let pieces: Vec<std::io::Result<bytes::Bytes>> = match item {
                Ok(bytes) => {
                    (0..bytes.len()).step_by(chunk).map(|i| Ok(bytes.slice(i..bytes.len().min(i + chunk)))).collect()
                }
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(pieces)
        })))
    }
}

#[tokio::test]
async fn a_plain_tar_is_walked_by_few_small_ranges() {
    let (model, header) = gguf("ranged", 6 << 20);
    let long_dir = "models/".to_string() + &"deep/".repeat(30);
    let layer = tar_of(&[
        Member::File("README.md", b"# a model\n"),
        Member::File(&format!("{long_dir}notes.txt"), b"long names are GNU `L` entries"),
        Member::Pax(vec![("path", "models/tiny.gguf".into()), ("mtime", "1700000000.5".into())]),
        Member::File("ignored-name", &model),
        Member::File("models/after.txt", b"never reached"),
    ]);
    let img = image(vec![(media_types::OCI_LAYER_TAR, layer.clone())]);
    let config = command(&["-m", "./tiny.gguf", "-c", "512"], Some("/models"));
    let found = read_tar_headers(&img.store, &img.manifest, &config).await.unwrap();
    assert_eq!(found.files.len(), 1);
    assert_eq!(found.files[0].path, "models/tiny.gguf");
    assert_eq!(found.files[0].header, header);
    assert!(found.requests <= 3, "{} requests", found.requests);
    assert!(found.bytes_read < 400 << 10, "{} of {} bytes read", found.bytes_read, layer.len());

    // Without a command every GGUF but projectors counts, and the whole
    // archive is walked: still a handful of small ranges.
    let (projector, _) = gguf("projector", 0);
    let layer = tar_of(&[
        Member::File("models/b.gguf", &model),
        Member::File("models/mmproj-b.gguf", &projector),
        Member::File("models/a.gguf", &model),
    ]);
    let img = image(vec![(media_types::OCI_LAYER_TAR, layer)]);
    let found = read_tar_headers(&img.store, &img.manifest, &json!({})).await.unwrap();
    let paths: Vec<&str> = found.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["models/a.gguf", "models/b.gguf"]);
    assert!(found.bytes_read < 1 << 20, "{}", found.bytes_read);
}

#[tokio::test]
async fn compressed_and_rangeless_layers_stream_and_stop_early() {
    let (model, header) = gguf("streamed", 4 << 20);
    let tar = tar_of(&[Member::File("docs/LICENSE", b"MIT"), Member::File("m/model.gguf", &model)]);
    let mut zstd_tar = Vec::new();
    zstd::stream::copy_encode(&tar[..], &mut zstd_tar, 1).unwrap();
    let config = command(&["-m", "/m/model.gguf"], None);
    for (media_type, layer) in [
        (media_types::OCI_LAYER_TAR_GZIP, gzip(&tar)),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", gzip(&tar)),
        (media_types::OCI_LAYER_TAR_ZSTD, zstd_tar.clone()),
        (media_types::OCI_LAYER_TAR, tar.clone()),
    ] {
        let img = image(vec![(media_type, layer.clone())]);
        let source = Streaming { store: img.store.clone(), chunk: 7001 };
        let found = read_tar_headers(&source, &img.manifest, &config).await.unwrap();
        assert_eq!(found.files[0].header, header, "{media_type}");
        assert_eq!(found.requests, 1);
        assert!(found.bytes_read < layer.len() as u64 / 4, "{media_type}: {} of {}", found.bytes_read, layer.len());
    }
}

#[tokio::test]
async fn later_layers_replace_and_white_out_earlier_files() {
    let (old, _) = gguf("old", 0);
    let (new, new_header) = gguf("new", 0);
    let base = tar_of(&[
        Member::File("models/m.gguf", &old),
        Member::File("models/gone.gguf", &old),
        Member::File("cache/x.gguf", &old),
    ]);
    let top = tar_of(&[
        Member::File("models/.wh.gone.gguf", b""),
        Member::File("cache/.wh..wh..opq", b""),
        Member::File("models/m.gguf", &new),
    ]);
    let img = image(vec![(media_types::OCI_LAYER_TAR_GZIP, gzip(&base)), (media_types::OCI_LAYER_TAR, top)]);
    let found = read_tar_headers(&img.store, &img.manifest, &json!({})).await.unwrap();
    let paths: Vec<&str> = found.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["models/m.gguf"]);
    assert_eq!(found.files[0].header, new_header);
    assert_eq!(found.files[0].layer, img.manifest.layers[1].digest);

    // Named, and found in the top layer: the gzip base is never opened.
    let found = read_tar_headers(&img.store, &img.manifest, &command(&["-m", "/models/m.gguf"], None)).await.unwrap();
    assert_eq!(found.files[0].header, new_header);
    assert_eq!(found.requests, 2, "the top layer's first block and the rest of the header");

    // Named, and whited out: missing, without reading the base either.
    let error = read_tar_headers(&img.store, &img.manifest, &command(&["-m", "/models/gone.gguf"], None))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("-m /models/gone.gguf") && error.contains("is missing"), "{error}");
}

#[tokio::test]
async fn a_split_model_is_read_shard_by_shard() {
    let dir = tempfile::tempdir().unwrap();
    let shards = TinyModel { target_size: 3 << 20, ..TinyModel::default() }.write_split(dir.path(), "big", 3).unwrap();
    let bytes: Vec<Vec<u8>> = shards.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let names = ["w/big-00001-of-00003.gguf", "w/big-00002-of-00003.gguf", "w/big-00003-of-00003.gguf"];
    // Out of order, a projector among them.
    let layer = tar_of(&[
        Member::File(names[2], &bytes[2]),
        Member::File("w/mmproj.gguf", &bytes[1]),
        Member::File(names[0], &bytes[0]),
        Member::File(names[1], &bytes[1]),
    ]);
    let img = image(vec![(media_types::OCI_LAYER_TAR, layer)]);
    let found = read_tar_headers(&img.store, &img.manifest, &command(&["--model", "w/big-00001-of-00003.gguf"], None))
        .await
        .unwrap();
    let paths: Vec<&str> = found.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, names);
    for (file, shard) in found.files.iter().zip(&shards) {
        assert_eq!(file.header, read_header_from_path(shard).unwrap());
    }
    // One shard missing.
    let layer = tar_of(&[Member::File(names[0], &bytes[0]), Member::File(names[2], &bytes[2])]);
    let img = image(vec![(media_types::OCI_LAYER_TAR, layer)]);
    let error = read_tar_headers(&img.store, &img.manifest, &command(&["-m", "/w/big-00001-of-00003.gguf"], None))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("shard w/big-00002-of-00003.gguf"), "{error}");
}

#[tokio::test]
async fn no_gguf_and_links_are_clear_errors() {
    let img = image(vec![(media_types::OCI_LAYER_TAR, tar_of(&[Member::File("bin/app", b"\x7fELF")]))]);
    let error = read_tar_headers(&img.store, &img.manifest, &json!({})).await.unwrap_err().to_string();
    assert!(error.contains("no GGUF file") && error.contains("1 tar layers (1 entries read)"), "{error}");

    let layer = tar_of(&[Member::Symlink("models/m.gguf", "../data/m.gguf")]);
    let img = image(vec![(media_types::OCI_LAYER_TAR, layer)]);
    let error = read_tar_headers(&img.store, &img.manifest, &command(&["-m", "/models/m.gguf"], None))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("\"models/m.gguf\"") && error.contains("link"), "{error}");
}

/// Expects `read_tar_headers` over a one-layer image to fail with an error
/// holding every one of `expected`.
async fn refused(media_type: &str, layer: Vec<u8>, expected: &[&str]) {
    let img = image(vec![(media_type, layer)]);
    let digest = img.manifest.layers[0].digest.to_string();
    let error = read_tar_headers(&img.store, &img.manifest, &json!({})).await.unwrap_err().to_string();
    assert!(error.contains(&digest), "names the layer: {error}");
    for part in expected {
        assert!(error.contains(part), "{part:?} missing from: {error}");
    }
}

#[tokio::test]
async fn hostile_archives_are_refused_without_panics() {
    let (model, _) = gguf("hostile", 0);
    let good = tar_of(&[Member::File("m.gguf", &model)]);

    // A size past the end of the layer (the header resealed).
    let mut past_end = good.clone();
    past_end[124..136].copy_from_slice(b"77777777777\0");
    reseal(&mut past_end[..512]);
    refused(media_types::OCI_LAYER_TAR, past_end, &["\"m.gguf\"", "past the end"]).await;

    let mut bad_sum = good.clone();
    bad_sum[0] = b'n';
    refused(media_types::OCI_LAYER_TAR, bad_sum, &["header at byte 0", "checksum"]).await;

    let absurd = tar_of(&[Member::Pax(vec![("size", "18446744073709551615".into())]), Member::File("m.gguf", &model)]);
    refused(media_types::OCI_LAYER_TAR, absurd, &["\"m.gguf\"", "a size of 18446744073709551615"]).await;

    let mut huge_pax = tar_of(&[Member::Pax(vec![("path", "x".into())])]);
    huge_pax[124..136].copy_from_slice(b"00077777777\0");
    reseal(&mut huge_pax[..512]);
    refused(media_types::OCI_LAYER_TAR, huge_pax, &["PaxHeaders/next", "an extended header of"]).await;

    let bad_record = tar_of(&[Member::Pax(vec![("size", "-5".into())]), Member::File("m.gguf", &model)]);
    refused(media_types::OCI_LAYER_TAR, bad_record, &["PaxHeaders/next", "pax size"]).await;

    // Cut inside a header, and a gzip stream cut short.
    refused(media_types::OCI_LAYER_TAR, good[..700].to_vec(), &["\"m.gguf\"", "past the end"]).await;
    let zipped = gzip(&good);
    refused(media_types::OCI_LAYER_TAR_GZIP, zipped[..zipped.len() / 2].to_vec(), &["decompressing"]).await;
    refused(media_types::OCI_LAYER_TAR_GZIP, b"not gzip at all".to_vec(), &["decompressing"]).await;

    // A GGUF entry that is not a GGUF file.
    let fake = tar_of(&[Member::File("fake.gguf", b"GGUF but not really")]);
    refused(media_types::OCI_LAYER_TAR, fake, &["\"fake.gguf\"", "not a valid GGUF"]).await;
}

fn reseal(header: &mut [u8]) {
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[tokio::test]
async fn walks_that_would_cost_too_much_stop_and_say_so() {
    // Many empty files, compressed: the entry limit.
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..=MAX_ENTRIES {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        builder.append_data(&mut header, format!("f/{i}"), &[][..]).unwrap();
    }
    let many = gzip(&builder.into_inner().unwrap());
    refused(media_types::OCI_LAYER_TAR_GZIP, many, &[&format!("gave up after {MAX_ENTRIES} entries")]).await;

    // Files just over a block each, plain: a request per header.
    let data = vec![0u8; 64 << 10];
    let members: Vec<String> = (0..=MAX_WALK_REQUESTS).map(|i| format!("f/{i}")).collect();
    let files: Vec<Member> = members.iter().map(|name| Member::File(name, &data)).collect();
    let expected = format!("in {} requests", MAX_WALK_REQUESTS + 1);
    refused(media_types::OCI_LAYER_TAR, tar_of(&files), &["gave up after", &expected]).await;
}
