//! [`GitServer`]: bare repositories served over git's smart HTTP protocol by
//! git's own `git http-backend` CGI, with a Git LFS batch endpoint beside them,
//! for the tests of `hoist build`'s ADD of git repositories.
//!
//! Hand-written on std threads (one per connection, one request each) as the
//! other servers of this kit are: the CGI gateway is a few lines, and the LFS
//! side must do what a test asks (require credentials, serve a corrupt object)
//! and count what it served. `POST /<repo>.git/info/lfs/objects/batch`
//! answers each object with `GET /lfs/objects/<oid>` on this server and a
//! header the download must carry; objects are files named by their oid.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::require_tool;

/// The header (and its value) every LFS download must carry, as the batch
/// response tells the client.
pub const LFS_TOKEN_HEADER: (&str, &str) = ("X-Lfs-Token", "hoist-testkit");

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub status: u16,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
}

struct Shared {
    repos: PathBuf,
    lfs: PathBuf,
    /// `Basic <base64>` the LFS endpoint requires, if any.
    lfs_auth: Option<String>,
    corrupt: Mutex<HashSet<String>>,
    requests: Mutex<Vec<GitRequest>>,
    lfs_bytes: AtomicU64,
    stop: AtomicBool,
}

/// A git smart-HTTP and Git LFS server on a free `127.0.0.1` port; stops on drop.
///
/// ```no_run
/// use hoist_testkit::GitServer;
///
/// let server = GitServer::start(None);
/// // git init --bare server.repos()/team/model.git, push to it ...
/// let oid = server.add_lfs_object(b"weights");
/// let url = server.url("team/model.git");
/// // ... ADD {url}#main /model/ ...
/// assert_eq!(server.lfs_bytes_served(), 7);
/// # let _ = (oid, url);
/// ```
pub struct GitServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl GitServer {
    /// Starts the server; with `lfs_credentials`, the LFS batch endpoint wants
    /// them as HTTP Basic (the git side stays anonymous).
    ///
    /// # Panics
    ///
    /// When git is missing (with the command that installs it) or no port can be bound.
    pub fn start(lfs_credentials: Option<(&str, &str)>) -> GitServer {
        require_tool("git");
        let dir = tempfile::tempdir().expect("temp dir");
        let (repos, lfs) = (dir.path().join("repos"), dir.path().join("lfs"));
        std::fs::create_dir_all(&repos).expect("repos dir");
        std::fs::create_dir_all(&lfs).expect("lfs dir");
        let lfs_auth = lfs_credentials
            .map(|(u, p)| format!("Basic {}", data_encoding::BASE64.encode(format!("{u}:{p}").as_bytes())));
        let shared = Arc::new(Shared {
            repos,
            lfs,
            lfs_auth,
            corrupt: Mutex::default(),
            requests: Mutex::default(),
            lfs_bytes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let state = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("git-server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if state.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    let _ = std::thread::Builder::new().name("git-server-conn".into()).spawn(move || {
                        let _ = serve(stream, address, &state);
                    });
                }
            })
            .expect("start the server thread");
        GitServer { address, shared, accept: Some(accept), _dir: dir }
    }

    /// Where bare repositories go: `repos()/team/model.git` is served as `url("team/model.git")`.
    pub fn repos(&self) -> &Path {
        &self.shared.repos
    }

    /// `http://127.0.0.1:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}", self.address)
    }

    /// Stores an LFS object; returns its oid (the sha256 of `bytes`, in hex).
    pub fn add_lfs_object(&self, bytes: &[u8]) -> String {
        let oid = data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        std::fs::write(self.shared.lfs.join(&oid), bytes).expect("write the LFS object");
        oid
    }

    /// From now on, serves the object `oid` with its first byte flipped.
    pub fn corrupt_lfs_object(&self, oid: &str) {
        lock(&self.shared.corrupt).insert(oid.to_string());
    }

    /// Bytes of LFS objects sent so far.
    pub fn lfs_bytes_served(&self) -> u64 {
        self.shared.lfs_bytes.load(Ordering::SeqCst)
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<GitRequest> {
        lock(&self.shared.requests).clone()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A request: its first line's parts, headers and decoded body.
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A response to send.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, value: &Value) -> Response {
        let headers = vec![("Content-Type".into(), "application/vnd.git-lfs+json".into())];
        Response { status, headers, body: value.to_string().into_bytes() }
    }
}

