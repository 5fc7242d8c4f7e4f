//! Codex's `--json` event stream: one run's events read line by line into
//! what they said (commands, file changes, messages, usage, how the turn
//! ended), with the events kept for the record.

use serde::{Deserialize, Serialize};

/// Events longer than this have their big string fields cut before being
/// stored (a command's `aggregated_output` can be megabytes).
const MAX_STORED_EVENT: usize = 256 * 1024;
/// How long a string field of a stored event may be after cutting.
const MAX_STORED_FIELD: usize = 64 * 1024;
/// Agent messages kept per run (the last ones matter).
const MAX_MESSAGES: usize = 50;

/// Token usage of a run, as Codex reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Input tokens (cached ones included).
    pub input: u64,
    /// Cached input tokens.
    pub cached: u64,
    /// Output tokens (reasoning included).
    pub output: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
}

impl TokenUsage {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input + self.output
    }
    /// Adds another usage to this one.
    pub fn add(&mut self, o: &TokenUsage) {
        self.input += o.input;
        self.cached += o.cached;
        self.output += o.output;
        self.reasoning += o.reasoning;
    }
}

/// A command the agent ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRun {
    /// The command line.
    pub command: String,
    /// Its exit code.
    pub exit_code: Option<i64>,
}

/// A file the agent changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// The path.
    pub path: String,
    /// `add`, `update`, `delete`.
    pub kind: String,
}

/// How the turn ended, according to the events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum Terminal {
    /// `turn.completed`.
    Completed,
    /// `turn.failed` with its message.
    Failed(String),
}

/// What the events of one run said.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CodexRun {
    /// `thread.started.thread_id`.
    pub thread_id: Option<String>,
    /// Commands run, with exit codes.
    pub commands: Vec<CommandRun>,
    /// Files changed.
    pub files_changed: Vec<FileChange>,
    /// Agent messages (the last few).
    pub agent_messages: Vec<String>,
    /// `error` events and error items.
    pub errors: Vec<String>,
    /// Usage from `turn.completed`.
    pub usage: Option<TokenUsage>,
    /// The terminal event.
    pub terminal: Option<Terminal>,
    /// JSON events seen.
    pub events: u64,
}

/// What to do with one stdout line.
pub enum Parsed {
    /// Not a Codex event: keep the line as plain output.
    Plain,
    /// An event: the raw line to store, and a short rendering for the log
    /// (None: nothing worth showing).
    Event {
        /// The line to store in the events file.
        stored: Vec<u8>,
        /// A human rendering.
        shown: Option<String>,
        /// Whether the event shows the turn moving on (see [`is_progress`]);
        /// retry notices do not.
        progress: bool,
    },
}

/// Returns whether an event of type `kind` with this `message` shows the
/// turn moving on: thread, turn and item events (messages, commands and
/// their output, file changes) and real errors do; a notice that Codex is
/// reconnecting or retrying (`Reconnecting... waiting for network`, with a
/// growing backoff, forever when the model cannot be reached) does not.
pub(crate) fn is_progress(kind: &str, message: &str) -> bool {
    !(matches!(kind, "error" | "warning") && is_retry_notice(message))
}

/// Returns whether an error message is Codex saying it retries a request
/// (`Reconnecting... 2/5 (...)`, `Reconnecting... waiting for network (...)`).
pub(crate) fn is_retry_notice(message: &str) -> bool {
    let m = message.trim_start().to_lowercase();
    m.starts_with("reconnecting") || m.starts_with("retrying") || m.contains("waiting for network")
}

impl CodexRun {
    /// Feeds one stdout line; JSON objects with a `type` are events.
    pub fn feed(&mut self, line: &[u8]) -> Parsed {
        let trimmed = line.trim_ascii_start();
        if !trimmed.starts_with(b"{") {
            return Parsed::Plain;
        }
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(trimmed) else {
            return Parsed::Plain;
        };
        let Some(kind) = v.get("type").and_then(|t| t.as_str()).map(str::to_string) else {
            return Parsed::Plain;
        };
        self.events += 1;
        let progress = is_progress(
            &kind,
            v.get("message").and_then(|m| m.as_str()).unwrap_or(""),
        );
        let shown = self.apply(&kind, &v);
        let stored = if line.len() > MAX_STORED_EVENT {
            cut_strings(&mut v);
            serde_json::to_vec(&v).unwrap_or_default()
        } else {
            trimmed.to_vec()
        };
        Parsed::Event {
            stored,
            shown,
            progress,
        }
    }

