//! A stand-in for a model server's HTTP side: what `hoist chat` talks to.
//!
//! [`ChatServer`] answers as llama-server does: `GET /health` is 503 while the
//! model "loads" and 200 after; `GET /v1/models` names one model;
//! `POST /v1/chat/completions` answers with the configured tokens, streamed as
//! server-sent events (`data: {chunk}` per token, then `data: [DONE]`) or as
//! one response object. Every chat request is kept for the test to read, and
//! a stream the client closes early is counted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How a [`ChatServer`] behaves.
#[derive(Debug, Clone)]
pub struct ChatServerOptions {
    /// How long `/health` answers 503 after the server starts.
    pub loading: Duration,
    /// The answer, one streamed chunk per token.
    pub tokens: Vec<String>,
    /// The pause before each streamed token.
    pub token_delay: Duration,
}

impl Default for ChatServerOptions {
    fn default() -> Self {
        let tokens = ["Hello", ",", " world", "!"].map(str::to_string).to_vec();
        ChatServerOptions { loading: Duration::ZERO, tokens, token_delay: Duration::ZERO }
    }
}

/// The name `/v1/models` gives the model.
pub const STAND_IN_MODEL: &str = "stand-in-model";

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Value>>,
    loading_answers: AtomicUsize,
    closed_streams: AtomicUsize,
    stop: AtomicBool,
}

/// The running stand-in; it stops when dropped.
pub struct ChatServer {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl ChatServer {
    /// Listens on `127.0.0.1:port` (the port the runtime was told to use).
    ///
    /// # Panics
    ///
    /// When the port cannot be bound within five seconds.
    pub fn start_on(port: u16, options: ChatServerOptions) -> ChatServer {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => break listener,
                Err(error) if Instant::now() > deadline => panic!("binding 127.0.0.1:{port}: {error}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        listener.set_nonblocking(true).expect("non-blocking listener");
        let shared = Arc::new(Shared::default());
        let started = Instant::now();
        let state = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            while !state.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (state, options) = (Arc::clone(&state), options.clone());
                        std::thread::spawn(move || serve(stream, &options, started, &state));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ChatServer { port, shared, acceptor: Some(acceptor) }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bodies of the chat requests so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().expect("requests").clone()
    }

    /// How many times `/health` answered 503.
    pub fn loading_answers(&self) -> usize {
        self.shared.loading_answers.load(Ordering::SeqCst)
    }

    /// How many streamed answers the client closed before their end.
    pub fn closed_streams(&self) -> usize {
        self.shared.closed_streams.load(Ordering::SeqCst)
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One request per connection (`Connection: close`), which every HTTP client handles.
fn serve(stream: TcpStream, options: &ChatServerOptions, started: Instant, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let Ok(reader) = stream.try_clone() else { return };
    let mut reader = BufReader::new(reader);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut words = request_line.split_whitespace();
    let route = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let mut out = stream;
    let _ = match route {
        ("GET", "/health") if started.elapsed() < options.loading => {
            shared.loading_answers.fetch_add(1, Ordering::SeqCst);
            respond(&mut out, "503 Service Unavailable", &json!({"error": {"code": 503, "message": "Loading model"}}))
        }
        ("GET", "/health") => respond(&mut out, "200 OK", &json!({"status": "ok"})),
        ("GET", "/v1/models") => {
            respond(&mut out, "200 OK", &json!({"object": "list", "data": [{"id": STAND_IN_MODEL, "object": "model"}]}))
        }
        ("POST", "/v1/chat/completions") => {
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            shared.requests.lock().expect("requests").push(request.clone());
            if request["stream"] == true {
                if stream_answer(&mut out, options).is_err() {
                    shared.closed_streams.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            } else {
                respond(&mut out, "200 OK", &whole_answer(options))
            }
        }
        _ => respond(&mut out, "404 Not Found", &json!({"error": {"code": 404, "message": "File Not Found"}})),
    };
}

fn respond(out: &mut TcpStream, status: &str, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-stand-in",
        "object": "chat.completion.chunk",
        "model": STAND_IN_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

/// The answer as llama-server streams it: a role chunk, one chunk per token,
/// a finish chunk, `[DONE]`. An error is a client that closed the stream.
fn stream_answer(out: &mut TcpStream, options: &ChatServerOptions) -> std::io::Result<()> {
    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")?;
    out.write_all(chunk(json!({"role": "assistant", "content": null}), None).as_bytes())?;
    for token in &options.tokens {
        std::thread::sleep(options.token_delay);
        out.write_all(chunk(json!({"content": token}), None).as_bytes())?;
        out.flush()?;
    }
    out.write_all(chunk(json!({}), Some("stop")).as_bytes())?;
    out.write_all(b"data: [DONE]\n\n")?;
    out.flush()
}

fn whole_answer(options: &ChatServerOptions) -> Value {
    json!({
        "id": "chatcmpl-stand-in",
        "object": "chat.completion",
        "model": STAND_IN_MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": options.tokens.concat()},
            "finish_reason": "stop",
        }],
        "usage": {"completion_tokens": options.tokens.len()},
    })
}
