//! The TLS configuration handed to reqwest: rustls with the `ring` provider
//! (aws-lc-rs builds slowly and needs cmake), the system's roots (which honour
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`, where companies put their own CA) or the
//! Mozilla roots when the system has none, plus an extra CA file; or, with
//! `insecure`, a verifier that accepts any certificate but still checks that the
//! server holds its key.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::RegistryError;

pub(crate) fn client_config(insecure: bool, ca_file: Option<&Path>) -> Result<ClientConfig, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Tls { problem: e.to_string() })?;
    let mut config = if insecure {
        let verifier = AcceptAnyCertificate { algorithms: provider.signature_verification_algorithms };
        builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
    } else {
        builder.with_root_certificates(roots(ca_file)?).with_no_client_auth()
    };
    // A preconfigured config is used as is: without ALPN there is no HTTP/2.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, RegistryError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are not fatal: the Mozilla roots stand in.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| RegistryError::Tls { problem: format!("reading CA file {}: {e}", path.display()) })?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(RegistryError::Tls {
                problem: format!("CA file {} holds no usable certificate", path.display()),
            });
        }
    }
    Ok(roots)
}

/// The TLS error under a failed request, if that is why it failed.
pub(crate) fn handshake_error(error: &reqwest::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        // An io::Error's source() skips the error it wraps: step into it.
        source = match cause.downcast_ref::<std::io::Error>().and_then(|e| e.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    None
}

/// For `--insecure`: trusts any certificate (self-signed, expired, another name).
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_both_configs() {
        assert!(client_config(false, None).is_ok());
        assert!(client_config(true, None).is_ok());
        let missing = client_config(false, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/ca.pem"));
    }
}
