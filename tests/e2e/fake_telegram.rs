//! A fake Telegram Bot API on 127.0.0.1: it records every request (method,
//! JSON or multipart body, time) and serves scripted updates to
//! `getUpdates` as Telegram does (the updates from `offset` on; with none,
//! the long poll is held until one is pushed or the timeout passes).
//! A method can be told to fail once (a 429 with `retry_after`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The longest a long poll is held here (whatever the bot asks).
const MAX_HOLD: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) at: Instant,
    /// The Bot API method (`sendMessage`).
    pub(crate) method: String,
    /// The path, token included (to check the token is used).
    pub(crate) path: String,
    /// The JSON body (a multipart body as `{"multipart": text}`).
    pub(crate) body: Value,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    updates: Vec<Value>,
    next_update: i64,
    next_message: i64,
    fail_once: VecDeque<(String, u16, Value)>,
    /// The message id given to each sendMessage, in order.
    sent_ids: Vec<i64>,
}

pub(crate) struct FakeTelegram {
    pub(crate) port: u16,
    inner: Arc<(Mutex<Inner>, Condvar)>,
}

impl FakeTelegram {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new((
            Mutex::new(Inner {
                next_update: 1,
                next_message: 1000,
                ..Inner::default()
            }),
            Condvar::new(),
        ));
        let shared = inner.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || serve(conn, &shared));
            }
        });
        Self { port, inner }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Queues a text message from `user` in `chat`; returns its update id.
    pub(crate) fn push_text(&self, chat: i64, user: i64, text: &str, reply_to: Option<i64>) -> i64 {
        let (lock, cv) = &*self.inner;
        let mut s = lock.lock().unwrap();
        let id = s.next_update;
        s.next_update += 1;
        s.next_message += 1;
        let mut message = json!({
            "message_id": s.next_message,
            "from": { "id": user, "is_bot": false, "first_name": "t" },
            "chat": { "id": chat, "type": if chat > 0 { "private" } else { "supergroup" } },
            "date": 0,
            "text": text,
        });
        if let Some(r) = reply_to {
            message["reply_to_message"] = json!({
                "message_id": r,
                "chat": { "id": chat, "type": "private" },
                "date": 0,
            });
        }
        s.updates
            .push(json!({ "update_id": id, "message": message }));
        cv.notify_all();
        id
    }

    /// Queues a press by `user` of the button with `data` under message
    /// `message` in `chat`; returns its update id.
    pub(crate) fn push_button(&self, chat: i64, user: i64, message: i64, data: &str) -> i64 {
        let (lock, cv) = &*self.inner;
        let mut s = lock.lock().unwrap();
        let id = s.next_update;
        s.next_update += 1;
        s.updates.push(json!({
            "update_id": id,
            "callback_query": {
                "id": format!("cb-{id}"),
                "from": { "id": user, "is_bot": false, "first_name": "t" },
                "message": {
                    "message_id": message,
                    "chat": { "id": chat, "type": if chat > 0 { "private" } else { "supergroup" } },
                    "date": 0,
                    "text": "",
                },
                "data": data,
            },
        }));
        cv.notify_all();
        id
    }

    /// Makes the next call of `method` answer `status` with `parameters`.
    pub(crate) fn fail_once(&self, method: &str, status: u16, parameters: Value) {
        let (lock, _) = &*self.inner;
        lock.lock()
            .unwrap()
            .fail_once
            .push_back((method.into(), status, parameters));
    }

    /// The message ids given to the sendMessage calls, in order.
    pub(crate) fn message_ids(&self) -> Vec<i64> {
        self.inner.0.lock().unwrap().sent_ids.clone()
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.inner.0.lock().unwrap().calls.clone()
    }

    /// The calls of `method`.
    pub(crate) fn sent(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits up to `timeout` for `f` to hold over the calls; returns them.
    pub(crate) fn wait(
        &self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&[Call]) -> bool,
    ) -> Vec<Call> {
        let start = Instant::now();
        loop {
            let calls = self.calls();
            if f(&calls) {
                return calls;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; the fake received: {:#?}",
                calls
                    .iter()
                    .map(|c| (&c.method, &c.body))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

fn serve(conn: std::net::TcpStream, shared: &(Mutex<Inner>, Condvar)) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        let mut multipart = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("content-type") && v.contains("multipart") {
                    multipart = true;
                }
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let body: Value = if multipart {
            json!({ "multipart": text })
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        let method = path.rsplit('/').next().unwrap_or("").to_string();
        let (status, answer) = answer(shared, &method, &path, &body);
        let answer = answer.to_string();
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(
    shared: &(Mutex<Inner>, Condvar),
    method: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let (lock, cv) = shared;
    let mut s = lock.lock().unwrap();
    s.calls.push(Call {
        at: Instant::now(),
        method: method.into(),
        path: path.into(),
        body: body.clone(),
    });
    if let Some(i) = s.fail_once.iter().position(|(m, _, _)| m == method) {
        let (_, status, parameters) = s.fail_once.remove(i).unwrap();
        return (
            status,
            json!({ "ok": false, "error_code": status, "description": "Too Many Requests: retry later", "parameters": parameters }),
        );
    }
    match method {
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let hold = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0)).min(MAX_HOLD);
            let start = Instant::now();
            loop {
                let ready: Vec<Value> = s
                    .updates
                    .iter()
                    .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                    .cloned()
                    .collect();
                if !ready.is_empty() || start.elapsed() >= hold {
                    return (200, json!({ "ok": true, "result": ready }));
                }
                s = cv
                    .wait_timeout(s, hold - start.elapsed().min(hold))
                    .unwrap()
                    .0;
            }
        }
        "sendMessage" | "sendDocument" | "editMessageText" => {
            s.next_message += 1;
            let id = if method == "editMessageText" {
                body["message_id"].as_i64().unwrap_or(0)
            } else {
                s.next_message
            };
            if method == "sendMessage" {
                s.sent_ids.push(id);
            }
            (
                200,
                json!({ "ok": true, "result": { "message_id": id, "date": 0, "chat": { "id": body["chat_id"] } } }),
            )
        }
        _ => (200, json!({ "ok": true, "result": true })),
    }
}
