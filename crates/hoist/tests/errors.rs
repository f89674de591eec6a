//! Errors a person understands: a registry that cannot be reached says so in
//! a few words, and `--verbose` adds the network stack's own account.

mod common;

use common::Sandbox;
use hoist_testkit::{RegistryAuth, RegistryOptions, RegistryServer};

/// Standard error of a command that must fail, ports made stable.
fn failure(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = sandbox.hoist().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"os error \d+", "os error [N]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// A loopback port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn a_closed_port_reads_as_connection_refused() {
    let sandbox = Sandbox::new();
    let remote = format!("127.0.0.1:{}/foo/bar", closed_port());
    snapshot("refused", &failure(&sandbox, &["pull", "--progress", "none", &remote]));
    snapshot("refused_verbose", &failure(&sandbox, &["pull", "--verbose", "--progress", "none", &remote]));
    sandbox.pack_tiny("tiny:1");
    let push = failure(&sandbox, &["push", "--progress", "none", "tiny:1", &remote]);
    assert!(push.contains("cannot reach registry 127.0.0.1:"), "{push}");
    assert!(push.ends_with("(connection refused)\n"), "{push}");
}

#[test]
fn an_untrusted_certificate_reads_as_such() {
    let registry = RegistryServer::start(RegistryOptions { auth: RegistryAuth::Anonymous, tls: true });
    let sandbox = Sandbox::new();
    let remote = format!("{}/team/tiny:1", registry.host());
    snapshot("untrusted", &failure(&sandbox, &["pull", "--progress", "none", &remote]));
    let verbose = failure(&sandbox, &["pull", "-v", "--progress", "none", &remote]);
    assert!(verbose.contains("invalid peer certificate: UnknownIssuer"), "{verbose}");
    // With its CA trusted the same registry answers (the tag is missing).
    let ca = registry.ca_cert_path().unwrap().to_str().unwrap().to_string();
    let missing = failure(&sandbox, &["pull", "--progress", "none", "--ca-file", &ca, &remote]);
    assert!(!missing.contains("cannot reach"), "{missing}");
}
