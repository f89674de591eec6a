//! Git LFS objects of a checked-out repository, fetched through the LFS batch
//! API (git-lfs is not needed, and no library speaks the protocol).
//!
//! Model repositories keep their weights in LFS: a checkout holds small
//! pointer files (`version https://git-lfs.github.com/spec/v1`, `oid
//! sha256:<hex>`, `size <n>`) in their place. Every pointer found is asked for
//! in one `POST <endpoint>/objects/batch` per hundred objects (the endpoint is
//! the remote's `<url>.git/info/lfs`, or `lfs.url` of the repository's
//! `.lfsconfig`), each object is downloaded from the `href` the server gives,
//! with the headers it gives, hashed as it streams into the build's scratch
//! directory, and must match its pointer's sha256 and size. The pointer's
//! entry then names the downloaded file, so the layer holds the real bytes.
//! An object several steps of one build check out is fetched once.
//!
//! The remote's credentials go to the LFS endpoint and to downloads on the
//! same origin only: a server that sends downloads elsewhere (object storage)
//! signs those URLs or names their headers itself.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::git::{Remote, redact};
use super::tree::{Data, Node, Tree};
use super::url::{chain, client};

/// Pointer files are small (the spec's limit); larger files are never read.
const POINTER_MAX: u64 = 1024;
/// Objects asked for in one batch request (git-lfs's own batch size).
const BATCH: usize = 100;
const MEDIA_TYPE: &str = "application/vnd.git-lfs+json";

/// What a pointer file points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    /// The sha256 of the object, in hex.
    pub(crate) oid: String,
    pub(crate) size: u64,
}

/// Reads a pointer file; `None` when the bytes are not one.
pub(crate) fn parse_pointer(bytes: &[u8]) -> Option<Pointer> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.lines();
    let version = lines.next()?.strip_prefix("version ")?;
    if version != "https://git-lfs.github.com/spec/v1" && version != "https://hawser.github.com/spec/v1" {
        return None;
    }
    let (mut oid, mut size) = (None, None);
    for line in lines.filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once(' ')?;
        match key {
            "oid" => oid = Some(value.strip_prefix("sha256:")?),
            "size" => size = Some(value.parse::<u64>().ok()?),
            _ => {}
        }
    }
    let oid = oid?;
    if oid.len() != 64 || !oid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some(Pointer { oid: oid.to_string(), size: size? })
}

/// How to download one object, as the batch response says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Action {
    href: String,
    header: Vec<(String, String)>,
}

/// One object of a batch response: its download, or the server's error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    oid: String,
    download: Result<Action, String>,
}

fn parse_batch(body: &[u8]) -> Result<Vec<Answer>, String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the batch response is not JSON: {e}"))?;
    let objects = json["objects"].as_array().ok_or("the batch response lists no objects")?;
    let mut answers = Vec::new();
    for object in objects {
        let oid = object["oid"].as_str().ok_or("a batch response object has no oid")?.to_string();
        let download = if let Some(error) = object.get("error").filter(|e| !e.is_null()) {
            let message = error["message"].as_str().unwrap_or("no message");
            Err(match error["code"].as_u64() {
                Some(code) => format!("{message} (error {code})"),
                None => message.to_string(),
            })
        } else {
            let action = &object["actions"]["download"];
            match action["href"].as_str() {
                Some(href) => {
                    let header = action["header"]
                        .as_object()
                        .map(|h| h.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
                        .unwrap_or_default();
                    Ok(Action { href: href.to_string(), header })
                }
                None => Err("the server gave no download for it".to_string()),
            }
        };
        answers.push(Answer { oid, download });
    }
    Ok(answers)
}

/// Where to ask for objects, and as whom.
struct Endpoint {
    url: String,
    auth: Option<(String, String)>,
}

