//! The last event per loop, task and command (what the seed's
//! `ledger.py status` printed per conversation): one entry per repository's
//! loop, per task (`task_id`) and per command (`exec_id`), each with its
//! latest event. Notifications and API audit records say nothing of how a
//! loop stands and are not counted as its last event.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

/// Event types that are not about the loop's progress.
const NOT_PROGRESS: [&str; 2] = ["notification", "audit"];

/// What an entry follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A repository's loop.
    Loop,
    /// A Codex task.
    Task,
    /// A command (`car exec`).
    Exec,
}

impl Subject {
    /// The word printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loop => "loop",
            Self::Task => "task",
            Self::Exec => "exec",
        }
    }
}

/// The latest event of one loop, task or command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastEvent {
    /// The repository (its hub id; absent for a lone repository).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// What it follows.
    pub subject: Subject,
    /// The task's or command's id (absent for a loop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Events seen for it.
    pub events: u64,
    /// A task's prompt (secrets redacted), when prompts are published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The latest one, as a ledger line.
    pub last: Value,
}

/// One repository's ledger lines, for [`last_events`].
#[derive(Debug, Clone)]
pub struct Source {
    /// Its hub id, when it is one of a hub's.
    pub id: Option<String>,
    /// Its ledger files, oldest first.
    pub files: Vec<PathBuf>,
    /// Its tasks' prompts by task id (given only when prompts are
    /// published: `--include-prompts`).
    pub prompts: BTreeMap<String, String>,
}

/// The subject of an event line; `None` for what follows no subject.
fn subject_of(v: &Value) -> Option<(Subject, Option<String>)> {
    let kind = v.get("type").and_then(Value::as_str)?;
    if let Some(t) = v.get("task_id").and_then(Value::as_str) {
        return Some((Subject::Task, Some(t.to_string())));
    }
    if let Some(e) = v.get("exec_id").and_then(Value::as_str) {
        return Some((Subject::Exec, Some(e.to_string())));
    }
    (!NOT_PROGRESS.contains(&kind)).then_some((Subject::Loop, None))
}

/// Folds `lines` (one repository's events, oldest first) into `out`; a
/// task's entry carries its prompt from `prompts`, redacted.
pub fn fold(
    repo: Option<&str>,
    lines: &[Value],
    prompts: &BTreeMap<String, String>,
    out: &mut Vec<LastEvent>,
) {
    let start = out.len();
    for v in lines {
        let Some((subject, id)) = subject_of(v) else {
            continue;
        };
        match out[start..]
            .iter_mut()
            .find(|e| e.subject == subject && e.id == id)
        {
            Some(e) => {
                e.events += 1;
                e.last = v.clone();
            }
            None => out.push(LastEvent {
                repo: repo.map(str::to_string),
                subject,
                prompt: id
                    .as_ref()
                    .filter(|_| subject == Subject::Task)
                    .and_then(|id| prompts.get(id))
                    .map(|p| super::redact::redact_secrets(p)),
                id,
                events: 1,
                last: v.clone(),
            }),
        }
    }
    // The loop first, then tasks and commands by id (as ledger.py sorted).
    out[start..].sort_by(|a, b| (a.subject, &a.id).cmp(&(b.subject, &b.id)));
}

/// Reads each source's ledger (prompts as `include_prompts` says, secrets
/// redacted) and returns the last event per loop, task and command.
pub fn last_events(sources: &[Source], include_prompts: bool) -> Vec<LastEvent> {
    let mut out = Vec::new();
    for s in sources {
        let lines: Vec<Value> = super::read_lines(&s.files, include_prompts)
            .into_iter()
            .map(|l| l.value)
            .collect();
        fold(s.id.as_deref(), &lines, &s.prompts, &mut out);
    }
    out
}

/// One line of text for an entry: `repo  subject id  ts  type  detail`.
pub fn describe(e: &LastEvent) -> String {
    let field = |k: &str| e.last.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut s = String::new();
    if let Some(r) = &e.repo {
        s.push_str(r);
        s.push_str("  ");
    }
    s.push_str(e.subject.as_str());
    if let Some(id) = &e.id {
        s.push(' ');
        s.push_str(id);
    }
    s.push_str(&format!("  {}  {}", field("ts"), field("type")));
    let detail = ["reason", "state", "message", "question", "detail"]
        .iter()
        .find_map(|k| {
            e.last
                .get(*k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        });
    if let Some(d) = detail {
        let one: String = d
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect();
        s.push_str(&format!("  {one}"));
    }
    if let Some(run) = e.last.get("run_id").and_then(Value::as_u64) {
        s.push_str(&format!("  run={run}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        serde_json::from_str(s).expect("json")
    }

    #[test]
    fn keeps_the_last_event_per_loop_task_and_command() {
        let lines = [
            v(r#"{"type":"loop_started","ts":"t1"}"#),
            v(r#"{"type":"task_spawned","task_id":"b","ts":"t2"}"#),
            v(r#"{"type":"task_spawned","task_id":"a","ts":"t3"}"#),
            v(r#"{"type":"stopped","reason":"completed","ts":"t4","run_id":2}"#),
            v(r#"{"type":"notification","provider":"ntfy","ts":"t5"}"#),
            v(r#"{"type":"task_done","task_id":"b","state":"succeeded","ts":"t6"}"#),
            v(r#"{"type":"exec_done","exec_id":"x","state":"failed","ts":"t7"}"#),
        ];
        let mut out = Vec::new();
        let prompts = BTreeMap::from([("a".to_string(), "Do A with TOKEN=x1".to_string())]);
        fold(Some("r1"), &lines, &prompts, &mut out);
        assert_eq!(out[1].prompt.as_deref(), Some("Do A with TOKEN=[redacted]"));
        assert_eq!(out[2].prompt, None);
        let got: Vec<(String, u64)> = out.iter().map(|e| (describe(e), e.events)).collect();
        assert_eq!(
            got,
            [
                ("r1  loop  t4  stopped  completed  run=2".to_string(), 2),
                ("r1  task a  t3  task_spawned".to_string(), 1),
                ("r1  task b  t6  task_done  succeeded".to_string(), 2),
                ("r1  exec x  t7  exec_done  failed".to_string(), 1),
            ]
        );
    }
}
