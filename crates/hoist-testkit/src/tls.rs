//! A throw-away certificate authority and the server certificate it signs.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// Where the TLS files of one registry live.
pub(crate) struct TlsFiles {
    /// A directory holding only `ca.crt`: the layout skopeo's `--cert-dir` reads.
    pub(crate) ca_dir: PathBuf,
    pub(crate) ca_cert: PathBuf,
    /// The CA in DER, for the in-process readiness probe.
    pub(crate) ca_der: Vec<u8>,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

/// Generates a CA and a server certificate for `127.0.0.1` and `localhost` under `dir`.
///
/// A CA rather than a self-signed server certificate, because clients verify a
/// chain to a trust anchor: this is the shape of a private registry's set-up.
pub(crate) fn generate(dir: &Path) -> TlsFiles {
    let ca_key = KeyPair::generate().expect("generate the CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.distinguished_name.push(DnType::CommonName, "hoist test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("generate the server key");
    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("server params");
    server_params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer).expect("sign the server certificate");

    let ca_dir = dir.join("ca");
    let tls_dir = dir.join("tls");
    for d in [&ca_dir, &tls_dir] {
        fs::create_dir_all(d).expect("create a TLS directory");
    }
    let files = TlsFiles {
        ca_cert: ca_dir.join("ca.crt"),
        ca_dir,
        ca_der: ca_cert.der().to_vec(),
        server_cert: tls_dir.join("server.crt"),
        server_key: tls_dir.join("server.key"),
    };
    fs::write(&files.ca_cert, ca_cert.pem()).expect("write ca.crt");
    fs::write(&files.server_cert, server_cert.pem()).expect("write server.crt");
    fs::write(&files.server_key, server_key.serialize_pem()).expect("write server.key");
    files
}
