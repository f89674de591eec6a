//! Each set-up of the test registry, driven by real clients (skopeo, curl).

mod support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use hoist_testkit::{RegistryAuth, RegistryOptions, RegistryServer, TokenUser, require_tool};
use support::{assert_ok, curl, header, inspect_raw, push, status_and_headers, write_layout};

const INSECURE_DEST: &str = "--dest-tls-verify=false";
const INSECURE_SRC: &str = "--tls-verify=false";

#[test]
fn anonymous_registry_takes_a_push_and_serves_the_manifest_back() {
    let registry = RegistryServer::anonymous();
    assert_eq!(status_and_headers(&curl(&[&format!("{}/v2/", registry.base_url())])).0, 200);

    let layout = tempfile::tempdir().unwrap();
    let manifest = write_layout(layout.path());
    assert_ok(&push(&registry, layout.path(), "test/x:1", &[INSECURE_DEST]), &registry);

    let inspected = inspect_raw(&registry, "test/x:1", &[INSECURE_SRC]);
    assert_ok(&inspected, &registry);
    assert_eq!(inspected.stdout, manifest, "the registry must return the pushed manifest bytes unchanged");
    assert!(registry.storage_dir().join("docker/registry/v2/repositories/test/x").is_dir());
}

#[test]
fn basic_auth_challenges_and_checks_the_password() {
    let auth = RegistryAuth::Basic { user: "alice".into(), password: "s3cret".into() };
    let registry = RegistryServer::start(RegistryOptions { auth, tls: false });
    let v2 = format!("{}/v2/", registry.base_url());

    let (status, headers) = status_and_headers(&curl(&[&v2]));
    assert_eq!(status, 401);
    let challenge = header(&headers, "WWW-Authenticate").expect("a challenge");
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    assert_eq!(status_and_headers(&curl(&["-u", "alice:s3cret", &v2])).0, 200);

    let layout = tempfile::tempdir().unwrap();
    let manifest = write_layout(layout.path());
    let wrong = push(&registry, layout.path(), "test/x:1", &[INSECURE_DEST, "--dest-creds", "alice:wrong"]);
    assert!(!wrong.status.success(), "a wrong password must not push");

    assert_ok(&push(&registry, layout.path(), "test/x:1", &[INSECURE_DEST, "--dest-creds", "alice:s3cret"]), &registry);
    let inspected = inspect_raw(&registry, "test/x:1", &[INSECURE_SRC, "--creds", "alice:s3cret"]);
    assert_ok(&inspected, &registry);
    assert_eq!(inspected.stdout, manifest);
}

#[test]
fn tls_registry_is_trusted_through_the_generated_ca_only() {
    let registry = RegistryServer::start(RegistryOptions { auth: RegistryAuth::Anonymous, tls: true });
    let v2 = format!("{}/v2/", registry.base_url());
    assert!(v2.starts_with("https://127.0.0.1:"), "{v2}");
    let ca = registry.ca_cert_path().expect("a CA with tls").to_str().unwrap();

    assert_eq!(status_and_headers(&curl(&["--cacert", ca, &v2])).0, 200);
    let untrusted = curl(&[&v2]);
    assert!(!untrusted.status.success(), "without the CA the certificate must not verify");

    let ca_dir = registry.ca_dir().expect("a CA dir with tls");
    let entries: Vec<_> = std::fs::read_dir(ca_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["ca.crt"], "skopeo would take any other .cert/.key there as a client certificate");

    let layout = tempfile::tempdir().unwrap();
    let manifest = write_layout(layout.path());
    let ca_dir = ca_dir.to_str().unwrap();
    assert_ok(&push(&registry, layout.path(), "test/x:1", &["--dest-cert-dir", ca_dir]), &registry);
    let inspected = inspect_raw(&registry, "test/x:1", &["--cert-dir", ca_dir]);
    assert_ok(&inspected, &registry);
    assert_eq!(inspected.stdout, manifest);
}

fn token_registry() -> RegistryServer {
    let users = vec![
        TokenUser::new("pusher", "push-pw", &["test/*"], &["test/*"]),
        TokenUser::new("puller", "pull-pw", &["*"], &[]),
    ];
    RegistryServer::start(RegistryOptions { auth: RegistryAuth::Token { users }, tls: false })
}

