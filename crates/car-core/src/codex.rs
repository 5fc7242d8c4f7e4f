//! Understanding `codex exec`: its `--json` event stream, how a run ended,
//! what its errors mean, whether the agent asked a person something, and
//! which version is installed.

use chrono::{DateTime, Local, NaiveDate, NaiveTime, TimeZone};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The oldest Codex CLI version the end-to-end tests run against.
pub(crate) const OLDEST_TESTED_VERSION: (u64, u64, u64) = (0, 169, 0);

/// A line the agent prints to ask a person (the convention of the seed docs).
pub(crate) const NEED_INPUT_PREFIX: &str = "NEED_INPUT:";

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

/// What an error message from Codex means for the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// A usage window is used up; retry at the reset time (None: unknown, "later").
    UsageLimit(Option<DateTime<Local>>),
    /// The plan or billing does not allow more; retrying will not help.
    Billing,
    /// A temporary problem (high demand, a dropped stream, 429/5xx, connection).
    Transient,
    /// The prompt no longer fits the model's context window.
    ContextWindow,
    /// Anything else.
    Other,
}

/// Classifies a Codex error message; `now` anchors times like "3:45 PM".
pub(crate) fn classify(message: &str, now: DateTime<Local>) -> ErrorClass {
    let m = message.replace('\u{2019}', "'").to_lowercase();
    // First: a usage window's message may also say "Upgrade to Plus ... or
    // try again at"; it is a wait, not a billing wall.
    if m.contains("usage limit") {
        return ErrorClass::UsageLimit(parse_reset(message, now));
    }
    if m.contains("quota exceeded")
        || m.contains("check your plan and billing")
        || m.contains("upgrade to plus")
    {
        return ErrorClass::Billing;
    }
    if m.contains("context window") || m.contains("ran out of room") {
        return ErrorClass::ContextWindow;
    }
    // "exceeded retry limit, last status: 401" is not worth retrying; 429 and 5xx are.
    if let Some(rest) = m.split("exceeded retry limit").nth(1) {
        let code = rest
            .split("last status:")
            .nth(1)
            .and_then(|t| t.trim().get(..3));
        return match code {
            Some(c) if c == "429" || c.starts_with('5') => ErrorClass::Transient,
            Some(_) => ErrorClass::Other,
            None => ErrorClass::Transient,
        };
    }
    let transient = [
        "high demand",
        "stream disconnected",
        "connection failed",
        "error sending request",
        "waiting for network",
        "reconnecting",
        "timed out",
        "temporarily unavailable",
        "internal server error",
        "bad gateway",
        "service unavailable",
    ];
    if transient.iter().any(|t| m.contains(t)) {
        return ErrorClass::Transient;
    }
    ErrorClass::Other
}

/// Parses the reset time out of "... try again at 3:45 PM." or
/// "... try again at Mar 5th, 2026 3:45 PM." (local time).
///
/// Codex prints a time of day only for a reset later the same day, cut to
/// the minute: the window resets within that minute, so the end of the
/// minute is returned (never early). A time already passed means now.
pub(crate) fn parse_reset(message: &str, now: DateTime<Local>) -> Option<DateTime<Local>> {
    static RESET: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
        Regex::new(
            r"(?i)try again at\s+(?:([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4}),?\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]\.?M\.?)?",
        )
        .ok()
    });
    let c = RESET.as_ref()?.captures(message)?;
    let mut hour: u32 = c.get(4)?.as_str().parse().ok()?;
    let minute: u32 = c.get(5)?.as_str().parse().ok()?;
    let second: u32 = c.get(6).map_or(Some(0), |s| s.as_str().parse().ok())?;
    if let Some(ampm) = c.get(7) {
        let pm = ampm.as_str().to_ascii_lowercase().starts_with('p');
        if hour == 12 {
            hour = 0;
        }
        if pm {
            hour += 12;
        }
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second)?;
    let date = match (c.get(1), c.get(2), c.get(3)) {
        (Some(mon), Some(day), Some(year)) => NaiveDate::from_ymd_opt(
            year.as_str().parse().ok()?,
            month_number(mon.as_str())?,
            day.as_str().parse().ok()?,
        )?,
        _ => now.date_naive(),
    };
    let at = Local.from_local_datetime(&date.and_time(time)).earliest()?;
    let at = if c.get(6).is_some() {
        at
    } else {
        at.checked_add_signed(chrono::Duration::seconds(60))?
    };
    Some(at.max(now))
}

fn month_number(s: &str) -> Option<u32> {
    let m = s.to_ascii_lowercase();
    let names = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    names
        .iter()
        .position(|n| m.starts_with(n))
        .map(|i| i as u32 + 1)
}

/// The agent's verdict with `codex.structured_verdict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// `continue`, `done`, `needs_input` or `blocked`.
    pub status: String,
    /// What was done.
    #[serde(default)]
    pub summary: String,
    /// The question for a person.
    #[serde(default)]
    pub question: String,
}

/// The JSON schema passed to `codex exec --output-schema`.
pub(crate) const VERDICT_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "status": {"type": "string", "enum": ["continue", "done", "needs_input", "blocked"]},
    "summary": {"type": "string"},
    "question": {"type": "string"}
  },
  "required": ["status", "summary", "question"],
  "additionalProperties": false
}
"#;

/// Parses a structured verdict from a final message.
pub(crate) fn parse_verdict(text: &str) -> Option<Verdict> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .unwrap_or(t);
    let t = t.strip_suffix("```").unwrap_or(t).trim();
    let v: Verdict = serde_json::from_str(t).ok()?;
    ["continue", "done", "needs_input", "blocked"]
        .contains(&v.status.as_str())
        .then_some(v)
}