    fn apply(&mut self, kind: &str, v: &serde_json::Value) -> Option<String> {
        let s = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
        };
        match kind {
            "thread.started" => {
                self.thread_id = v
                    .get("thread_id")
                    .and_then(|x| x.as_str())
                    .map(str::to_string);
                Some(format!(
                    "thread {}",
                    self.thread_id.as_deref().unwrap_or("?")
                ))
            }
            "turn.completed" => {
                let u = v.get("usage").cloned().unwrap_or_default();
                let n = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                let usage = TokenUsage {
                    input: n("input_tokens"),
                    cached: n("cached_input_tokens"),
                    output: n("output_tokens"),
                    reasoning: n("reasoning_output_tokens"),
                };
                self.usage = Some(usage);
                self.terminal = Some(Terminal::Completed);
                Some(format!(
                    "turn completed (tokens: {} in, {} cached, {} out, {} reasoning)",
                    usage.input, usage.cached, usage.output, usage.reasoning
                ))
            }
            "turn.failed" => {
                let msg = v.get("error").map(|e| s(e, "message")).unwrap_or_default();
                self.terminal = Some(Terminal::Failed(msg.clone()));
                Some(format!("turn failed: {msg}"))
            }
            "error" => {
                let msg = s(v, "message");
                self.errors.push(msg.clone());
                Some(format!("error: {msg}"))
            }
            "item.completed" => {
                let item = v.get("item")?;
                match item.get("type").and_then(|t| t.as_str()).unwrap_or("") {
                    "command_execution" => {
                        let command = s(item, "command");
                        let exit_code = item.get("exit_code").and_then(serde_json::Value::as_i64);
                        let shown = format!(
                            "$ {command} (exit {})",
                            exit_code.map_or_else(|| "?".into(), |c| c.to_string())
                        );
                        self.commands.push(CommandRun { command, exit_code });
                        Some(shown)
                    }
                    "file_change" => {
                        let changes = item
                            .get("changes")
                            .and_then(|c| c.as_array())
                            .cloned()
                            .unwrap_or_default();
                        let mut shown = Vec::new();
                        for c in changes {
                            let fc = FileChange {
                                path: s(&c, "path"),
                                kind: s(&c, "kind"),
                            };
                            shown.push(format!("{} {}", fc.kind, fc.path));
                            self.files_changed.push(fc);
                        }
                        Some(format!("files: {}", shown.join(", ")))
                    }
                    "agent_message" => {
                        let text = s(item, "text");
                        if self.agent_messages.len() >= MAX_MESSAGES {
                            self.agent_messages.remove(0);
                        }
                        self.agent_messages.push(text.clone());
                        Some(format!("agent: {text}"))
                    }
                    "error" => {
                        let msg = s(item, "message");
                        self.errors.push(msg.clone());
                        Some(format!("error: {msg}"))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The retry notice the agent was stuck in, when its last error is one
    /// (the model could not be reached).
    pub fn retrying(&self) -> Option<&str> {
        self.errors
            .last()
            .map(String::as_str)
            .filter(|m| is_retry_notice(m))
    }

    /// The message that explains a failure: the terminal one, else the last error.
    pub fn failure_message(&self) -> Option<&str> {
        match &self.terminal {
            Some(Terminal::Failed(m)) if !m.is_empty() => Some(m),
            _ => self.errors.last().map(String::as_str),
        }
    }
}

fn cut_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.len() > MAX_STORED_FIELD => {
            let mut cut = MAX_STORED_FIELD;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("…[truncated by car]");
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(cut_strings),
        serde_json::Value::Object(o) => o.values_mut().for_each(cut_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codex::{ErrorClass, classify};
    use chrono::{Local, NaiveDate, TimeZone};

    fn eleven() -> chrono::DateTime<Local> {
        Local
            .from_local_datetime(
                &NaiveDate::from_ymd_opt(2026, 3, 1)
                    .unwrap()
                    .and_hms_opt(11, 0, 0)
                    .unwrap(),
            )
            .unwrap()
    }

    #[test]
    fn parses_the_real_event_stream() {
        let mut r = CodexRun::default();
        for l in [
            r#"{"type":"thread.started","thread_id":"01a1"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"i3","type":"command_execution","command":"bash -c 'exit 3'","aggregated_output":"x","exit_code":3,"status":"failed"}}"#,
            r#"{"type":"item.completed","item":{"id":"i4","type":"file_change","changes":[{"path":"/r/TODO.md","kind":"update"}],"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"i5","type":"agent_message","text":"done: checked first"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":10,"output_tokens":30,"reasoning_output_tokens":5}}"#,
        ] {
            assert!(matches!(r.feed(l.as_bytes()), Parsed::Event { .. }));
        }
        assert!(matches!(r.feed(b"plain text"), Parsed::Plain));
        assert!(matches!(r.feed(b"{not json"), Parsed::Plain));
        assert_eq!(r.thread_id.as_deref(), Some("01a1"));
        assert_eq!(
            r.commands,
            vec![CommandRun {
                command: "bash -c 'exit 3'".into(),
                exit_code: Some(3)
            }]
        );
        assert_eq!(r.files_changed[0].path, "/r/TODO.md");
        assert_eq!(r.agent_messages, vec!["done: checked first"]);
        assert_eq!(r.usage.unwrap().total(), 330);
        assert_eq!(r.terminal, Some(Terminal::Completed));
    }

    fn progress_of(r: &mut CodexRun, line: &str) -> bool {
        match r.feed(line.as_bytes()) {
            Parsed::Event { progress, .. } => progress,
            Parsed::Plain => panic!("not an event: {line}"),
        }
    }

    #[test]
    fn retry_notices_are_not_progress() {
        let mut r = CodexRun::default();
        for l in [
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.started","item":{"type":"command_execution","command":"ls"}}"#,
            r#"{"type":"item.completed","item":{"type":"agent_message","text":"hi"}}"#,
            r#"{"type":"error","message":"stream disconnected before completion"}"#,
            r#"{"type":"turn.failed","error":{"message":"Connection failed: error sending request"}}"#,
        ] {
            assert!(progress_of(&mut r, l), "{l}");
        }
        // What codex 0.169 prints when the model cannot be reached.
        for l in [
            r#"{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}"#,
            r#"{"type":"error","message":"Reconnecting... 1/2 (Connection failed: error sending request)"}"#,
        ] {
            assert!(!progress_of(&mut r, l), "{l}");
        }
        assert_eq!(
            r.retrying(),
            Some("Reconnecting... 1/2 (Connection failed: error sending request)")
        );
        assert_eq!(
            classify(r.retrying().unwrap(), eleven()),
            ErrorClass::Transient
        );
        assert_eq!(
            classify("Reconnecting... waiting for network", eleven()),
            ErrorClass::Transient
        );
        r.feed(br#"{"type":"error","message":"unexpected status 400"}"#);
        assert_eq!(r.retrying(), None, "only a retry notice as the last error");
    }

    #[test]
    fn huge_events_are_cut_when_stored() {
        let mut r = CodexRun::default();
        let big = "y".repeat(400 * 1024);
        let line = format!(
            r#"{{"type":"item.completed","item":{{"type":"command_execution","command":"cat big","aggregated_output":"{big}","exit_code":0}}}}"#
        );
        match r.feed(line.as_bytes()) {
            Parsed::Event { stored, .. } => {
                assert!(stored.len() < 100 * 1024);
                let v: serde_json::Value = serde_json::from_slice(&stored).unwrap();
                assert_eq!(v["item"]["command"], "cat big");
            }
            Parsed::Plain => panic!("not parsed"),
        }
    }
}
