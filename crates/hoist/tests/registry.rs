//! push, pull, copy, login and remote inspect against a real registry.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::{Sandbox, tree_snapshot};
use hoist_testkit::{RegistryAuth, RegistryOptions, RegistryServer, require_tool};

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn push_pull_round_trip_and_a_second_push_uploads_nothing() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let digest = sandbox.pack_tiny("tiny:q8");
    let remote = format!("{}/team/tiny:1", registry.host());
    let first = stdout_of(sandbox.hoist().args(["push", "--progress", "none", "tiny:q8", &remote]));
    assert!(first.contains(&digest), "{first}");
    assert!(first.contains("2 blobs copied"), "{first}");
    let second = stdout_of(sandbox.hoist().args(["push", "--progress", "none", "tiny:q8", &remote]));
    assert!(second.contains("0 blobs copied (0B)"), "{second}");

    let other = Sandbox::new();
    let pulled = stdout_of(other.hoist().args(["pull", "--progress", "none", &remote]));
    assert!(pulled.contains(&digest), "{pulled}");
    let ours = stdout_of(sandbox.hoist().args(["inspect", "--raw", "tiny:q8"]));
    let theirs = stdout_of(other.hoist().args(["inspect", "--raw", &remote]));
    assert_eq!(ours, theirs);
    other.hoist().args(["verify", "--progress", "none"]).assert().success();
    let list = other.json(&["list", "--json"]);
    assert_eq!(list[0]["reference"], remote.as_str());
    assert_eq!(list[0]["architecture"], "llama");
}

#[test]
fn inspect_remote_reads_the_manifest_and_config_only() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let remote = format!("{}/team/tiny:1", registry.host());
    sandbox.push_tiny("tiny:q8", &remote);
    let fresh = Sandbox::new();
    let text = stdout_of(fresh.hoist().args(["inspect", "--remote", &remote]));
    assert!(text.contains("Architecture: llama"), "{text}");
    assert!(text.contains("Quantization: Q8_0"), "{text}");
    assert!(!fresh.store().exists(), "a remote inspect writes nothing locally");
}

#[test]
fn copy_between_a_registry_and_image_layout_directories() {
    require_tool("skopeo");
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    let digest = sandbox.pack_tiny("tiny:q8");
    let remote = format!("{}/team/tiny:1", registry.host());
    sandbox.hoist().args(["push", "--progress", "none", "tiny:q8", &remote]).assert().success();

    let layout = sandbox.path("layout");
    let to_dir = format!("oci:{}:v1", layout.display());
    stdout_of(sandbox.hoist().args(["copy", "--progress", "none", &remote, &to_dir]));
    let out = Command::new("skopeo").args(["inspect", "--raw", &to_dir]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest_digest = hoist_oci::Digest::of(&out.stdout);
    assert_eq!(manifest_digest.to_string(), digest);

    let back = format!("{}/elsewhere/tiny:2", registry.host());
    stdout_of(sandbox.hoist().args(["copy", "--progress", "none", &to_dir, &back]));
    let fresh = Sandbox::new();
    let pulled = stdout_of(fresh.hoist().args(["pull", "--progress", "none", &back]));
    assert!(pulled.contains(&digest), "{pulled}");
}

#[test]
fn login_saves_credentials_that_push_and_pull_use_and_never_prints_them() {
    let password = "s3cret-Pa55";
    let registry = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Basic { user: "alice".into(), password: password.into() },
        tls: false,
    });
    let sandbox = Sandbox::new();
    let docker_config = sandbox.path("docker");
    let hoist = || {
        let mut cmd = sandbox.hoist();
        cmd.env("DOCKER_CONFIG", &docker_config);
        cmd
    };
    sandbox.pack_tiny("tiny:q8");
    let remote = format!("{}/team/tiny:1", registry.host());
    let denied = hoist().args(["push", "--progress", "none", "tiny:q8", &remote]).output().unwrap();
    assert!(!denied.status.success(), "anonymous push must be refused");

    let wrong = login(&sandbox, &docker_config, &registry.host(), "alice", "wrong");
    assert!(!wrong.status.success());
    assert!(!docker_config.join("config.json").exists(), "a failed login saves nothing");

    let ok = login(&sandbox, &docker_config, &registry.host(), "alice", password);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let config = docker_config.join("config.json");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);

    let pushed = hoist().args(["push", "--progress", "plain", "tiny:q8", &remote]).output().unwrap();
    let pulled = Sandbox::new().hoist().env("DOCKER_CONFIG", &docker_config).args(["pull", &remote]).output().unwrap();
    for out in [&ok, &wrong, &pushed, &pulled] {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains(password) && !all.contains("YWxpY2U6"), "a secret leaked: {all}");
    }
    assert!(pushed.status.success() && pulled.status.success());

    hoist().args(["logout", &registry.host()]).assert().success();
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(!after.contains(&registry.host()), "{after}");
}

