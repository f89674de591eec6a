//! [`FaultProxy`]: an HTTP/1.1 reverse proxy in front of a plain-HTTP
//! [`RegistryServer`] that counts the body bytes it serves and breaks responses
//! on request: error statuses, connections reset or closed mid-body, flipped bytes.
//!
//! Hand-written on std threads (one per client connection, one fresh upstream
//! connection per request) rather than on hyper, because the faults it injects are
//! exactly what an HTTP library exists to prevent: a body cut short of its
//! `Content-Length`, a TCP reset after a given byte. Bodies are decoded
//! (`Content-Length`, chunked, or up to the close) so that offsets and counts are
//! of body bytes, and re-sent in the same framing.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::RegistryServer;

/// The longest request or response head read (status line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Body bytes moved at once.
const PIECE: usize = 64 * 1024;
/// A stalled peer fails the request rather than hanging the test forever.
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// A fault to inject into the responses to `GET` (and, for [`Fault::Status`], `HEAD`)
/// requests whose path (without the query) contains `path`, e.g.
/// `"/blobs/sha256:<hex>"` or `"/manifests/"`.
///
/// Rules are tried in the order given to [`FaultProxy::set_faults`]; the first that
/// matches and has uses left applies. Body faults (all but `Status`) apply only to
/// successful responses that carry a body, so a `HEAD` does not use them up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Reset the connection (TCP RST) after `after` body bytes, `times` times (then pass).
    ResetMidBody { path: String, after: u64, times: usize },
    /// Answer `status` (500, 503, 429 …), with `Retry-After: <seconds>` if given,
    /// instead of forwarding the request, `times` times.
    Status { path: String, status: u16, retry_after: Option<u64>, times: usize },
    /// Send only `keep` body bytes of the response (fewer than its `Content-Length`
    /// says), then close the connection cleanly (FIN), `times` times.
    Truncate { path: String, keep: u64, times: usize },
    /// Flip every bit of the body byte at `offset` (counted from the start of
    /// the response body, so of the range for a ranged request), every time.
    FlipByte { path: String, offset: u64 },
    /// Answer `307 Temporary Redirect` to the same path and query on
    /// `http://{to}` (another proxy, say: storage a registry sends clients to),
    /// `times` times.
    Redirect { path: String, to: String, times: usize },
}

impl Fault {
    fn path(&self) -> &str {
        match self {
            Fault::ResetMidBody { path, .. }
            | Fault::Status { path, .. }
            | Fault::Truncate { path, .. }
            | Fault::FlipByte { path, .. }
            | Fault::Redirect { path, .. } => path,
        }
    }

    /// Whether the rule answers instead of the upstream (so it applies to HEAD too).
    fn is_status(&self) -> bool {
        matches!(self, Fault::Status { .. } | Fault::Redirect { .. })
    }

    /// Uses one of the rule's `times`; false when none is left.
    fn take(&mut self) -> bool {
        let times = match self {
            Fault::ResetMidBody { times, .. }
            | Fault::Status { times, .. }
            | Fault::Truncate { times, .. }
            | Fault::Redirect { times, .. } => times,
            Fault::FlipByte { .. } => return true,
        };
        if *times == 0 {
            return false;
        }
        *times -= 1;
        true
    }
}

/// One request the proxy received. Listed when it arrives; its status, fault and
/// body bytes are filled in before the client can see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedRequest {
    pub method: String,
    /// The request path, without the query.
    pub path: String,
    /// The request's `Range` header.
    pub range: Option<String>,
    /// Whether the request carried an `Authorization` header (never its value).
    pub authorization: bool,
    /// The status sent to the client (502 when the upstream could not be reached;
    /// 0 while the upstream has not answered, or when it never did).
    pub status: u16,
    /// Body bytes of the upstream's response sent to the client (0 for an
    /// injected status, whose small error body is not counted).
    pub body_bytes: u64,
    /// The fault applied to this request, if any.
    pub fault: Option<Fault>,
}

