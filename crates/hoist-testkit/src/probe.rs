//! A minimal HTTP(S) GET, just enough to see whether the registry answers yet.
//!
//! In-process (not curl) so that starting a registry needs no tool besides the
//! registry itself, and over rustls so that the TLS set-up is verified against the
//! generated CA before any test relies on it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

/// The status code of `GET path` on `127.0.0.1:port`; over TLS when `ca_der` is given.
pub(crate) fn status(port: u16, path: &str, ca_der: Option<&[u8]>) -> io::Result<u16> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(2)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(2)))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    match ca_der {
        None => {
            let mut tcp = tcp;
            tcp.write_all(request.as_bytes())?;
            tcp.read_to_end(&mut response)?;
        }
        Some(ca_der) => {
            let mut tls = rustls::StreamOwned::new(client(ca_der)?, tcp);
            tls.write_all(request.as_bytes())?;
            // Only the status line matters: a close without TLS close_notify is no failure here.
            if let Err(e) = tls.read_to_end(&mut response)
                && e.kind() != io::ErrorKind::UnexpectedEof
            {
                return Err(e);
            }
        }
    }
    parse_status(&response)
}

fn client(ca_der: &[u8]) -> io::Result<rustls::ClientConnection> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).map_err(io::Error::other)?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").map_err(io::Error::other)?;
    rustls::ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)
}

fn parse_status(response: &[u8]) -> io::Result<u16> {
    // "HTTP/1.1 200 OK"
    let line = response.split(|&b| b == b'\r').next().unwrap_or_default();
    std::str::from_utf8(line)
        .ok()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))
}
