//! [`LoopEvent`]: every happening of a loop, in one serialisable vocabulary
//! shared by the ledger, the in-process observers, the notifier and the CLI.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codex::TokenUsage;
use crate::docs::{DocKind, TodoStatus};
use crate::notify::NotifyClass;
use crate::record::{RunKind, RunOutcome, RunRecord, TodoCount};
use crate::state::StopReason;
use crate::stop::RequestedBy;
use crate::task::TaskState;

/// Something that happened in a loop (or to it: a reply, a notification).
///
/// On disk it is the `type` and the fields of one ledger line (see
/// [`EventEnvelope`](super::EventEnvelope) and `docs/events.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LoopEvent {
    /// The loop took the lock and starts.
    LoopStarted {
        /// The command that started it (`run`, `once`, `resume`).
        #[serde(default)]
        command: Option<String>,
        /// Runs allowed in this invocation, if limited.
        #[serde(default)]
        max_runs: Option<u64>,
        /// The runner's process id.
        #[serde(default)]
        pid: Option<u32>,
    },
    /// A run starts (its id is the envelope's `run_id`).
    RunStarted {
        /// Loop or summary.
        kind: RunKind,
        /// The TODO before it (absent from lines of older versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        todo: Option<TodoStatus>,
    },
    /// A run ended (and was recorded in `runs/<id>/run.json`, unless its
    /// `error` says why not).
    RunFinished(RunFigures),
    /// The loop sleeps before the next run.
    Sleeping {
        /// For how long, in milliseconds.
        duration_ms: u64,
    },
    /// A transient failure: the run is retried after a pause.
    Retry {
        /// Which retry (1-based).
        attempt: u32,
        /// Retries allowed.
        of: u32,
        /// The pause, in milliseconds.
        delay_ms: u64,
        /// The agent's message.
        reason: String,
    },
    /// The agent's usage window is used up; the loop waits for it to reset.
    WaitingForQuota {
        /// When the wait ends (UTC, RFC 3339).
        until: String,
        /// The wait, in milliseconds.
        wait_ms: u64,
        /// The reset time the agent announced, when it did.
        #[serde(default)]
        reset_at: Option<String>,
        /// The agent's message.
        message: String,
    },
    /// The agent asked a person something (the run is the envelope's).
    NeedsInput {
        /// The question.
        question: String,
    },
    /// Something a person should know that does not stop the loop.
    Warning {
        /// What.
        message: String,
    },
    /// The loop stopped.
    Stopped {
        /// Why.
        reason: StopReason,
        /// Details (the limit, the last error).
        #[serde(default)]
        detail: Option<String>,
        /// Runs made by the invocation that stopped.
        #[serde(default)]
        runs: u64,
        /// Who asked for the stop, when someone did.
        #[serde(default)]
        requested_by: Option<RequestedBy>,
        /// Where the request came from (a terminal, a unit, ...), when known.
        #[serde(default)]
        origin: Option<String>,
        /// Recorded by another process for a runner that could not (it was
        /// stuck): the third stop signal.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        abandoned: bool,
    },
    /// A person answered (or wrote to) the agent.
    Reply {
        /// The question answered, when one was open.
        #[serde(default)]
        question: Option<String>,
        /// The reply's length, in characters (the text stays in the state).
        #[serde(default)]
        chars: usize,
        /// Which kind of front end sent it.
        #[serde(default)]
        requested_by: Option<RequestedBy>,
        /// Where it came from, when known.
        #[serde(default)]
        origin: Option<String>,
    },
    /// One attempt to deliver a notification, or one left for the next
    /// process to send (`deferred`).
    Notification {
        /// The provider (`ntfy`, `telegram`, ...).
        provider: String,
        /// What the notification was about.
        class: NotifyClass,
        /// Its priority (1-5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<u8>,
        /// Which attempt (1-based).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// Whether the provider accepted it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ok: Option<bool>,
        /// The provider's error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The provider's id of the message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// Not sent before the process ended: the next one sends it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deferred: bool,
    },
    /// A Codex task was spawned (see `Repo::tasks`); its own process
    /// starts its first turn.
    TaskSpawned {
        /// The task.
        task_id: String,
        /// Where the agent works.
        cwd: PathBuf,
        /// The model asked for, if any.
        #[serde(default)]
        model: Option<String>,
        /// Which kind of front end asked.
        requested_by: RequestedBy,
        /// Where the request came from, when known.
        #[serde(default)]
        origin: Option<String>,
    },
    /// A reply to a task: a new turn of the same Codex conversation.
    TaskReply {
        /// The task.
        task_id: String,
        /// The turn it starts (2 for the first reply).
        turn: u32,
        /// The reply's length, in characters (the text stays in the task's files).
        chars: usize,
        /// Which kind of front end asked.
        requested_by: RequestedBy,
        /// Where the request came from, when known.
        #[serde(default)]
        origin: Option<String>,
    },
    /// Someone asked to abort a task.
    TaskAborted {
        /// The task.
        task_id: String,
        /// Which kind of front end asked.
        requested_by: RequestedBy,
        /// Where the request came from, when known.
        #[serde(default)]
        origin: Option<String>,
    },
    /// A task's turn ended.
    TaskDone {
        /// The task.
        task_id: String,
        /// The turn that ended.
        turn: u32,
        /// How the task stands now (succeeded, failed, cancelled).
        state: TaskState,
        /// The agent's exit code, when it exited.
        #[serde(default)]
        exit_code: Option<i32>,
    },
    /// A command was asked for (see `Repo::execs`): `sh -c CMD` in a
    /// process of its own.
    ExecStarted {
        /// The command.
        exec_id: String,
        /// Its command line.
        cmd: String,
        /// Where it runs.
        cwd: PathBuf,
        /// Which kind of front end asked.
        requested_by: RequestedBy,
        /// Where the request came from, when known.
        #[serde(default)]
        origin: Option<String>,
    },
    /// Someone asked to cancel a command.
    ExecCancelled {
        /// The command.
        exec_id: String,
        /// Which kind of front end asked.
        requested_by: RequestedBy,
        /// Where the request came from, when known.
        #[serde(default)]
        origin: Option<String>,
    },
    /// A command ended.
    ExecDone {
        /// The command.
        exec_id: String,
        /// How it ended (succeeded, failed, cancelled).
        state: TaskState,
        /// Its exit code, when it exited.
        #[serde(default)]
        exit_code: Option<i32>,
        /// The signal that ended it, when one did.
        #[serde(default)]
        signal: Option<i32>,
    },
    /// A state-changing request made through the API (loop control, a
    /// reply, a doc write, a task's spawn, reply or cancel), as answered:
    /// no body, no secret.
    Audit {
        /// The HTTP method.
        method: String,
        /// The path asked for (without the query).
        path: String,
        /// Which kind of front end answered it.
        requested_by: RequestedBy,
        /// Where the request came from (the peer's address), when known.
        #[serde(default)]
        origin: Option<String>,
        /// The server user whose token made it (`car serve users`), when
        /// a user token did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// The HTTP status of the answer.
        status: u16,
    },
    /// A line of a type this version does not know (written by a newer
    /// car): kept whole, so readers can still show it.
    #[serde(untagged)]
    Unknown(Map<String, Value>),
}

