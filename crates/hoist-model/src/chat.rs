//! Talking to a running model server: the OpenAI-compatible chat protocol that
//! llama-server and vLLM both serve at `/v1/chat/completions`.
//!
//! Everything here is pure (no sockets, no terminal), so the protocol is tested
//! without a server:
//!
//! - [`Conversation`] keeps a session's turns and builds each request body
//!   ([`Conversation::request`]) from them, the system prompt and the
//!   [`Sampling`] options.
//! - [`SseParser`] cuts a streamed response into server-sent events as the
//!   bytes arrive (in any split), and [`parse_chunk`] reads one event's data
//!   as the text it adds ([`Chunk`]).
//! - [`answer_text`] reads the answer out of a whole (non-streamed) response.
//! - [`MultiLine`] joins the lines a person types into one prompt: text between
//!   `"""` marks is one prompt, as in Ollama.
//! - [`take_system_prompt_file`] takes a stored `--system-prompt-file` out of a
//!   llama-server argv: llama-server no longer accepts it, so a chat sends the
//!   file's text as the system message instead.
//!
//! # Example
//!
//! ```
//! use hoist_model::chat::{Chunk, Conversation, Sampling, SseParser, parse_chunk};
//!
//! let mut chat = Conversation::new(Some("Be brief.".into()));
//! let body = chat.request("Hi", None, Sampling::default(), true);
//! assert_eq!(body["messages"][1]["content"], "Hi");
//! // ... POST `body` to /v1/chat/completions; feed the response's bytes as they come:
//! let mut parser = SseParser::new();
//! let mut answer = String::new();
//! for bytes in [&b"data: {\"choices\":[{\"delta\":{\"content\":\"Hel"[..], b"lo\"}}]}\n\ndata: [DONE]\n\n"] {
//!     for event in parser.feed(bytes) {
//!         if let Chunk::Text(text) = parse_chunk(&event)? {
//!             answer.push_str(&text);
//!         }
//!     }
//! }
//! chat.record("Hi", &answer);
//! assert_eq!(chat.turns()[1].content, "Hello");
//! # Ok::<(), hoist_model::ChatError>(())
//! ```

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use thiserror::Error;

/// What went wrong in a server's answer.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ChatError {
    /// An event or response that is not the JSON the protocol describes.
    #[error("the server sent {what} that is not a chat completion: {text}")]
    Malformed { what: &'static str, text: String },
    /// The server reported an error in place of an answer.
    #[error("the server answered with an error: {message}")]
    Server { message: String },
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// Sampling settings sent with every request; `None` leaves the server's default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
}

/// A chat session: the system prompt and the turns so far.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    system: Option<String>,
    turns: Vec<Message>,
}

impl Conversation {
    pub fn new(system: Option<String>) -> Conversation {
        Conversation { system, turns: Vec::new() }
    }

    /// The request body that asks for the answer to `prompt` after the turns
    /// so far. `model` is the name the server serves the model under (vLLM
    /// checks it; llama-server ignores it).
    pub fn request(&self, prompt: &str, model: Option<&str>, sampling: Sampling, stream: bool) -> Value {
        let mut body = Map::new();
        if let Some(model) = model {
            body.insert("model".into(), model.into());
        }
        let user = Message { role: Role::User, content: prompt.to_string() };
        let messages: Vec<Value> = self
            .system
            .iter()
            .map(|system| json!({"role": "system", "content": system}))
            .chain(self.turns.iter().chain([&user]).map(|m| json!({"role": m.role.name(), "content": m.content})))
            .collect();
        body.insert("messages".into(), messages.into());
        body.insert("stream".into(), stream.into());
        if let Some(temperature) = sampling.temperature {
            body.insert("temperature".into(), temperature.into());
        }
        if let Some(max_tokens) = sampling.max_tokens {
            body.insert("max_tokens".into(), max_tokens.into());
        }
        Value::Object(body)
    }

    /// Keeps a finished exchange, so the next request carries it.
    pub fn record(&mut self, prompt: &str, answer: &str) {
        self.turns.push(Message { role: Role::User, content: prompt.to_string() });
        self.turns.push(Message { role: Role::Assistant, content: answer.to_string() });
    }