/// A fault-injecting HTTP/1.1 reverse proxy on `127.0.0.1`, in front of a
/// plain-HTTP registry. Stops listening and closes its client connections on drop.
///
/// ```no_run
/// use hoist_testkit::{Fault, FaultProxy, RegistryServer};
///
/// let registry = RegistryServer::anonymous();
/// let proxy = FaultProxy::start(&registry);
/// proxy.set_faults(vec![Fault::Status { path: "/manifests/".into(), status: 503, retry_after: Some(1), times: 2 }]);
/// // ... point the client under test at proxy.host() ...
/// assert!(proxy.requests().iter().filter(|r| r.status == 503).count() <= 2);
/// ```
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: String,
    faults: Mutex<Vec<Fault>>,
    served: Mutex<Vec<ServedRequest>>,
    body_bytes: AtomicU64,
    stop: AtomicBool,
    /// Open client connections, to close on drop; the handler removes its own.
    clients: Mutex<HashMap<u64, TcpStream>>,
}

impl FaultProxy {
    /// Starts a proxy for `upstream`, which must serve plain HTTP.
    ///
    /// # Panics
    ///
    /// When the registry serves TLS, or no loopback port can be bound.
    pub fn start(upstream: &RegistryServer) -> FaultProxy {
        assert!(
            upstream.base_url().starts_with("http://"),
            "FaultProxy forwards plain HTTP only; start the registry with tls: false"
        );
        FaultProxy::start_for(upstream.host())
    }

    /// A proxy for any plain-HTTP server at `host` (`127.0.0.1:PORT`).
    fn start_for(upstream: String) -> FaultProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::default(),
            served: Mutex::default(),
            body_bytes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            clients: Mutex::default(),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fault-proxy".into())
                .spawn(move || accept_loop(listener, address, shared))
                .expect("start the proxy thread")
        };
        FaultProxy { address, shared, accept: Some(accept) }
    }

    /// `127.0.0.1:PORT`: the registry part of a reference that goes through the proxy.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// Replaces the fault rules (an empty list forwards everything untouched).
    pub fn set_faults(&self, faults: Vec<Fault>) {
        *lock(&self.shared.faults) = faults;
    }

    /// The rules as they are now, with the `times` left.
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).clone()
    }

    /// Body bytes of upstream responses sent to clients so far (counted as they
    /// are written, so also those of a response cut short).
    pub fn body_bytes_served(&self) -> u64 {
        self.shared.body_bytes.load(Ordering::SeqCst)
    }

    /// Body bytes sent for the requests whose path contains `path`.
    pub fn body_bytes_served_for(&self, path: &str) -> u64 {
        lock(&self.shared.served).iter().filter(|r| r.path.contains(path)).map(|r| r.body_bytes).sum()
    }

    /// Every request received so far, in the order they arrived.
    pub fn requests(&self) -> Vec<ServedRequest> {
        lock(&self.shared.served).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for (_, client) in lock(&self.shared.clients).drain() {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(listener: TcpListener, address: SocketAddr, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.clients).insert(id, clone);
        }
        let handler_shared = Arc::clone(&shared);
        let proxy_host = address.to_string();
        let spawned = std::thread::Builder::new().name(format!("fault-proxy-{id}")).spawn(move || {
            let _ = serve_client(stream, id, &proxy_host, &handler_shared);
            lock(&handler_shared.clients).remove(&id);
        });
        if spawned.is_err() {
            lock(&shared.clients).remove(&id);
        }
    }
}

impl Shared {
    /// The first rule (in list order) for `path` that `applies` to the request
    /// and has uses left, using one; with its index for [`Shared::give_back`].
    fn take_fault(&self, path: &str, applies: impl Fn(&Fault) -> bool) -> Option<(usize, Fault)> {
        let mut faults = lock(&self.faults);
        faults
            .iter_mut()
            .enumerate()
            .find_map(|(i, f)| (applies(f) && path.contains(f.path()) && f.take()).then(|| (i, f.clone())))
    }