/// The figures of a finished run: what `run.json` says, without the diffs
/// and the agent's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    /// Loop or summary.
    pub kind: RunKind,
    /// How it ended (`error`: it ended before it was recorded).
    pub outcome: FinishedAs,
    /// The agent's exit code, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that ended the agent, when one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Duration in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// Tokens used.
    #[serde(default)]
    pub tokens: Option<TokenUsage>,
    /// The failure's message.
    #[serde(default)]
    pub error: Option<String>,
    /// What the failure means (usage_limit, transient, ...).
    #[serde(default)]
    pub error_class: Option<String>,
    /// TODO counts after the run (absent from lines of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub todo_after: Option<TodoCount>,
    /// The work docs the run changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docs_changed: Vec<DocKind>,
    /// Whether any other file of the work tree changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree_changed: bool,
    /// The commit made by `git.auto_commit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Why that commit failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_error: Option<String>,
}

/// How a run ended, as the ledger says it: a recorded outcome, or `error`
/// for a run that ended before it could be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FinishedAs {
    /// The outcome in `run.json`.
    Recorded(RunOutcome),
    /// Not recorded: the loop failed during the run.
    Unrecorded(Unrecorded),
}

/// The `error` outcome of a run that was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unrecorded {
    /// The only value: `"error"`.
    Error,
}

