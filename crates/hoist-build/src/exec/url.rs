//! ADD of http(s) URLs: the file is downloaded into the store's `ingest/`
//! (so a build interrupted mid-download resumes it the next time with a
//! `Range` request from the byte it reached), checked against `--checksum`
//! (`sha256:`, `sha384:` or `sha512:`, hashed once complete) and then handed
//! to the layer like a context file. A failed check removes what was
//! downloaded. TLS trusts the system's roots, else Mozilla's.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::Digest as _;

/// A `--checksum` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checksum {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Checksum {
    pub(crate) fn parse(text: &str) -> Result<Checksum, String> {
        let bad = || format!("--checksum={text}: expected sha256:, sha384: or sha512: and the digest in hex");
        let (name, hex) = text.split_once(':').ok_or_else(bad)?;
        let (algorithm, len) = match name {
            "sha256" => (Algorithm::Sha256, 64),
            "sha384" => (Algorithm::Sha384, 96),
            "sha512" => (Algorithm::Sha512, 128),
            _ => return Err(bad()),
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Checksum { algorithm, hex: hex.to_ascii_lowercase() })
    }
}

/// The hashes a download needs: sha256 always (the cache key of a URL without
/// a checksum), and the checksum's own.
struct Hashers {
    sha256: sha2::Sha256,
    other: Option<Box<dyn sha2::digest::DynDigest>>,
}

impl Hashers {
    fn new(checksum: Option<&Checksum>) -> Hashers {
        let other: Option<Box<dyn sha2::digest::DynDigest>> = match checksum.map(|c| c.algorithm) {
            Some(Algorithm::Sha384) => Some(Box::new(sha2::Sha384::new())),
            Some(Algorithm::Sha512) => Some(Box::new(sha2::Sha512::new())),
            _ => None,
        };
        Hashers { sha256: sha2::Sha256::new(), other }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if let Some(other) = &mut self.other {
            other.update(bytes);
        }
    }

    /// The sha256, and the checksum's digest (the same for sha256), in hex.
    fn finish(self) -> (String, String) {
        let sha256 = hex(&self.sha256.finalize());
        let other = self.other.map(|o| hex(&o.finalize())).unwrap_or_else(|| sha256.clone());
        (sha256, other)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file downloaded and checked.
pub(crate) struct Downloaded {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    /// `sha256:<hex>` of its bytes.
    pub(crate) digest: String,
}

/// Downloads `url` into `scratch`, resuming what an earlier build left in `ingest`.
pub(crate) fn download(
    url: &str,
    checksum: Option<&Checksum>,
    ingest: &Path,
    scratch: &Path,
    reporter: &dyn super::Reporter,
) -> Result<Downloaded, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let name = format!("url-{}", hoist_oci::Digest::of(url.as_bytes()).hex());
    let partial = ingest.join(format!("{name}.partial"));
    // Two builds fetching one URL take turns: the second resumes (or, once the
    // first has taken the file, restarts) rather than writing into it at once.
    let lock_path = ingest.join(format!("{name}.lock"));
    let lock = File::create(&lock_path).and_then(|f| f.lock().map(|()| f));
    let _lock = lock.map_err(|e| format!("{}: {e}", lock_path.display()))?;
    let size = runtime.block_on(fetch(url, &partial, reporter));
    reporter.download_finished(url);
    let size = size?;
    let mut hashers = Hashers::new(checksum);
    let mut file = File::open(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("{}: {e}", partial.display()))?;
        if n == 0 {
            break;
        }
        hashers.update(&buf[..n]);
    }
    let (sha256, got) = hashers.finish();
    if let Some(expected) = checksum
        && expected.hex != got
    {
        // Bytes that fail the check are worth nothing, not even to resume from.
        let _ = std::fs::remove_file(&partial);
        let name = format!("{:?}", expected.algorithm).to_lowercase();
        return Err(format!("checksum mismatch: expected {name}:{}, downloaded {name}:{got}", expected.hex));
    }
    let path = tempfile::Builder::new()
        .prefix("url-")
        .tempfile_in(scratch)
        .and_then(|f| f.into_temp_path().keep().map_err(|e| e.error))
        .map_err(|e| e.to_string())?;
    std::fs::rename(&partial, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Downloaded { path, size, digest: format!("sha256:{sha256}") })
}

/// Fetches `url` into `partial`, from the byte it already holds where the
/// server takes a `Range`; returns the file's size.
async fn fetch(url: &str, partial: &Path, reporter: &dyn super::Reporter) -> Result<u64, String> {
    let client = client()?;
    let mut have = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().await.map_err(|e| chain(&e))?;
    let status = response.status();
    let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT
        && response
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(&format!("bytes {have}-")));
    if !resumed {
        if !status.is_success() || status == reqwest::StatusCode::PARTIAL_CONTENT {
            return Err(format!("HTTP {status}"));
        }
        // The whole file again: the server ignored the range (or there was none).
        have = 0;
    }
    // Created only once the server answers with the file: a failed request leaves nothing.
    let open = OpenOptions::new().create(true).truncate(false).write(true).open(partial);
    let mut file = open.map_err(|e| format!("{}: {e}", partial.display()))?;
    file.set_len(have).map_err(|e| e.to_string())?;
    file.seek(SeekFrom::Start(have)).map_err(|e| e.to_string())?;
    let expected = response.content_length().map(|n| have + n);
    reporter.download_started(url, expected, have);
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                file.write_all(&bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
                have += bytes.len() as u64;
                reporter.downloaded(bytes.len() as u64);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(format!(
                    "the download stopped after {have} bytes ({}); the next build resumes it",
                    chain(&e)
                ));
            }
        }
    }
    if let Some(expected) = expected
        && expected != have
    {
        return Err(format!("the download stopped after {have} of {expected} bytes; the next build resumes it"));
    }
    file.sync_all().map_err(|e| e.to_string())?;
    Ok(have)
}

/// An error and its causes on one line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

pub(crate) fn client() -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        let sha = "a".repeat(64);
        assert_eq!(Checksum::parse(&format!("sha256:{sha}")).unwrap().hex, sha);
        assert_eq!(Checksum::parse(&format!("sha384:{}", "B".repeat(96))).unwrap().hex, "b".repeat(96));
        assert!(Checksum::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        for bad in ["md5:abc", "sha256", &format!("sha256:{}", "a".repeat(63)), &format!("sha256:{}", "g".repeat(64))] {
            assert!(Checksum::parse(bad).unwrap_err().starts_with(&format!("--checksum={bad}: ")), "{bad}");
        }
        let mut h = Hashers::new(Some(&Checksum::parse(&format!("sha512:{}", "0".repeat(128))).unwrap()));
        h.update(b"abc");
        let (sha256, sha512) = h.finish();
        assert_eq!(sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(sha512.starts_with("ddaf35a193617aba"));
    }
}