fn serve(stream: TcpStream, address: SocketAddr, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let request = read_request(&mut reader, &mut writer)?;
    let response = if request.method == "POST" && request.path.ends_with("/info/lfs/objects/batch") {
        batch(&request, address, shared)
    } else if let Some(oid) = request.path.strip_prefix("/lfs/objects/") {
        object(&request, oid, shared)
    } else {
        cgi(&request, shared)?
    };
    lock(&shared.requests).push(GitRequest {
        method: request.method.clone(),
        path: request.path.clone(),
        status: response.status,
        authorization: request.header("authorization").is_some(),
    });
    let mut head = format!("HTTP/1.1 {} X\r\n", response.status);
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", response.body.len()));
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()
}

fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> std::io::Result<Request> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = Request { method, path, query, headers, body: Vec::new() };
    if request.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if request.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        request.body = vec![0; length];
        reader.read_exact(&mut request.body)?;
    }
    Ok(request)
}

/// The LFS batch endpoint: a download for every object the server holds.
fn batch(request: &Request, address: SocketAddr, shared: &Shared) -> Response {
    if let Some(expected) = &shared.lfs_auth
        && request.header("authorization") != Some(expected.as_str())
    {
        let mut response = Response::json(401, &json!({"message": "Credentials needed"}));
        response.headers.push(("LFS-Authenticate".into(), "Basic realm=\"lfs\"".into()));
        return response;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return Response::json(422, &json!({"message": "the request is not JSON"}));
    };
    let objects: Vec<Value> = body["objects"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|o| {
            let oid = o["oid"].as_str().unwrap_or_default();
            let size = o["size"].as_u64().unwrap_or_default();
            let known = oid.bytes().all(|b| b.is_ascii_hexdigit()) && shared.lfs.join(oid).is_file();
            if known {
                let href = format!("http://{address}/lfs/objects/{oid}");
                let header = json!({ LFS_TOKEN_HEADER.0: LFS_TOKEN_HEADER.1 });
                json!({"oid": oid, "size": size, "actions": {"download": {"href": href, "header": header}}})
            } else {
                json!({"oid": oid, "size": size, "error": {"code": 404, "message": "Object does not exist"}})
            }
        })
        .collect();
    Response::json(200, &json!({"transfer": "basic", "objects": objects}))
}

/// An LFS object, to a request that carries the batch response's header.
fn object(request: &Request, oid: &str, shared: &Shared) -> Response {
    let text = |status: u16, message: &str| Response { status, headers: Vec::new(), body: message.as_bytes().to_vec() };
    if request.header(LFS_TOKEN_HEADER.0) != Some(LFS_TOKEN_HEADER.1) {
        return text(403, "the download header is missing");
    }
    if !oid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return text(404, "no such object");
    }
    let Ok(mut bytes) = std::fs::read(shared.lfs.join(oid)) else {
        return text(404, "no such object");
    };
    if lock(&shared.corrupt).contains(oid)
        && let Some(first) = bytes.first_mut()
    {
        *first ^= 0xff;
    }
    shared.lfs_bytes.fetch_add(bytes.len() as u64, Ordering::SeqCst);
    Response { status: 200, headers: vec![("Content-Type".into(), "application/octet-stream".into())], body: bytes }
}

/// Git's smart HTTP through `git http-backend`, as a web server runs a CGI.
fn cgi(request: &Request, shared: &Shared) -> std::io::Result<Response> {
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.repos)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REQUEST_METHOD", &request.method)
        .env("CONTENT_TYPE", request.header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // Protocol v2 and gzip request bodies, as a web server passes them on.
    if let Some(protocol) = request.header("git-protocol") {
        command.env("GIT_PROTOCOL", protocol);
    }
    if let Some(encoding) = request.header("content-encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = request.body.clone();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut out = Vec::new();
    child.stdout.take().expect("piped stdout").read_to_end(&mut out)?;
    child.wait()?;
    let _ = feeder.join();
    let (head_end, sep) = match (find(&out, b"\r\n\r\n"), find(&out, b"\n\n")) {
        (Some(a), Some(b)) if b < a => (b, 2),
        (Some(a), _) => (a, 4),
        (None, Some(b)) => (b, 2),
        (None, None) => (out.len(), 0),
    };
    let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
    let mut response =
        Response { status: 200, headers: Vec::new(), body: out[(head_end + sep).min(out.len())..].to_vec() };
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            response.status = value.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(500);
        } else if !name.eq_ignore_ascii_case("content-length") {
            response.headers.push((name.trim().to_string(), value.to_string()));
        }
    }
    Ok(response)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