impl Endpoint {
    /// `lfs_url` (from `.lfsconfig`) or the remote's own endpoint.
    fn new(remote: &Remote, lfs_url: Option<&str>) -> Endpoint {
        let Some(lfs_url) = lfs_url else {
            return Endpoint { url: remote.lfs_endpoint(), auth: remote.auth.clone() };
        };
        let own = Remote::parse(lfs_url).unwrap_or_else(|_| Remote { url: lfs_url.to_string(), ..remote.clone() });
        let auth = own.auth.or_else(|| remote.auth.clone().filter(|_| origin(&own.url) == origin(&remote.url)));
        Endpoint { url: own.url.trim_end_matches('/').to_string(), auth }
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    &url[..end]
}

/// Replaces every LFS pointer in `files` (a checkout, `dir` on disk) by its
/// object, downloaded into `scratch`. Returns how many objects were fetched.
pub(crate) fn fetch(
    files: &mut Tree,
    dir: &Path,
    remote: &Remote,
    ref_name: Option<&str>,
    scratch: &Path,
    reporter: &dyn super::Reporter,
) -> Result<usize, String> {
    // oid -> (size, the paths pointing at it)
    let mut wanted: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    for (path, entry) in &files.entries {
        let Node::File { data: Data::Disk(on_disk), size } = &entry.node else { continue };
        if *size > POINTER_MAX || path == ".git" || path.starts_with(".git/") {
            continue;
        }
        let bytes = std::fs::read(on_disk).map_err(|e| format!("{}: {e}", on_disk.display()))?;
        if let Some(pointer) = parse_pointer(&bytes) {
            wanted.entry(pointer.oid).or_insert((pointer.size, Vec::new())).1.push(path.clone());
        }
    }
    if wanted.is_empty() {
        return Ok(0);
    }
    let lfs_url = super::git::lfs_url_override(dir, remote)?;
    let endpoint = Endpoint::new(remote, lfs_url.as_deref());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut fetched: BTreeMap<String, PathBuf> = BTreeMap::new();
    let oids: Vec<&String> = wanted.keys().collect();
    for batch in oids.chunks(BATCH) {
        let objects: Vec<(&str, u64)> = batch.iter().map(|oid| (oid.as_str(), wanted[*oid].0)).collect();
        let answers = runtime.block_on(ask(&endpoint, &objects, ref_name))?;
        for (oid, size) in objects {
            let name = &wanted[oid].1[0];
            let answer = answers.iter().find(|a| a.oid == oid);
            let action = match answer.map(|a| &a.download) {
                Some(Ok(action)) => action,
                Some(Err(message)) => return Err(format!("{name}: Git LFS object {oid}: {message}")),
                None => return Err(format!("{name}: the Git LFS server did not answer for object {oid}")),
            };
            fetched.insert(
                oid.to_string(),
                runtime.block_on(download(&endpoint, action, scratch, name, oid, size, reporter))?,
            );
        }
    }
    for (oid, (size, paths)) in &wanted {
        for path in paths {
            if let Some(entry) = files.entries.get_mut(path) {
                entry.node = Node::File { data: Data::Disk(fetched[oid].clone()), size: *size };
            }
        }
    }
    Ok(fetched.len())
}

/// One batch request.
async fn ask(endpoint: &Endpoint, objects: &[(&str, u64)], ref_name: Option<&str>) -> Result<Vec<Answer>, String> {
    let url = format!("{}/objects/batch", endpoint.url);
    let shown = redact(&url);
    let mut body = serde_json::json!({
        "operation": "download",
        "transfers": ["basic"],
        "objects": objects.iter().map(|(oid, size)| serde_json::json!({"oid": oid, "size": size})).collect::<Vec<_>>(),
    });
    if let Some(name) = ref_name {
        body["ref"] = serde_json::json!({ "name": name });
    }
    let mut request = client()?
        .post(&url)
        .header(reqwest::header::ACCEPT, MEDIA_TYPE)
        .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
        .body(body.to_string());
    if let Some((user, password)) = &endpoint.auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.map_err(|e| redact(&format!("Git LFS batch {shown}: {}", chain(&e))))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| redact(&format!("Git LFS batch {shown}: {}", chain(&e))))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["message"].as_str().map(|m| format!(": {m}")))
            .unwrap_or_default();
        return Err(format!("Git LFS batch {shown}: HTTP {status}{message}"));
    }
    parse_batch(&bytes).map_err(|e| format!("Git LFS batch {shown}: {e}"))
}