/// The realm from a `Bearer realm="...",service="..."` challenge.
fn realm(challenge: &str) -> &str {
    challenge.split('"').nth(1).expect("a quoted realm")
}

#[test]
fn token_auth_grants_push_and_pull_per_user() {
    let registry = token_registry();
    let (status, headers) = status_and_headers(&curl(&[&format!("{}/v2/", registry.base_url())]));
    assert_eq!(status, 401);
    let challenge = header(&headers, "WWW-Authenticate").expect("a challenge");
    assert!(challenge.starts_with("Bearer realm=\"http://127.0.0.1:"), "{challenge}");
    assert!(challenge.ends_with("/token\",service=\"hoist-test-registry\""), "{challenge}");

    let layout = tempfile::tempdir().unwrap();
    let manifest = write_layout(layout.path());
    let creds = |c| [INSECURE_DEST, "--dest-creds", c];
    assert_ok(&push(&registry, layout.path(), "test/x:1", &creds("pusher:push-pw")), &registry);
    let inspected = inspect_raw(&registry, "test/x:1", &[INSECURE_SRC, "--creds", "puller:pull-pw"]);
    assert_ok(&inspected, &registry);
    assert_eq!(inspected.stdout, manifest);

    let denied = push(&registry, layout.path(), "test/y:1", &creds("puller:pull-pw"));
    assert!(!denied.status.success(), "a pull-only user must not push");
    let elsewhere = push(&registry, layout.path(), "other/x:1", &creds("pusher:push-pw"));
    assert!(!elsewhere.status.success(), "test/* must not grant other/*");
    let wrong = push(&registry, layout.path(), "test/x:2", &creds("pusher:wrong"));
    assert!(!wrong.status.success(), "a wrong password must not get a token");
    assert!(registry.token_requests() > 0);
}

#[test]
fn issued_tokens_open_exactly_the_granted_scope() {
    let registry = token_registry();
    let layout = tempfile::tempdir().unwrap();
    write_layout(layout.path());
    assert_ok(
        &push(&registry, layout.path(), "test/x:1", &[INSECURE_DEST, "--dest-creds", "pusher:push-pw"]),
        &registry,
    );

    let (_, headers) = status_and_headers(&curl(&[&format!("{}/v2/", registry.base_url())]));
    let token_url = format!(
        "{}?service=hoist-test-registry&scope=repository%3Atest%2Fx%3Apull",
        realm(&header(&headers, "WWW-Authenticate").unwrap())
    );
    let tags = format!("{}/v2/test/x/tags/list", registry.base_url());
    let before = registry.token_requests();

    let token = fetch_token(&token_url, Some("pusher:push-pw"));
    assert_eq!(status_and_headers(&curl(&["-H", &format!("Authorization: Bearer {token}"), &tags])).0, 200);
    // An anonymous token is issued but grants nothing.
    let anonymous = fetch_token(&token_url, None);
    assert_eq!(status_and_headers(&curl(&["-H", &format!("Authorization: Bearer {anonymous}"), &tags])).0, 401);
    assert_eq!(status_and_headers(&curl(&["-u", "pusher:wrong", &token_url])).0, 401);
    assert_eq!(registry.token_requests(), before + 2, "a refused login issues no token");
}

/// The `token` field of the issuer's answer, asserting the documented response shape.
fn fetch_token(url: &str, user: Option<&str>) -> String {
    let mut command = Command::new(require_tool("curl"));
    command.args(["-sS", "--fail"]).args(user.map(|u| ["-u", u]).into_iter().flatten()).arg(url);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let body: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'), "{body}");
    body["token"].as_str().unwrap().to_string()
}

#[test]
fn drop_stops_the_registry_and_removes_its_files() {
    let registry = RegistryServer::anonymous();
    let host = registry.host();
    let pid = registry.pid();
    let storage = registry.storage_dir().to_path_buf();
    assert!(TcpStream::connect(&host).is_ok());
    drop(registry);
    assert!(TcpStream::connect(&host).is_err(), "{host} still answers after drop");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} is still there (or a zombie)");
    assert!(!storage.exists());
}