fn login(
    sandbox: &Sandbox,
    docker_config: &std::path::Path,
    host: &str,
    user: &str,
    password: &str,
) -> std::process::Output {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("hoist"))
        .arg("--store")
        .arg(sandbox.store())
        .env("DOCKER_CONFIG", docker_config)
        .args(["login", host, "-u", user, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn pulling_an_unknown_tag_fails_naming_it_and_changes_nothing() {
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("keep:1");
    let before = tree_snapshot(&sandbox.store());
    let missing = format!("{}/team/nothing:9", registry.host());
    let out = sandbox.hoist().args(["pull", &missing]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing"), "{stderr}");
    assert_eq!(tree_snapshot(&sandbox.store()), before);
}

#[test]
fn pull_platform_takes_one_manifest_of_an_index() {
    use hoist_oci::{Descriptor, ImageIndex, ImageManifest, Platform, Reference, media_types};
    let registry = RegistryServer::anonymous();
    let sandbox = Sandbox::new();
    // An image layout holding an index of two single-layer manifests, one per platform.
    let layout = hoist_store::Store::new(sandbox.path("layout"));
    let session = layout.write_session().unwrap();
    let mut entries = Vec::new();
    for architecture in ["amd64", "arm64"] {
        let (layer, layer_size) = session.put_bytes(format!("weights for {architecture}").as_bytes()).unwrap();
        let (config, config_size) = session.put_bytes(b"{}").unwrap();
        let manifest = ImageManifest::new(
            Descriptor::new(media_types::OCI_IMAGE_CONFIG, config, config_size),
            vec![Descriptor::new(media_types::OCI_LAYER_TAR, layer, layer_size)],
        );
        let (digest, size) = session.put_bytes(&manifest.to_canonical_json()).unwrap();
        let mut entry = Descriptor::new(media_types::OCI_MANIFEST, digest, size);
        entry.platform = Some(Platform {
            architecture: architecture.into(),
            os: "linux".into(),
            os_version: None,
            os_features: vec![],
            variant: None,
        });
        entries.push(entry);
    }
    let (digest, size) = session.put_bytes(&ImageIndex::new(entries.clone()).to_canonical_json()).unwrap();
    session.tag_name(&Descriptor::new(media_types::OCI_INDEX, digest, size), "multi").unwrap();
    drop(session);

    let remote = format!("{}/team/multi:1", registry.host());
    let from_dir = format!("oci:{}:multi", sandbox.path("layout").display());
    stdout_of(sandbox.hoist().args(["copy", "--progress", "none", &from_dir, &remote]));
    let pulled = stdout_of(sandbox.hoist().args(["pull", "--progress", "none", "--platform", "linux/arm64", &remote]));
    assert!(pulled.contains(&entries[1].digest.to_string()), "{pulled}");
    let reference: Reference = remote.parse().unwrap();
    let resolved = hoist_store::Store::new(sandbox.store()).resolve(&reference.to_string()).unwrap();
    assert_eq!(resolved.descriptor.digest, entries[1].digest);
    let missing = sandbox.hoist().args(["pull", "--platform", "linux/s390x", &remote]).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no manifest for linux/s390x"));
}

#[test]
fn a_pull_killed_mid_blob_resumes_where_it_stopped() {
    use hoist_gguf::synth::TinyModel;
    use hoist_testkit::{Fault, FaultProxy};
    const MIB: u64 = 1024 * 1024;
    let registry = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&registry);
    let sandbox = Sandbox::new();
    // Large enough for ranged downloads (64 MiB and up), whose progress is kept in ingest/.
    let model = sandbox.path("big.gguf");
    TinyModel { target_size: 96 * MIB, ..TinyModel::default() }.write_to_path(&model).unwrap();
    sandbox.hoist().args(["pack", "-q", "--progress", "none", "-t", "big:1"]).arg(&model).assert().success();
    let remote = format!("{}/team/big:1", proxy.host());
    sandbox.hoist().args(["push", "--progress", "none", "big:1", &remote]).assert().success();
    let layer = sandbox.json(&["inspect", "--json", "big:1"])["manifest"]["layers"][0].clone();
    let layer_path = format!("/blobs/{}", layer["digest"].as_str().unwrap());
    let size = layer["size"].as_u64().unwrap();

    // The request breaks 10 MiB in and every later request for the layer is
    // refused: the pull keeps retrying, and is killed while it does.
    proxy.set_faults(vec![
        Fault::ResetMidBody { path: layer_path.clone(), after: 10 * MIB, times: 1 },
        Fault::Status { path: layer_path.clone(), status: 500, retry_after: None, times: usize::MAX },
    ]);
    let puller = Sandbox::new();
    // In one part, so the state file is first saved with that part's bytes (other
    // parts' refusals would save it earlier, empty).
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("hoist"))
        .arg("--store")
        .arg(puller.store())
        .args(["pull", "--progress", "none", "--parts", "1", &remote])
        .spawn()
        .unwrap();
    // The bytes the saved resume state records.
    let saved_bytes = || -> u64 {
        let Ok(dir) = std::fs::read_dir(puller.store().join("ingest")) else { return 0 };
        let Some(state) = dir.flatten().find(|e| e.file_name().to_string_lossy().ends_with(".state")) else {
            return 0;
        };
        let Ok(state) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(state.path()).unwrap_or_default())
        else {
            return 0;
        };
        state["completed"]
            .as_array()
            .map_or(0, |ranges| ranges.iter().map(|r| r[1].as_u64().unwrap_or(0) - r[0].as_u64().unwrap_or(0)).sum())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(proxy.body_bytes_served_for(&layer_path) >= 10 * MIB && saved_bytes() > 0) {
        assert!(std::time::Instant::now() < deadline, "the pull never saved what it got");
        assert!(child.try_wait().unwrap().is_none(), "the pull ended before it was killed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    let first = proxy.body_bytes_served_for(&layer_path);
    let on_disk = saved_bytes();

    proxy.set_faults(vec![]);
    // Splits take only bytes not yet asked for: exactly the missing bytes come.
    let resumed = puller.json(&["pull", "--json", "--progress", "none", &remote]);
    let second = proxy.body_bytes_served_for(&layer_path) - first;
    assert_eq!(
        second,
        size - on_disk,
        "the resumed pull fetches what the saved state lacks, after {first} before the kill"
    );
    assert_eq!(resumed["bytes_read_back"], on_disk, "only what the killed pull wrote is read back: {resumed}");
    assert_eq!(resumed["blobs_copied"], 1, "{resumed}");

    let fresh = Sandbox::new().json(&["pull", "--json", "--progress", "none", &remote]);
    assert_eq!(fresh["bytes_read_back"], 0, "a fresh pull hashes what it received in memory: {fresh}");
    assert!(fresh["bytes_copied"].as_u64().unwrap() > size, "{fresh}");
    puller.hoist().args(["verify", "--progress", "none"]).assert().success();
    let entries: Vec<_> = std::fs::read_dir(puller.store().join("ingest")).unwrap().collect();
    assert!(entries.is_empty(), "nothing is left in ingest/ after the pull");
}

#[test]
fn credentials_come_from_a_docker_credential_helper() {
    let password = "helper-secret";
    let registry = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Basic { user: "carol".into(), password: password.into() },
        tls: false,
    });
    let sandbox = Sandbox::new();
    // A credential helper as Docker runs them: `docker-credential-<name> get`,
    // the server on standard input, JSON on standard output.
    let bin = sandbox.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-hoisttest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"{password}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker_config = sandbox.path("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    let config = serde_json::json!({ "credHelpers": { registry.host(): "hoisttest" } });
    std::fs::write(docker_config.join("config.json"), config.to_string()).unwrap();

    sandbox.pack_tiny("tiny:q8");
    let remote = format!("{}/team/tiny:1", registry.host());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = sandbox
        .hoist()
        .env("DOCKER_CONFIG", &docker_config)
        .env("PATH", path)
        .args(["push", "--progress", "none", "tiny:q8", &remote])
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(password), "{all}");
}