    /// Forgets the turns (the system prompt stays).
    pub fn clear(&mut self) {
        self.turns.clear();
    }

    pub fn turns(&self) -> &[Message] {
        &self.turns
    }
}

/// One server-sent event: its `event:` name (if any) and its data lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: Option<String>,
    pub data: String,
}

/// Cuts a byte stream into server-sent events (the WHATWG EventSource rules:
/// lines end in LF, CRLF or CR; an empty line ends an event; `:` starts a
/// comment). llama-server also writes errors as an `error:` field, which
/// becomes an event named `error`.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended (kept as bytes: a chunk may split a UTF-8 character).
    line: Vec<u8>,
    /// The last byte fed was a CR, so a LF right after it ends no second line.
    after_cr: bool,
    name: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// The events that `bytes` completes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.end_line(&String::from_utf8_lossy(&line)) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    fn end_line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let name = self.name.take();
            return self.data.take().map(|data| SseEvent { name, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_string()),
            "data" | "error" => {
                if field == "error" {
                    self.name = Some("error".to_string());
                }
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_string()),
                }
            }
            _ => {}
        }
        None
    }
}

/// What one streamed event adds to the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Text to print (may be empty: the role, the finish reason, usage).
    Text(String),
    /// `[DONE]`: the answer is complete.
    Done,
}

/// Reads a streamed event: the delta's content, the end marker, or the
/// server's error.
pub fn parse_chunk(event: &SseEvent) -> Result<Chunk, ChatError> {
    if event.data.trim() == "[DONE]" {
        return Ok(Chunk::Done);
    }
    let value: Value = serde_json::from_str(&event.data)
        .map_err(|_| ChatError::Malformed { what: "an event", text: shorten(&event.data) })?;
    if let Some(error) = value.get("error") {
        return Err(ChatError::Server { message: error_message(error) });
    }
    if event.name.as_deref() == Some("error") {
        return Err(ChatError::Server { message: error_message(&value) });
    }
    let choices = value
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| ChatError::Malformed { what: "an event", text: shorten(&event.data) })?;
    let text =
        choices.first().and_then(|choice| choice.pointer("/delta/content")).and_then(Value::as_str).unwrap_or_default();
    Ok(Chunk::Text(text.to_string()))
}

/// The answer's text in a whole (non-streamed) response.
pub fn answer_text(response: &Value) -> Result<&str, ChatError> {
    if let Some(error) = response.get("error") {
        return Err(ChatError::Server { message: error_message(error) });
    }
    response
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| ChatError::Malformed { what: "a response", text: shorten(&response.to_string()) })
}

/// An OpenAI error object's message (`{"message": ...}`), or the whole value.
fn error_message(error: &Value) -> String {
    match error.get("message").and_then(Value::as_str) {
        Some(message) => message.to_string(),
        None => error.as_str().map_or_else(|| error.to_string(), str::to_string),
    }
}

/// At most 200 characters of a server's text, for an error line.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// What a typed line means once [`MultiLine`] has read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A whole prompt to send.
    Prompt(String),
    /// A `/command` (without the slash) typed on its own line.
    Command(String),
    /// Inside `"""`: more lines are needed.
    More,
    /// Nothing to do (an empty line).
    Empty,
}

const QUOTES: &str = "\"\"\"";

/// Joins typed lines into prompts: a line that starts with `"""` opens a
/// prompt that the first line ending in `"""` closes, newlines kept; any
/// other line is a prompt (or a `/command`) on its own.
#[derive(Debug, Default)]
pub struct MultiLine {
    open: Option<Vec<String>>,
}

impl MultiLine {
    pub fn new() -> MultiLine {
        MultiLine::default()
    }