/// Downloads one object into `scratch`, hashing as it streams, unless an
/// earlier step of the build already did; `name` is the file (of the
/// repository) errors name. Returns where the object is.
async fn download(
    endpoint: &Endpoint,
    action: &Action,
    scratch: &Path,
    name: &str,
    oid: &str,
    size: u64,
    reporter: &dyn super::Reporter,
) -> Result<PathBuf, String> {
    // Only checked objects get this name.
    let done = scratch.join(format!("lfs-{oid}"));
    if done.is_file() {
        return Ok(done);
    }
    let path = scratch.join(format!("lfs-{oid}.partial"));
    let shown = redact(&action.href);
    let failed = |e: String| format!("{name}: downloading its Git LFS object from {shown}: {e}");
    let mut request = client()?.get(&action.href);
    for (key, value) in &action.header {
        request = request.header(key.as_str(), value.as_str());
    }
    let has_authorization = action.header.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    if let Some((user, password)) = endpoint.auth.as_ref().filter(|_| !has_authorization)
        && origin(&action.href) == origin(&endpoint.url)
    {
        request = request.basic_auth(user, Some(password));
    }
    let mut response = request.send().await.map_err(|e| failed(redact(&chain(&e))))?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP {}", response.status())));
    }
    let mut file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let label = format!("{name} (Git LFS)");
    reporter.download_started(&label, Some(size), 0);
    let mut hasher = sha2::Sha256::new();
    let mut have = 0u64;
    let streamed = loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                have += bytes.len() as u64;
                if have > size {
                    break Err(format!("{name}: its Git LFS object is larger than the {size} bytes its pointer says"));
                }
                hasher.update(&bytes);
                file.write_all(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                reporter.downloaded(bytes.len() as u64);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(failed(format!("stopped after {have} bytes: {}", redact(&chain(&e))))),
        }
    };
    reporter.download_finished(&label);
    streamed?;
    if have != size {
        return Err(format!("{name}: its Git LFS object has {have} bytes, its pointer says {size}"));
    }
    let got: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got != oid {
        return Err(format!("{name}: its Git LFS object's sha256 is {got}, its pointer says {oid}"));
    }
    std::fs::rename(&path, &done).map_err(|e| format!("{}: {e}", done.display()))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    #[test]
    fn pointers() {
        let text = format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n");
        assert_eq!(parse_pointer(text.as_bytes()), Some(Pointer { oid: OID.into(), size: 12345 }));
        let extension = format!("version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{OID}\n");
        assert_eq!(parse_pointer(format!("{extension}oid sha256:{OID}\nsize 1").as_bytes()).unwrap().size, 1);
        for bad in [
            "version https://example.com/spec/v9\noid sha256:{OID}\nsize 1\n".replace("{OID}", OID),
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\n"),
            format!("version https://git-lfs.github.com/spec/v1\noid md5:{OID}\nsize 1\n"),
            "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n".into(),
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize -1\n"),
            "GGUF\x03\0\0\0".into(),
        ] {
            assert_eq!(parse_pointer(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_pointer(&[0xff, 0xfe]), None);
    }

    #[test]
    fn batch_responses() {
        let body = serde_json::json!({
            "transfer": "basic",
            "objects": [
                {"oid": "a", "size": 1, "actions": {"download": {"href": "https://s/a", "header": {"X-Token": "t"}, "expires_in": 60}}},
                {"oid": "b", "size": 2, "error": {"code": 404, "message": "Object does not exist"}},
                {"oid": "c", "size": 3}
            ]
        });
        let answers = parse_batch(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            answers[0].download,
            Ok(Action { href: "https://s/a".into(), header: vec![("X-Token".into(), "t".into())] })
        );
        assert_eq!(answers[1].download, Err("Object does not exist (error 404)".into()));
        assert_eq!(answers[2].download, Err("the server gave no download for it".into()));
        assert!(parse_batch(b"{}").unwrap_err().contains("no objects"));
        assert!(parse_batch(b"<html>").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn endpoints_and_their_credentials() {
        let remote = Remote::parse("https://u:p@git.example/team/m.git").unwrap();
        let own = Endpoint::new(&remote, None);
        assert_eq!((own.url.as_str(), own.auth.is_some()), ("https://git.example/team/m.git/info/lfs", true));
        let same = Endpoint::new(&remote, Some("https://git.example/lfs/"));
        assert_eq!((same.url.as_str(), same.auth.is_some()), ("https://git.example/lfs", true));
        let other = Endpoint::new(&remote, Some("https://lfs.example/m"));
        assert!(other.auth.is_none(), "credentials stay with their host");
        assert_eq!(origin("http://127.0.0.1:80/x/y"), "http://127.0.0.1:80");
    }
}