    /// Returns the use of a body fault taken for a response that had no body to break.
    fn give_back(&self, index: usize, taken: &Fault) {
        let mut faults = lock(&self.faults);
        // Unless the rules were replaced in the meantime.
        if let Some(rule) = faults.get_mut(index)
            && std::mem::discriminant(rule) == std::mem::discriminant(taken)
            && rule.path() == taken.path()
            && let Fault::ResetMidBody { times, .. } | Fault::Truncate { times, .. } = rule
        {
            *times = times.saturating_add(1);
        }
    }

    /// Lists a request as soon as it arrives (so that a client that has its
    /// answer never sees it missing); returns its slot for [`Shared::update`].
    fn record(&self, request: ServedRequest) -> usize {
        let mut served = lock(&self.served);
        served.push(request);
        served.len() - 1
    }

    fn update(&self, slot: usize, change: impl FnOnce(&mut ServedRequest)) {
        if let Some(request) = lock(&self.served).get_mut(slot) {
            change(request);
        }
    }
}

/// A TCP stream with a read buffer (no `BufReader` over a clone: a reset needs
/// the last handle of the socket to close with linger 0).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Conn {
    fn new(stream: TcpStream) -> io::Result<Conn> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::new(), start: 0 })
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads more into the buffer; false at EOF.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        let mut piece = [0u8; PIECE];
        let n = self.stream.read(&mut piece)?;
        self.buf.extend_from_slice(&piece[..n]);
        Ok(n > 0)
    }

    /// The head up to and including the blank line; `None` at EOF before any byte.
    fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = find(self.buffered(), b"\r\n\r\n") {
                let head = self.buffered()[..end + 4].to_vec();
                self.start += end + 4;
                return Ok(Some(head));
            }
            // A TLS ClientHello (0x16) is never going to end in a blank line.
            if self.buffered().first().is_some_and(|b| !b.is_ascii_alphabetic()) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "not HTTP"));
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
            }
            if !self.fill()? {
                return if self.buffered().is_empty() { Ok(None) } else { Err(eof("in a head")) };
            }
        }
    }

    /// One CRLF-terminated line, without the CRLF.
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = find(self.buffered(), b"\r\n") {
                let line = self.buffered()[..end].to_vec();
                self.start += end + 2;
                return Ok(line);
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if !self.fill()? {
                return Err(eof("in a chunk header"));
            }
        }
    }

    /// Up to `max` bytes (at least one); empty at EOF.
    fn read_some(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buffered().is_empty() && !self.fill()? {
            return Ok(Vec::new());
        }
        let n = self.buffered().len().min(max);
        let piece = self.buffered()[..n].to_vec();
        self.start += n;
        Ok(piece)
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn eof(context: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("connection closed {context}"))
}