    /// Whether a `"""` prompt is open (the prompt shown changes).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    pub fn push(&mut self, line: &str) -> Input {
        if let Some(lines) = &mut self.open {
            return match line.strip_suffix(QUOTES) {
                Some(last) => {
                    // A closing `"""` on its own line adds no empty last line.
                    if !last.is_empty() {
                        lines.push(last.to_string());
                    }
                    let text = self.open.take().unwrap_or_default().join("\n");
                    if text.trim().is_empty() { Input::Empty } else { Input::Prompt(text) }
                }
                None => {
                    lines.push(line.to_string());
                    Input::More
                }
            };
        }
        if let Some(rest) = line.trim_start().strip_prefix(QUOTES) {
            if let Some(whole) = rest.strip_suffix(QUOTES) {
                return if whole.trim().is_empty() { Input::Empty } else { Input::Prompt(whole.to_string()) };
            }
            self.open = Some(if rest.is_empty() { Vec::new() } else { vec![rest.to_string()] });
            return Input::More;
        }
        let line = line.trim();
        match line.strip_prefix('/') {
            _ if line.is_empty() => Input::Empty,
            Some(command) if !command.is_empty() && !command.contains(char::is_whitespace) => {
                Input::Command(command.to_string())
            }
            _ => Input::Prompt(line.to_string()),
        }
    }
}

const SYSTEM_PROMPT_FILE_FLAGS: &[&str] = &["-sysf", "--system-prompt-file"];

