//! What the registry tests share: a tiny OCI image layout and the clients that use it.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use data_encoding::HEXLOWER;
use hoist_testkit::{RegistryServer, require_tool};
use ring::digest::{SHA256, digest};

/// Writes an OCI image layout with one image tagged `1` (one layer, an empty config)
/// and returns the manifest bytes, which a registry must hand back unchanged.
pub fn write_layout(dir: &Path) -> Vec<u8> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let add = |bytes: &[u8]| {
        let hex = HEXLOWER.encode(digest(&SHA256, bytes).as_ref());
        fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_size) = add(b"hello from hoist-testkit\n");
    let (config, config_size) = add(b"{}");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    })
    .to_string()
    .into_bytes();
    let (manifest_digest, manifest_size) = add(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": "1"},
        }],
    });
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest
}

/// `skopeo copy` of the layout's image `1` to `docker://HOST/REPOSITORY`.
///
/// `--preserve-digests` because skopeo would otherwise gzip the uncompressed layer
/// on its way to a registry, and the manifest would no longer be ours.
pub fn push(registry: &RegistryServer, layout: &Path, repository: &str, options: &[&str]) -> Output {
    let src = format!("oci:{}:1", layout.display());
    let dest = format!("docker://{}/{repository}", registry.host());
    let mut args = vec!["copy", "--preserve-digests"];
    args.extend_from_slice(options);
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&args)
}

/// `skopeo inspect --raw` of `docker://HOST/REPOSITORY`.
pub fn inspect_raw(registry: &RegistryServer, repository: &str, options: &[&str]) -> Output {
    let image = format!("docker://{}/{repository}", registry.host());
    let mut args = vec!["inspect", "--raw"];
    args.extend_from_slice(options);
    args.push(&image);
    skopeo(&args)
}

fn skopeo(args: &[&str]) -> Output {
    // --insecure-policy: the tests are about the registry, not about the machine's
    // signature policy file, which may not exist.
    Command::new(require_tool("skopeo")).arg("--insecure-policy").args(args).output().expect("run skopeo")
}

/// Runs curl and returns its output, with the response headers (`-D -`) on stdout.
pub fn curl(args: &[&str]) -> Output {
    Command::new(require_tool("curl"))
        .args(["-sS", "-o", "/dev/null", "-D", "-"])
        .args(args)
        .output()
        .expect("run curl")
}

/// The status code and headers curl printed.
pub fn status_and_headers(output: &Output) -> (u16, String) {
    let headers = String::from_utf8_lossy(&output.stdout).into_owned();
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, headers)
}

/// The value of one response header (case-insensitive name).
pub fn header(headers: &str, name: &str) -> Option<String> {
    headers
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

/// Panics with the client's error and the registry's log when a command failed.
pub fn assert_ok(output: &Output, registry: &RegistryServer) {
    assert!(
        output.status.success(),
        "command failed: {}\nregistry log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        registry.log_tail()
    );
}
