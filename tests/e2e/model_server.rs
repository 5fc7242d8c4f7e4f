//! A scripted model server of our own: it speaks the OpenAI Responses API
//! (`POST /v1/responses`, answered with server-sent events) on 127.0.0.1,
//! so the real Codex CLI can run offline. Each request takes the next
//! scripted reply; every request body is kept for assertions.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// An SSE stream of these events, then the connection closes.
    Sse(Vec<Value>),
    /// An HTTP error with a JSON body.
    Error { status: u16, body: Value },
    /// `response.created`, then nothing more until the server stops.
    Stall,
}

impl Reply {
    /// The model asks to run a shell command (`exec_command`).
    pub(crate) fn command(call_id: &str, cmd: &str) -> Self {
        Self::Sse(vec![
            created(call_id),
            json!({"type": "response.output_item.done", "item": {
                "type": "function_call", "id": format!("fc_{call_id}"), "call_id": call_id,
                "name": "exec_command", "arguments": json!({"cmd": cmd, "login": false}).to_string()
            }}),
            completed(call_id, 200, 20),
        ])
    }

    /// The model answers with a final message.
    pub(crate) fn message(id: &str, text: &str) -> Self {
        Self::Sse(vec![
            created(id),
            json!({"type": "response.output_item.done", "item": {
                "type": "message", "role": "assistant", "id": format!("msg_{id}"),
                "content": [{"type": "output_text", "text": text}]
            }}),
            completed(id, 100, 10),
        ])
    }

    /// A 429 usage-limit answer whose window resets at `resets_at` (epoch seconds).
    pub(crate) fn usage_limit(resets_at: i64) -> Self {
        Self::Error {
            status: 429,
            body: json!({"error": {"type": "usage_limit_reached", "plan_type": "plus", "resets_at": resets_at,
                "message": "You've hit your usage limit."}}),
        }
    }
}

fn created(id: &str) -> Value {
    json!({"type": "response.created", "response": {"id": format!("resp_{id}")}})
}

fn completed(id: &str, input: u64, output: u64) -> Value {
    json!({"type": "response.completed", "response": {"id": format!("resp_{id}"), "usage": {
        "input_tokens": input, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output
    }}})
}

/// The running server.
pub(crate) struct ModelServer {
    pub(crate) port: u16,
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
}

impl ModelServer {
    pub(crate) fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, r, st) = (script.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (s, r, st) = (s.clone(), r.clone(), st.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &s, &r, &st);
                });
            }
        });
        Self {
            port,
            script,
            requests,
            stop,
        }
    }

    /// Adds replies to the end of the script.
    pub(crate) fn push(&self, replies: Vec<Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// The JSON bodies of every request so far.
    pub(crate) fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// The user prompts (text of the last user message) of every request
    /// that started a turn.
    pub(crate) fn prompts(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|r| {
                let input = r["input"].as_array()?;
                let last = input.last()?;
                (last["role"] == "user").then(|| {
                    last["content"].as_array().map_or(String::new(), |c| {
                        c.iter()
                            .filter_map(|p| p["text"].as_str())
                            .collect::<Vec<_>>()
                            .join("")
                    })
                })
            })
            .collect()
    }

    /// Writes a CODEX_HOME whose config points codex at this server.
    pub(crate) fn codex_home(&self, dir: &Path, stream_idle_timeout_ms: u64) -> PathBuf {
        let home = dir.join("codex-home");
        std::fs::create_dir_all(&home).unwrap();
        let config = format!(
            r#"model_provider = "mock"
approval_policy = "never"
check_for_update_on_startup = false

[features]
plugins = false
unbounded_connection_retries = false

[analytics]
enabled = false

[model_providers.mock]
name = "mock"
base_url = "http://127.0.0.1:{port}/v1"
env_key = "MOCK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = {stream_idle_timeout_ms}
"#,
            port = self.port
        );
        std::fs::write(home.join("config.toml"), config).unwrap();
        home
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    conn: TcpStream,
    script: &Mutex<VecDeque<Reply>>,
    requests: &Mutex<Vec<Value>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        // One request per iteration (keep-alive).
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body)?;
        if !request_line.starts_with("POST") || !request_line.contains("/responses") {
            out.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")?;
            continue;
        }
        requests
            .lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        let reply = script.lock().unwrap().pop_front();
        match reply {
            None => {
                let body = json!({"error": {"message": "model server script is exhausted", "type": "server_error"}}).to_string();
                write!(
                    out,
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                return Ok(());
            }
            Some(Reply::Error { status, body }) => {
                let body = body.to_string();
                write!(
                    out,
                    "HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                return Ok(());
            }
            Some(Reply::Sse(events)) => {
                out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n")?;
                for e in events {
                    write!(
                        out,
                        "event: {}\ndata: {e}\n\n",
                        e["type"].as_str().unwrap_or("message")
                    )?;
                }
                out.flush()?;
                return Ok(());
            }
            Some(Reply::Stall) => {
                out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n")?;
                write!(
                    out,
                    "event: response.created\ndata: {}\n\n",
                    created("stall")
                )?;
                out.flush()?;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                return Ok(());
            }
        }
    }
}