/// Takes `--system-prompt-file FILE` (or `-sysf FILE`, `--system-prompt-file=FILE`)
/// out of a llama-server argv and returns the last file named. llama-server
/// (2025 on) rejects the flag, which only llama-cli reads; gguf-packer images
/// still store it in their command.
pub fn take_system_prompt_file(args: &mut Vec<String>) -> Option<PathBuf> {
    let mut file = None;
    let mut kept = Vec::with_capacity(args.len());
    let mut words = std::mem::take(args).into_iter();
    while let Some(word) = words.next() {
        if SYSTEM_PROMPT_FILE_FLAGS.contains(&word.as_str()) {
            file = words.next().map(PathBuf::from).or(file);
        } else if let Some(value) = word.strip_prefix("--system-prompt-file=") {
            file = Some(PathBuf::from(value));
        } else {
            kept.push(word);
        }
    }
    *args = kept;
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> SseEvent {
        SseEvent { name: None, data: data.to_string() }
    }

    #[test]
    fn a_request_carries_the_system_prompt_the_turns_and_the_sampling() {
        let mut chat = Conversation::new(Some("Be brief.".into()));
        chat.record("Hi", "Hello!");
        let sampling = Sampling { temperature: Some(0.25), max_tokens: Some(64) };
        let body = chat.request("And you?", Some("m"), sampling, true);
        assert_eq!(
            body,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "And you?"},
                ],
                "stream": true,
                "temperature": 0.25,
                "max_tokens": 64,
            })
        );
        chat.clear();
        let body = Conversation::new(None).request("x", None, Sampling::default(), false);
        assert_eq!(body, json!({"messages": [{"role": "user", "content": "x"}], "stream": false}));
        assert!(chat.turns().is_empty());
    }

    #[test]
    fn events_come_out_whole_however_the_bytes_are_split() {
        let stream = "data: {\"a\":1}\n\n: keep-alive\r\n\r\nevent: note\r\ndata: one\r\ndata:two\r\rdata: [DONE]\n\n";
        let whole = SseParser::new().feed(stream.as_bytes());
        assert_eq!(
            whole,
            [event("{\"a\":1}"), SseEvent { name: Some("note".into()), data: "one\ntwo".into() }, event("[DONE]"),]
        );
        for split in 1..stream.len() {
            let mut parser = SseParser::new();
            let mut events = parser.feed(&stream.as_bytes()[..split]);
            events.extend(parser.feed(&stream.as_bytes()[split..]));
            assert_eq!(events, whole, "split at {split}");
        }
    }

    #[test]
    fn a_character_split_between_chunks_stays_whole() {
        let text = "data: {\"t\":\"h\u{e9}\u{1f600}\"}\n\n".as_bytes();
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for byte in text {
            events.extend(parser.feed(std::slice::from_ref(byte)));
        }
        assert_eq!(events, [event("{\"t\":\"h\u{e9}\u{1f600}\"}")]);
    }

    #[test]
    fn chunks_give_the_delta_text_the_end_or_the_error() {
        let content = r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;
        assert_eq!(parse_chunk(&event(content)), Ok(Chunk::Text("Hel".into())));
        let role_only = r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        assert_eq!(parse_chunk(&event(role_only)), Ok(Chunk::Text(String::new())));
        assert_eq!(parse_chunk(&event(r#"{"choices":[],"usage":{"total_tokens":3}}"#)), Ok(Chunk::Text("".into())));
        assert_eq!(parse_chunk(&event(" [DONE]")), Ok(Chunk::Done));

        let error = r#"{"error":{"code":400,"message":"the request exceeds the context size","type":"x"}}"#;
        let expected = ChatError::Server { message: "the request exceeds the context size".into() };
        assert_eq!(parse_chunk(&event(error)), Err(expected.clone()));
        let mut parser = SseParser::new();
        let events = parser.feed(b"error: {\"message\":\"the request exceeds the context size\"}\n\n");
        assert_eq!(parse_chunk(&events[0]), Err(expected));

        let malformed = parse_chunk(&event("not json")).unwrap_err().to_string();
        assert_eq!(malformed, "the server sent an event that is not a chat completion: not json");
        assert!(parse_chunk(&event(r#"{"object":"x"}"#)).is_err());
    }

    #[test]
    fn a_whole_response_gives_its_message() {
        let response = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}}]});
        assert_eq!(answer_text(&response), Ok("Hi!"));
        let error = json!({"error": "model is loading"});
        assert_eq!(answer_text(&error), Err(ChatError::Server { message: "model is loading".into() }));
        let long = json!({"x": "y".repeat(500)});
        let message = answer_text(&long).unwrap_err().to_string();
        assert!(message.ends_with("..."), "{message}");
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn triple_quotes_join_lines_into_one_prompt() {
        let mut lines = MultiLine::new();
        assert_eq!(lines.push("\"\"\"Write a poem"), Input::More);
        assert!(lines.is_open());
        assert_eq!(lines.push(""), Input::More);
        assert_eq!(lines.push("/bye is not a command here"), Input::More);
        assert_eq!(
            lines.push("about rust\"\"\""),
            Input::Prompt("Write a poem\n\n/bye is not a command here\nabout rust".into())
        );
        assert!(!lines.is_open());

        assert_eq!(lines.push("\"\"\""), Input::More);
        assert_eq!(lines.push("two"), Input::More);
        assert_eq!(lines.push("\"\"\""), Input::Prompt("two".into()));
        assert_eq!(lines.push("\"\"\"one line\"\"\""), Input::Prompt("one line".into()));
        assert_eq!(lines.push("\"\"\"\"\"\""), Input::Empty);
    }

    #[test]
    fn single_lines_are_prompts_commands_or_nothing() {
        let mut lines = MultiLine::new();
        assert_eq!(lines.push("  hello there "), Input::Prompt("hello there".into()));
        assert_eq!(lines.push("/bye"), Input::Command("bye".into()));
        assert_eq!(lines.push(" /clear "), Input::Command("clear".into()));
        assert_eq!(lines.push("/path/to a file?"), Input::Prompt("/path/to a file?".into()));
        assert_eq!(lines.push("/"), Input::Prompt("/".into()));
        assert_eq!(lines.push("   "), Input::Empty);
    }

    #[test]
    fn a_stored_system_prompt_file_is_taken_out_of_the_argv() {
        let mut args: Vec<String> =
            "-m m.gguf --system-prompt-file /b/a.txt -c 10 -sysf /b/b.txt".split(' ').map(String::from).collect();
        assert_eq!(take_system_prompt_file(&mut args), Some(PathBuf::from("/b/b.txt")));
        assert_eq!(args, ["-m", "m.gguf", "-c", "10"]);

        let mut args = vec!["--system-prompt-file=/b/c.txt".to_string(), "--jinja".to_string()];
        assert_eq!(take_system_prompt_file(&mut args), Some(PathBuf::from("/b/c.txt")));
        assert_eq!(args, ["--jinja"]);

        let mut args = vec!["-m".to_string(), "m.gguf".to_string()];
        assert_eq!(take_system_prompt_file(&mut args), None);
        assert_eq!(args, ["-m", "m.gguf"]);
    }
}