/// A parsed request or response head.
struct Head {
    /// `GET /v2/ HTTP/1.1` or `HTTP/1.1 200 OK`, split at spaces (at most 3 parts).
    first: Vec<String>,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> io::Result<Head> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 head"))?;
        let mut lines = text.split("\r\n");
        let first: Vec<String> = lines.next().unwrap_or_default().splitn(3, ' ').map(str::to_string).collect();
        if first.len() < 2 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad first line"));
        }
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap_or((l, ""));
                (name.trim().to_string(), value.trim().to_string())
            })
            .collect();
        Ok(Head { first, headers })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// How the body that follows this head is framed (not for bodiless responses).
    fn framing(&self, until_close_default: bool) -> io::Result<Framing> {
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        match self.get("content-length") {
            Some(length) => length
                .parse()
                .map(Framing::Length)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")),
            None if until_close_default => Ok(Framing::UntilClose),
            None => Ok(Framing::Length(0)),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Headers that belong to one connection, not to the message.
fn hop_by_hop(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection", "expect", "te", "upgrade"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// Serves one client connection: requests one after the other (keep-alive).
fn serve_client(stream: TcpStream, id: u64, proxy_host: &str, shared: &Shared) -> io::Result<()> {
    let mut client = Conn::new(stream)?;
    loop {
        let head = match client.read_head() {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(()),
            Err(e) => {
                // Plain text to anyone, including a TLS client hello (which is how
                // a client finds out that a loopback registry speaks plain HTTP).
                let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
                return Err(e);
            }
        };
        let request = Head::parse(&head)?;
        let keep_alive = serve_request(&mut client, &request, id, proxy_host, shared)?;
        if !keep_alive {
            // Closed when the stream and the accept loop's clone are dropped; no
            // shutdown here, which would send a FIN before a reset's RST.
            return Ok(());
        }
    }
}

/// Answers one request; whether the client connection may carry another.
fn serve_request(client: &mut Conn, request: &Head, id: u64, proxy_host: &str, shared: &Shared) -> io::Result<bool> {
    let method = request.first[0].clone();
    let target = request.first[1].clone();
    let version = request.first.get(2).cloned().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default().to_string();
    let range = request.get("range").map(str::to_string);
    let mut keep_alive = version == "HTTP/1.1" && !request.has_token("connection", "close");
    let body = request.framing(false)?;
    let expects_continue = request.has_token("expect", "100-continue");
    let slot = shared.record(ServedRequest {
        method: method.clone(),
        path: path.clone(),
        range,
        authorization: request.get("authorization").is_some(),
        status: 0,
        body_bytes: 0,
        fault: None,
    });

    // Status rules apply to GET and HEAD, body faults to GET only; the first
    // rule in list order that applies wins.
    let taken = match method.as_str() {
        "GET" => shared.take_fault(&path, |_| true),
        "HEAD" => shared.take_fault(&path, Fault::is_status),
        _ => None,
    };
    if let Some((_, fault)) = &taken
        && let Fault::Redirect { to, .. } = fault
    {
        discard_body(client, body)?;
        let response = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{to}{target}\r\nContent-Length: 0\r\n{}\r\n",
            if keep_alive { "" } else { "Connection: close\r\n" }
        );
        shared.update(slot, |r| {
            r.status = 307;
            r.fault = Some(fault.clone());
        });
        client.write_all(response.as_bytes())?;
        return Ok(keep_alive);
    }
    if let Some((_, fault @ Fault::Status { status, retry_after, .. })) = taken {
        if expects_continue {
            keep_alive = false; // the client may or may not send the body now
        } else {
            discard_body(client, body)?;
        }
        let json = format!(
            r#"{{"errors":[{{"code":"{}","message":"injected by hoist-testkit FaultProxy"}}]}}"#,
            if status == 429 { "TOOMANYREQUESTS" } else { "UNAVAILABLE" }
        );
        let mut response = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            reason(status),
            json.len()
        );
        if let Some(seconds) = retry_after {
            response.push_str(&format!("Retry-After: {seconds}\r\n"));
        }
        if !keep_alive {
            response.push_str("Connection: close\r\n");
        }
        response.push_str("\r\n");
        if method != "HEAD" {
            response.push_str(&json);
        }
        shared.update(slot, |r| {
            r.status = status;
            r.fault = Some(fault);
        });
        client.write_all(response.as_bytes())?;
        return Ok(keep_alive);
    }

    if expects_continue {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut upstream = match TcpStream::connect(&shared.upstream).and_then(Conn::new) {
        Ok(upstream) => upstream,
        Err(_) => {
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")?;
            shared.update(slot, |r| r.status = 502);
            return Ok(false);
        }
    };
    // One fresh upstream connection per request: nothing to keep in step.
    let mut out = format!("{method} {target} {version}\r\n");
    for (name, value) in request.headers.iter().filter(|(n, _)| !hop_by_hop(n)) {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes())?;
    let sent = relay_request_body(client, &mut upstream, body);

    // The response, even when sending the body failed (the registry may have
    // answered early, e.g. 401 before an upload's body).
    let response = loop {
        let Some(head) = upstream.read_head()? else {
            return Err(eof("by the upstream before a response"));
        };
        let response = Head::parse(&head)?;
        if response.first[1] != "100" {
            break response;
        }
    };
    if sent.is_err() {
        keep_alive = false;
    }
    let status: u16 = response.first[1].parse().unwrap_or(502);
    shared.update(slot, |r| r.status = status);
    let has_body = method != "HEAD" && !(100..200).contains(&status) && status != 204 && status != 304;
    let framing = if has_body { Some(response.framing(true)?) } else { None };
    if framing == Some(Framing::UntilClose) {
        keep_alive = false;
    }

    let mut out = format!("HTTP/1.1 {} {}\r\n", status, response.first.get(2).map_or("", String::as_str));
    for (name, value) in response.headers.iter().filter(|(n, _)| !hop_by_hop(n)) {
        let value = if name.eq_ignore_ascii_case("location") {
            value.replace(&format!("//{}", shared.upstream), &format!("//{proxy_host}"))
        } else {
            value.clone()
        };
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes())?;

    let Some(framing) = framing else {
        if let Some((index, fault)) = taken {
            shared.give_back(index, &fault);
        }
        return Ok(keep_alive);
    };
    // A body fault breaks successful bodies only (not a 404's error body).
    let fault = match taken {
        Some((_, fault)) if (200..300).contains(&status) => Some(fault),
        Some((index, fault)) => {
            shared.give_back(index, &fault);
            None
        }
        None => None,
    };
    shared.update(slot, |r| r.fault = fault.clone());
    match relay_response_body(&mut upstream, client, framing, fault.as_ref(), slot, shared)? {
        Cut::None => Ok(keep_alive),
        Cut::Reset => {
            reset(client, id, shared);
            Ok(false)
        }
        Cut::Close => {
            let _ = client.stream.shutdown(Shutdown::Both);
            Ok(false)
        }
    }
}

/// Closes the client connection with a TCP RST: linger 0, and the last handle.
fn reset(client: &mut Conn, id: u64, shared: &Shared) {
    let _ = client.stream.flush();
    lock(&shared.clients).remove(&id);
    let _ = socket2::SockRef::from(&client.stream).set_linger(Some(Duration::ZERO));
    // The caller returns and drops the stream: close() with linger 0 sends the RST.
}

fn reason(status: u16) -> &'static str {
    match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}

fn discard_body(client: &mut Conn, framing: Framing) -> io::Result<()> {
    read_body(client, framing, |_| Ok(()))
}

/// Reads a body in its framing, handing the decoded bytes to `sink` piece by piece.
fn read_body(from: &mut Conn, framing: Framing, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    match framing {
        Framing::Length(mut left) => {
            while left > 0 {
                let piece = from.read_some(PIECE.min(left as usize))?;
                if piece.is_empty() {
                    return Err(eof("before the end of a body"));
                }
                left -= piece.len() as u64;
                sink(&piece)?;
            }
        }
        Framing::UntilClose => loop {
            let piece = from.read_some(PIECE)?;
            if piece.is_empty() {
                break;
            }
            sink(&piece)?;
        },
        Framing::Chunked => loop {
            let line = from.read_line()?;
            let size = String::from_utf8_lossy(&line);
            let size = size.split(';').next().unwrap_or_default().trim();
            let mut left = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if left == 0 {
                // Trailers, up to the blank line.
                while !from.read_line()?.is_empty() {}
                break;
            }
            while left > 0 {
                let piece = from.read_some(PIECE.min(left as usize))?;
                if piece.is_empty() {
                    return Err(eof("in a chunk"));
                }
                left -= piece.len() as u64;
                sink(&piece)?;
            }
            if !from.read_line()?.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "no CRLF after a chunk"));
            }
        },
    }
    Ok(())
}