/// Returns the question of the last `NEED_INPUT: ...` line of a message.
pub(crate) fn need_input_question(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| {
            l.trim()
                .trim_start_matches(['*', '`', '>', ' '])
                .strip_prefix(NEED_INPUT_PREFIX)
        })
        .map(|q| q.trim().trim_end_matches(['*', '`']).trim().to_string())
        .rfind(|q| !q.is_empty())
}

/// Parses `codex --version` output (`codex-cli 0.169.0`).
pub(crate) fn parse_version(output: &str) -> Option<(u64, u64, u64)> {
    let word = output
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let mut parts = word.split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Returns whether `args` run `codex exec` (so `--json` and `-o` apply).
pub(crate) fn runs_exec(args: &[String]) -> bool {
    args.iter().any(|a| a == "exec" || a == "e")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn at(h: u32, m: u32) -> DateTime<Local> {
        Local
            .from_local_datetime(
                &NaiveDate::from_ymd_opt(2026, 3, 1)
                    .unwrap()
                    .and_hms_opt(h, m, 0)
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
            classify(r.retrying().unwrap(), at(11, 0)),
            ErrorClass::Transient
        );
        assert_eq!(
            classify("Reconnecting... waiting for network", at(11, 0)),
            ErrorClass::Transient
        );
        r.feed(br#"{"type":"error","message":"unexpected status 400"}"#);
        assert_eq!(r.retrying(), None, "only a retry notice as the last error");
    }

    #[test]
    fn classifies_errors() {
        let now = at(11, 0);
        let usage = "You\u{2019}ve hit your usage limit. Upgrade to Pro (https://x), visit y to purchase more credits or try again at 11:31 AM.";
        match classify(usage, now) {
            ErrorClass::UsageLimit(Some(t)) => assert_eq!((t.hour(), t.minute()), (11, 32)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            classify("You've hit your usage limit. Try again later.", now),
            ErrorClass::UsageLimit(None)
        );
        assert_eq!(
            classify("Quota exceeded. Check your plan and billing details.", now),
            ErrorClass::Billing
        );
        assert_eq!(
            classify("To use Codex with your ChatGPT plan, upgrade to Plus", now),
            ErrorClass::Billing
        );
        assert_eq!(
            classify(
                "We're currently experiencing high demand, which may cause temporary errors.",
                now
            ),
            ErrorClass::Transient
        );
        assert_eq!(
            classify("stream disconnected before completion: x", now),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(
                "exceeded retry limit, last status: 429 Too Many Requests",
                now
            ),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(
                "Codex ran out of room in the model's context window. Start a new thread",
                now
            ),
            ErrorClass::ContextWindow
        );
        assert_eq!(
            classify("exceeded retry limit, last status: 502 Bad Gateway", now),
            ErrorClass::Transient
        );
        assert_eq!(
            classify("exceeded retry limit, last status: 401 Unauthorized", now),
            ErrorClass::Other
        );
        let free = "You\u{2019}ve hit your usage limit. Upgrade to Plus to continue using Codex (https://x), or try again at 11:31 AM.";
        assert!(
            matches!(classify(free, now), ErrorClass::UsageLimit(Some(_))),
            "a usage window, not billing"
        );
        assert_eq!(classify("something else", now), ErrorClass::Other);
    }

    #[test]
    fn reset_times_are_the_end_of_the_printed_minute_and_never_past() {
        let now = at(15, 50);
        let t = parse_reset("try again at 4:05 PM", now).unwrap();
        assert_eq!(
            (t.day(), t.hour(), t.minute()),
            (1, 16, 6),
            "the end of 4:05"
        );
        let t = parse_reset("try again at 3:50 PM", now).unwrap();
        assert_eq!(
            (t.hour(), t.minute()),
            (15, 51),
            "the current minute: wait to its end"
        );
        let t = parse_reset("try again at 3:45 PM.", now).unwrap();
        assert_eq!(t, now, "a time already passed means now, never tomorrow");
        let t = parse_reset("or try again at Mar 5th, 2026 3:45 PM.", now).unwrap();
        assert_eq!((t.month(), t.day(), t.hour(), t.minute()), (3, 5, 15, 46));
        let t = parse_reset("try again at 12:10 AM", at(0, 5)).unwrap();
        assert_eq!((t.day(), t.hour(), t.minute()), (1, 0, 11));
        assert!(parse_reset("try again later", now).is_none());
    }

    #[test]
    fn need_input_and_verdicts() {
        assert_eq!(
            need_input_question("Did X.\nNEED_INPUT: Which database should I use?\n").as_deref(),
            Some("Which database should I use?")
        );
        assert_eq!(
            need_input_question("**NEED_INPUT: bold?**").as_deref(),
            Some("bold?")
        );
        assert!(need_input_question("no marker here").is_none());
        let v = parse_verdict(r#"{"status":"needs_input","summary":"s","question":"q?"}"#).unwrap();
        assert_eq!(
            (v.status.as_str(), v.question.as_str()),
            ("needs_input", "q?")
        );
        assert!(parse_verdict(r#"{"status":"maybe","summary":"","question":""}"#).is_none());
        assert!(parse_verdict("not json").is_none());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("codex-cli 0.169.0\n"), Some((0, 169, 0)));
        assert_eq!(parse_version("codex-cli 1.2.3-beta.1"), Some((1, 2, 3)));
        assert_eq!(parse_version("garbage"), None);
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