impl FinishedAs {
    /// The name written to the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded(o) => o.as_str(),
            Self::Unrecorded(Unrecorded::Error) => "error",
        }
    }
}

impl RunFigures {
    /// The figures of a recorded run.
    pub fn of(rec: &RunRecord) -> Self {
        Self {
            kind: rec.kind,
            outcome: FinishedAs::Recorded(rec.outcome),
            exit_code: rec.exit_code,
            signal: rec.signal,
            duration_ms: rec.duration_ms,
            tokens: rec.tokens,
            error: rec.error.clone(),
            error_class: rec.error_class.clone(),
            todo_after: Some(rec.todo_after),
            docs_changed: rec.docs_changed.iter().map(|c| c.doc).collect(),
            worktree_changed: rec.worktree_changed,
            git_commit: rec.git_commit.clone(),
            git_error: rec.git_error.clone(),
        }
    }

    /// A run that ended in `error` before it was recorded.
    pub fn unrecorded(kind: RunKind, error: String) -> Self {
        Self {
            kind,
            outcome: FinishedAs::Unrecorded(Unrecorded::Error),
            exit_code: None,
            signal: None,
            duration_ms: 0,
            tokens: None,
            error: Some(error),
            error_class: None,
            todo_after: None,
            docs_changed: Vec::new(),
            worktree_changed: false,
            git_commit: None,
            git_error: None,
        }
    }

    /// Describes how the agent ended: `exit 3`, `signal 9`.
    pub fn describe_exit(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "no exit status".into(),
        }
    }
}

impl LoopEvent {
    /// The `type` of the event on disk (`run_started`, ...).
    pub fn kind(&self) -> &str {
        match self {
            Self::LoopStarted { .. } => "loop_started",
            Self::RunStarted { .. } => "run_started",
            Self::RunFinished(_) => "run_finished",
            Self::Sleeping { .. } => "sleeping",
            Self::Retry { .. } => "retry",
            Self::WaitingForQuota { .. } => "waiting_for_quota",
            Self::NeedsInput { .. } => "needs_input",
            Self::Warning { .. } => "warning",
            Self::Stopped { .. } => "stopped",
            Self::Reply { .. } => "reply",
            Self::Notification { .. } => "notification",
            Self::TaskSpawned { .. } => "task_spawned",
            Self::TaskReply { .. } => "task_reply",
            Self::TaskAborted { .. } => "task_aborted",
            Self::TaskDone { .. } => "task_done",
            Self::ExecStarted { .. } => "exec_started",
            Self::ExecCancelled { .. } => "exec_cancelled",
            Self::ExecDone { .. } => "exec_done",
            Self::Audit { .. } => "audit",
            Self::Unknown(m) => m.get("type").and_then(Value::as_str).unwrap_or("?"),
        }
    }

    /// Every type this version writes, for documentation and checks.
    pub const KINDS: &[&str] = &[
        "loop_started",
        "run_started",
        "run_finished",
        "sleeping",
        "retry",
        "waiting_for_quota",
        "needs_input",
        "warning",
        "stopped",
        "reply",
        "notification",
        "task_spawned",
        "task_reply",
        "task_aborted",
        "task_done",
        "exec_started",
        "exec_cancelled",
        "exec_done",
        "audit",
    ];
}