/// Requests the proxy saw for `path`.
fn requests_for(proxy: &hoist_testkit::FaultProxy, path: &str) -> usize {
    proxy.requests().iter().filter(|r| r.path == path).count()
}

#[test]
fn a_refused_blob_is_asked_for_once_and_an_unavailable_one_a_bounded_number_of_times() {
    use hoist_testkit::{Fault, FaultProxy};
    let registry = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&registry);
    let sandbox = Sandbox::new();
    sandbox.pack_tiny("tiny:1");
    let remote = format!("{}/team/tiny:1", proxy.host());
    sandbox.push_tiny("tiny:1", &remote);
    let layer = sandbox.json(&["inspect", "--json", "tiny:1"])["manifest"]["layers"][0]["digest"].clone();
    let layer_path = format!("/v2/team/tiny/blobs/{}", layer.as_str().unwrap());

    // 401 and 403 are permanent: one request, no retry in any layer.
    for status in [401, 403] {
        proxy.set_faults(vec![Fault::Status {
            path: layer_path.clone(),
            status,
            retry_after: None,
            times: usize::MAX,
        }]);
        let before = requests_for(&proxy, &layer_path);
        let other = Sandbox::new();
        let out = other.hoist().args(["pull", "--progress", "none", &remote]).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(&status.to_string()), "{out:?}");
        assert_eq!(requests_for(&proxy, &layer_path) - before, 1, "HTTP {status}");
        assert!(other.json(&["list", "--json"]).as_array().unwrap().is_empty(), "nothing tagged");
    }

    // 503 is transient: retried, by one layer only, as often as hoist_oci::retry says.
    proxy.set_faults(vec![Fault::Status {
        path: layer_path.clone(),
        status: 503,
        retry_after: Some(0),
        times: usize::MAX,
    }]);
    let before = requests_for(&proxy, &layer_path);
    let out = Sandbox::new().hoist().args(["pull", "--progress", "none", &remote]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(requests_for(&proxy, &layer_path) - before, hoist_oci::retry::MAX_ATTEMPTS as usize);

    // A registry that recovers within the attempts is ridden out.
    proxy.set_faults(vec![Fault::Status { path: layer_path.clone(), status: 503, retry_after: Some(0), times: 2 }]);
    Sandbox::new().hoist().args(["pull", "--progress", "none", &remote]).assert().success();
}
