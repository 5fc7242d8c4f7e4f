//! The API's answers that have no type in the library.

use car_core::{ExecRecord, TaskRecord};
use serde::Deserialize;

/// A repository the server serves.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoSummary {
    /// Its id in URLs.
    pub id: String,
    /// Its root directory on the server's machine.
    pub root: String,
    /// Whether a runner is active now.
    pub running: bool,
    /// The status in its state (`idle`, `running`, ...).
    pub status: String,
}

/// The answer to a task's spawn or reply.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskStarted {
    /// The task's id.
    pub task_id: String,
    /// Its state (`queued`).
    pub status: String,
    /// The repository it belongs to.
    pub repo: String,
    /// The turn started.
    pub turn: u32,
}

/// A task's record, with its repository and its latest turn's final output.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskDetail {
    /// The record (`car task status ID --json`).
    #[serde(flatten)]
    pub record: TaskRecord,
    /// The repository it belongs to.
    pub repo: String,
    /// Its latest turn's final output, when there is one.
    #[serde(default)]
    pub final_output: Option<String>,
}

/// One run.
#[derive(Debug, Clone, Deserialize)]
pub struct RunDetail {
    /// Its id.
    pub id: u64,
    /// Its record (`null` while it runs).
    pub record: Option<serde_json::Value>,
    /// The prompt the agent got.
    pub prompt: Option<String>,
    /// The final output.
    pub final_output: Option<String>,
}

/// A slice of an output log.
#[derive(Debug, Clone, Deserialize)]
pub struct OutputSlice {
    /// Where `text` starts.
    pub offset: u64,
    /// Where the next slice starts.
    pub next_offset: u64,
    /// The log's size when it was read.
    pub size: u64,
    /// The bytes (invalid UTF-8 replaced).
    pub text: String,
}

/// A run in the list.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RunItem {
    pub(crate) id: u64,
}

/// A page of ledger events.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EventPage {
    pub(crate) events: Vec<serde_json::Value>,
    pub(crate) next: Option<u64>,
}

/// The answer to a command's start.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecStarted {
    /// The command's id.
    pub exec_id: String,
    /// Its state (`queued`: its process is starting).
    pub status: String,
    /// The repository it belongs to.
    pub repo: String,
}

/// A command's record, with its repository.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecDetail {
    /// The record (`car exec status ID --json`).
    #[serde(flatten)]
    pub record: ExecRecord,
    /// The repository it belongs to.
    pub repo: String,
}

/// A page of commands, newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecList {
    /// How many commands the server's repositories hold.
    pub total: usize,
    /// The page's commands.
    pub execs: Vec<ExecDetail>,
}

/// Bytes of a command's log.
#[derive(Debug, Clone)]
pub struct LogPiece {
    /// Where `bytes` start in the log.
    pub offset: u64,
    /// The bytes, unchanged.
    pub bytes: Vec<u8>,
}