/// Writes body bytes in `framing` (the head already said which).
fn write_piece(to: &mut Conn, framing: Framing, piece: &[u8]) -> io::Result<()> {
    if piece.is_empty() {
        return Ok(());
    }
    match framing {
        Framing::Chunked => {
            to.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
            to.write_all(piece)?;
            to.write_all(b"\r\n")
        }
        _ => to.write_all(piece),
    }
}

fn finish_body(to: &mut Conn, framing: Framing) -> io::Result<()> {
    if framing == Framing::Chunked { to.write_all(b"0\r\n\r\n") } else { Ok(()) }
}

fn relay_request_body(client: &mut Conn, upstream: &mut Conn, framing: Framing) -> io::Result<()> {
    read_body(client, framing, |piece| write_piece(upstream, framing, piece))?;
    finish_body(upstream, framing)
}

/// How a response body ended.
enum Cut {
    /// Completely.
    None,
    /// Cut short: reset the connection.
    Reset,
    /// Cut short: close the connection cleanly.
    Close,
}

/// Copies a response body to the client, applying a body fault, counting the
/// bytes delivered in `served` and the proxy total as they are written.
fn relay_response_body(
    upstream: &mut Conn,
    client: &mut Conn,
    framing: Framing,
    fault: Option<&Fault>,
    slot: usize,
    shared: &Shared,
) -> io::Result<Cut> {
    let (limit, cut) = match fault {
        Some(Fault::ResetMidBody { after, .. }) => (Some(*after), Cut::Reset),
        Some(Fault::Truncate { keep, .. }) => (Some(*keep), Cut::Close),
        _ => (None, Cut::None),
    };
    let flip = match fault {
        Some(Fault::FlipByte { offset, .. }) => Some(*offset),
        _ => None,
    };
    let mut position = 0u64;
    let mut stopped = false;
    let result = read_body(upstream, framing, |piece| {
        let mut piece = piece.to_vec();
        if let Some(offset) = flip
            && (position..position + piece.len() as u64).contains(&offset)
        {
            piece[(offset - position) as usize] ^= 0xff;
        }
        let mut take = piece.len();
        if let Some(limit) = limit
            && position + take as u64 > limit
        {
            take = (limit - position) as usize;
            stopped = true;
        }
        // Counted before the write, so that a client that has the bytes finds them counted.
        position += take as u64;
        shared.update(slot, |r| r.body_bytes += take as u64);
        shared.body_bytes.fetch_add(take as u64, Ordering::SeqCst);
        write_piece(client, framing, &piece[..take])?;
        if stopped {
            // Stop reading the upstream: an error that only ends the copy.
            return Err(io::Error::new(io::ErrorKind::Interrupted, "fault"));
        }
        Ok(())
    });
    match result {
        Err(_) if stopped => Ok(cut),
        Err(e) => Err(e),
        Ok(()) => {
            finish_body(client, framing)?;
            Ok(Cut::None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use data_encoding::HEXLOWER;

    use super::*;
    use crate::require_tool;

    struct Curl {
        code: i32,
        body: Vec<u8>,
        stderr: String,
    }

    fn curl(args: &[&str]) -> Curl {
        let output =
            Command::new(require_tool("curl")).args(["-sS", "--max-time", "30"]).args(args).output().expect("run curl");
        Curl {
            code: output.status.code().unwrap_or(-1),
            body: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn digest(bytes: &[u8]) -> String {
        format!("sha256:{}", HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()))
    }

    /// Uploads a blob through the proxy (POST, then a monolithic PUT to the
    /// Location); `chunked` sends the PUT body with chunked transfer encoding.
    fn upload(proxy: &FaultProxy, blob: &[u8], chunked: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        std::fs::write(&file, blob).unwrap();
        let started = curl(&[
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            &format!("http://{}/v2/t/blobs/uploads/", proxy.host()),
        ]);
        let head = String::from_utf8_lossy(&started.body).into_owned();
        assert!(head.starts_with("HTTP/1.1 202"), "{head}{}", started.stderr);
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
            .unwrap_or_else(|| panic!("no Location in {head}"))
            .trim()
            .to_string();
        assert!(location.starts_with(&format!("http://{}/", proxy.host())), "Location {location} bypasses the proxy");
        let digest = digest(blob);
        let url = format!("{location}&digest={digest}");
        let file = file.to_str().unwrap();
        let mut args = vec!["-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-T", file];
        if chunked {
            args.extend(["-H", "Transfer-Encoding: chunked"]);
        }
        args.push(&url);
        let put = curl(&args);
        assert_eq!(String::from_utf8_lossy(&put.body), "201", "{}", put.stderr);
        digest
    }

    #[test]
    fn forwards_uploads_and_downloads_like_the_registry_itself() {
        let registry = RegistryServer::anonymous();
        let proxy = FaultProxy::start(&registry);
        let blob = bytes(3 * 1024 * 1024 + 17);
        let digest = upload(&proxy, &blob, false);
        let small = bytes(70_000);
        let small_digest = upload(&proxy, &small, true);

        let path = format!("/v2/t/blobs/{digest}");
        let before = proxy.body_bytes_served();
        let through = curl(&[&format!("http://{}{path}", proxy.host())]);
        let direct = curl(&[&format!("{}{path}", registry.base_url())]);
        assert_eq!(through.code, 0, "{}", through.stderr);
        assert!(through.body == direct.body && through.body == blob, "the proxy changed the body");
        assert_eq!(proxy.body_bytes_served() - before, blob.len() as u64);
        let last = proxy.requests().pop().unwrap();
        assert_eq!((last.method.as_str(), last.path.as_str(), last.status), ("GET", path.as_str(), 200));
        assert_eq!((last.body_bytes, last.range, last.fault), (blob.len() as u64, None, None));

        let ranged = curl(&["-r", "1000-1999", &format!("http://{}{path}", proxy.host())]);
        assert_eq!(ranged.body, blob[1000..2000]);
        let last = proxy.requests().pop().unwrap();
        assert_eq!((last.status, last.body_bytes, last.range.as_deref()), (206, 1000, Some("bytes=1000-1999")));

        let small_through = curl(&[&format!("http://{}/v2/t/blobs/{small_digest}", proxy.host())]);
        assert_eq!(small_through.body, small);
        // Several requests on one connection (curl reuses it for URLs given together).
        let two = curl(&[&format!("http://{}/v2/", proxy.host()), &format!("http://{}/v2/", proxy.host())]);
        assert_eq!((two.code, two.body.as_slice()), (0, &b"{}{}"[..]), "{}", two.stderr);
        assert_eq!(proxy.body_bytes_served_for(&path), blob.len() as u64 + 1000);
    }

    #[test]
    fn a_status_rule_answers_its_status_then_passes() {
        let registry = RegistryServer::anonymous();
        let proxy = FaultProxy::start(&registry);
        let url = format!("http://{}/v2/", proxy.host());
        proxy.set_faults(vec![Fault::Status { path: "/v2/".into(), status: 429, retry_after: Some(7), times: 2 }]);
        let refused = curl(&["-D", "-", "-o", "/dev/null", &url]);
        let head = String::from_utf8_lossy(&refused.body);
        assert!(head.starts_with("HTTP/1.1 429"), "{head}");
        assert!(head.contains("Retry-After: 7\r\n"), "{head}");
        let head_request = curl(&["-I", &url]);
        assert!(String::from_utf8_lossy(&head_request.body).starts_with("HTTP/1.1 429"));
        let passed = curl(&["-w", " %{http_code}", &url]);
        assert_eq!(String::from_utf8_lossy(&passed.body), "{} 200");
        let statuses: Vec<_> =
            proxy.requests().iter().map(|r| (r.method.clone(), r.status, r.fault.is_some())).collect();
        assert_eq!(
            statuses,
            [("GET".to_string(), 429, true), ("HEAD".to_string(), 429, true), ("GET".to_string(), 200, false)]
        );
        assert!(matches!(proxy.faults()[0], Fault::Status { times: 0, .. }));

        // A TLS client hello gets a plain-text answer at once, not a hang.
        let tls = curl(&["-k", &format!("https://{}/v2/", proxy.host())]);
        assert_ne!(tls.code, 0);
    }

    #[test]
    fn reset_truncate_and_flip_break_bodies_as_told() {
        let registry = RegistryServer::anonymous();
        let proxy = FaultProxy::start(&registry);
        let blob = bytes(1024 * 1024);
        let digest = upload(&proxy, &blob, false);
        let path = format!("/blobs/{digest}");
        let url = format!("http://{}/v2/t{path}", proxy.host());

        proxy.set_faults(vec![Fault::ResetMidBody { path: path.clone(), after: 100_000, times: 1 }]);
        let reset = curl(&[&url]);
        // 56: "Recv failure: Connection reset by peer"; 18: partial file.
        assert!([18, 56].contains(&reset.code), "curl exit {}: {}", reset.code, reset.stderr);
        assert!(reset.body.len() <= 100_000 && blob.starts_with(&reset.body));
        assert_eq!(proxy.requests().pop().unwrap().body_bytes, 100_000);
        assert_eq!(curl(&[&url]).body, blob, "times: 1 resets once");

        proxy.set_faults(vec![Fault::Truncate { path: path.clone(), keep: 5000, times: 1 }]);
        let truncated = curl(&[&url]);
        assert_eq!(truncated.code, 18, "{}", truncated.stderr); // CURLE_PARTIAL_FILE
        assert_eq!(truncated.body, blob[..5000]);
        assert_eq!(curl(&[&url]).body, blob);

        proxy.set_faults(vec![Fault::FlipByte { path: path.clone(), offset: 300_000 }]);
        let mut expected = blob.clone();
        expected[300_000] ^= 0xff;
        for _ in 0..2 {
            let flipped = curl(&[&url]);
            assert_eq!(flipped.code, 0, "{}", flipped.stderr);
            assert!(flipped.body == expected, "not exactly byte 300000 flipped");
        }
        // Other paths pass untouched.
        assert_eq!(curl(&[&format!("http://{}/v2/", proxy.host())]).body, b"{}");
    }

    /// An upstream that answers every request with a chunked body.
    fn chunked_upstream() -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut conn = Conn::new(stream).unwrap();
                if let Ok(Some(_)) = conn.read_head() {
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
                    );
                }
            }
        });
        host
    }

    #[test]
    fn chunked_responses_are_relayed_counted_and_broken() {
        let proxy = FaultProxy::start_for(chunked_upstream());
        let url = format!("http://{}/v2/x", proxy.host());
        let plain = curl(&[&url]);
        assert_eq!((plain.code, plain.body.as_slice()), (0, &b"hello world"[..]), "{}", plain.stderr);
        assert_eq!(proxy.body_bytes_served(), 11);

        proxy.set_faults(vec![Fault::FlipByte { path: "/x".into(), offset: 6 }]);
        assert_eq!(curl(&[&url]).body, b"hello \x88orld");
        proxy.set_faults(vec![Fault::Truncate { path: "/x".into(), keep: 3, times: 1 }]);
        let truncated = curl(&[&url]);
        assert_ne!(truncated.code, 0);
        assert_eq!(truncated.body, b"hel");
        assert_eq!(proxy.body_bytes_served(), 11 + 11 + 3);
    }
}
