//! [`Api`]: the Bot API methods the bot uses, over blocking HTTP (ureq).
//! Every method honours a 429's `parameters.retry_after`; the token is in
//! the URL only, never in an error or a log line.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::split::{MAX_MESSAGE, MAX_PARTS, split_text, truncate, units};
use super::types::Update;
use crate::error::TelegramError;

/// How many times a request told to wait (429) is tried again.
const RETRIES_429: u32 = 5;
/// The longest wait a 429 is honoured for; a longer one is an error.
const MAX_RETRY_AFTER: u64 = 300;
/// At most one edit of a message per this long.
const EDIT_INTERVAL: Duration = Duration::from_secs(1);

/// Where a message goes: a chat, and a forum topic in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    /// The chat id.
    pub chat: i64,
    /// The forum topic (`message_thread_id`).
    pub topic: Option<i64>,
}

/// One inline button: its label and its callback data.
pub type Button = (String, String);

/// A client of the Bot API for one bot token.
pub struct Api {
    agent: ureq::Agent,
    base: String,
    /// `{base}/bot{token}`: kept private, never printed.
    url: String,
    last_edit: Mutex<HashMap<(i64, i64), Instant>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// A client of the Bot API at `base` (`https://api.telegram.org`) for
    /// `token`; requests wait at most `poll_timeout` plus 15 s.
    pub fn new(base: &str, token: &str, poll_timeout: Duration) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(poll_timeout + Duration::from_secs(15))
            .timeout_write(Duration::from_secs(30))
            .build();
        let base = base.trim_end_matches('/').to_string();
        Self {
            agent,
            url: format!("{base}/bot{token}"),
            base,
            last_edit: Mutex::new(HashMap::new()),
        }
    }

    /// `getUpdates` from `offset`, waiting up to `timeout` for one.
    pub fn get_updates(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<Vec<Update>, TelegramError> {
        let result = self.call(
            "getUpdates",
            &json!({
                "offset": offset,
                "timeout": timeout.as_secs(),
                "allowed_updates": ["message", "edited_message", "callback_query"],
            }),
        )?;
        serde_json::from_value(result).map_err(|e| TelegramError::Api {
            method: "getUpdates".into(),
            status: 200,
            description: format!("unexpected answer: {e}"),
        })
    }

    /// `sendMessage`: a text longer than a message is split (the buttons
    /// go with the last part), or, past [`MAX_PARTS`] parts, sent as a
    /// document `name` with its first lines as the caption. Returns the id
    /// of the last message sent.
    pub fn send_text(
        &self,
        to: Dest,
        text: &str,
        buttons: &[Vec<Button>],
        reply_to: Option<i64>,
    ) -> Result<i64, TelegramError> {
        let parts = split_text(text, MAX_MESSAGE);
        if parts.len() > MAX_PARTS {
            let caption = truncate(text.lines().next().unwrap_or(""), 200);
            return self.send_document(to, "message.txt", text.as_bytes(), &caption);
        }
        let mut last = 0;
        let n = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            let mut body = json!({ "chat_id": to.chat, "text": part });
            if let Some(t) = to.topic {
                body["message_thread_id"] = json!(t);
            }
            if i == 0
                && let Some(r) = reply_to
            {
                body["reply_parameters"] =
                    json!({ "message_id": r, "allow_sending_without_reply": true });
            }
            if i + 1 == n && !buttons.is_empty() {
                body["reply_markup"] = keyboard(buttons);
            }
            last = message_id(&self.call("sendMessage", &body)?);
        }
        Ok(last)
    }

    /// `sendMessage` asking for a reply (`force_reply`).
    pub fn ask_reply(
        &self,
        to: Dest,
        text: &str,
        reply_to: Option<i64>,
    ) -> Result<i64, TelegramError> {
        let mut body = json!({
            "chat_id": to.chat,
            "text": truncate(text, MAX_MESSAGE),
            "reply_markup": { "force_reply": true, "selective": true },
        });
        if let Some(t) = to.topic {
            body["message_thread_id"] = json!(t);
        }
        if let Some(r) = reply_to {
            body["reply_parameters"] =
                json!({ "message_id": r, "allow_sending_without_reply": true });
        }
        Ok(message_id(&self.call("sendMessage", &body)?))
    }

    /// `editMessageText`, at most once a second per message (it waits
    /// for the second to pass); the text is cut to one message.
    pub fn edit_text(
        &self,
        chat: i64,
        message: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<(), TelegramError> {
        let wait = {
            let map = self.last_edit.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&(chat, message))
                .map(|t| EDIT_INTERVAL.saturating_sub(t.elapsed()))
                .unwrap_or_default()
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let mut body =
            json!({ "chat_id": chat, "message_id": message, "text": truncate(text, MAX_MESSAGE) });
        // An empty keyboard removes the buttons.
        body["reply_markup"] = keyboard(buttons);
        let result = self.call("editMessageText", &body);
        let mut map = self.last_edit.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, t| t.elapsed() < EDIT_INTERVAL);
        map.insert((chat, message), Instant::now());
        result.map(|_| ())
    }

    /// `answerCallbackQuery`, with a short notice shown to the person.
    pub fn answer_callback(&self, id: &str, text: &str) -> Result<(), TelegramError> {
        self.call(
            "answerCallbackQuery",
            &json!({ "callback_query_id": id, "text": truncate(text, 200) }),
        )
        .map(|_| ())
    }

    /// `sendDocument` (multipart upload) with a caption; returns its message id.
    pub fn send_document(
        &self,
        to: Dest,
        name: &str,
        bytes: &[u8],
        caption: &str,
    ) -> Result<i64, TelegramError> {
        let boundary = format!("car-telegram-{:x}", std::process::id() as u64 ^ now_nanos());
        let mut body = Vec::new();
        let mut field = |k: &str, v: &str| {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        };
        field("chat_id", &to.chat.to_string());
        if let Some(t) = to.topic {
            field("message_thread_id", &t.to_string());
        }
        if !caption.is_empty() {
            field("caption", &truncate(caption, 1024));
        }
        let safe_name: String = name
            .chars()
            .filter(|c| !matches!(c, '"' | '\r' | '\n'))
            .collect();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"{safe_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let result = self.send("sendDocument", |r| {
            r.set("Content-Type", &content_type)
                .send_bytes(&body)
                .map_err(Box::new)
        })?;
        Ok(message_id(&result))
    }

    /// `setMyCommands`: the menu of commands.
    pub fn set_commands(&self, commands: &[(&str, &str)]) -> Result<(), TelegramError> {
        let list: Vec<Value> = commands
            .iter()
            .map(|(c, d)| json!({ "command": c, "description": d }))
            .collect();
        self.call("setMyCommands", &json!({ "commands": list }))
            .map(|_| ())
    }

    /// Calls `method` with a JSON body; returns its `result`.
    pub fn call(&self, method: &str, body: &Value) -> Result<Value, TelegramError> {
        self.send(method, |r| r.send_json(body.clone()).map_err(Box::new))
    }

    fn send(
        &self,
        method: &str,
        mut send: impl FnMut(ureq::Request) -> Result<ureq::Response, Box<ureq::Error>>,
    ) -> Result<Value, TelegramError> {
        let mut tries = 0;
        loop {
            let request = self.agent.post(&format!("{}/{method}", self.url));
            let (status, text) = match send(request).map_err(|e| *e) {
                Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
                Err(ureq::Error::Status(code, resp)) => {
                    (code, resp.into_string().unwrap_or_default())
                }
                Err(ureq::Error::Transport(t)) => {
                    // The transport's message can carry the URL, hence the token: not shown.
                    return Err(TelegramError::Unreachable {
                        api_base: self.base.clone(),
                        method: method.into(),
                        message: t.kind().to_string(),
                    });
                }
            };
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if answer["ok"] == json!(true) {
                return Ok(answer["result"].clone());
            }
            let retry_after = answer["parameters"]["retry_after"].as_u64();
            if status == 429
                && let Some(secs) = retry_after
                && secs <= MAX_RETRY_AFTER
                && tries < RETRIES_429
            {
                tries += 1;
                tracing::info!(method, secs, "telegram: too many requests; waiting as told");
                std::thread::sleep(Duration::from_secs(secs));
                continue;
            }
            let description = answer["description"]
                .as_str()
                .map_or_else(|| truncate(&text, 200), str::to_string);
            return Err(TelegramError::Api {
                method: method.into(),
                status,
                description,
            });
        }
    }
}

/// An inline keyboard of rows of buttons.
fn keyboard(rows: &[Vec<Button>]) -> Value {
    let rows: Vec<Vec<Value>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|(text, data)| json!({ "text": text, "callback_data": data }))
                .collect()
        })
        .collect();
    json!({ "inline_keyboard": rows })
}

fn message_id(result: &Value) -> i64 {
    result["message_id"].as_i64().unwrap_or(0)
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Whether `text` fits one message.
pub fn fits(text: &str) -> bool {
    units(text) <= MAX_MESSAGE
}
