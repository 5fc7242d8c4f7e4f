//! The record of a chat request, `jobs/chat-<doc>.json`: what was asked,
//! the version it started from, and the agent's proposal or error.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{DiffLine, DocChatError, line_diff};
use crate::docs::DocKind;
use crate::fs_util::{PathError, read_optional, write_atomic};
use crate::paths::RepoPaths;

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatState {
    /// The agent is working on it.
    Running,
    /// The proposal waits to be applied or discarded.
    Ready,
    /// The agent did not produce a proposal (see `error`).
    Failed,
    /// The proposal was written to the doc.
    Applied,
    /// The person dropped it.
    Discarded,
}

impl ChatState {
    /// The state's name (`running`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Applied => "applied",
            Self::Discarded => "discarded",
        }
    }
}

impl fmt::Display for ChatState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to change a doc and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRecord {
    /// The request's id (`<doc>-<unix ms>`).
    pub id: String,
    /// The doc.
    pub doc: DocKind,
    /// Where it is.
    pub state: ChatState,
    /// What the person asked.
    pub request: String,
    /// The version of the doc the request started from (as its `ETag`).
    pub base_etag: String,
    /// That version's text.
    pub base_text: String,
    /// The agent's new doc (when ready, applied or discarded after ready).
    pub proposal: Option<String>,
    /// The proposal against the base, line by line.
    #[serde(default)]
    pub diff: Vec<DiffLine>,
    /// What went wrong (when failed).
    pub error: Option<String>,
    /// When it was asked (UTC).
    pub started_at: String,
    /// When the agent answered or the request was closed.
    pub finished_at: Option<String>,
    /// The process that runs the agent.
    pub pid: u32,
}

fn now() -> String {
    crate::time::iso_seconds(crate::time::now())
}

impl ChatRecord {
    /// A running request for `doc` based on its `bytes` (None: no file).
    pub(super) fn new(doc: DocKind, request: &str, bytes: Option<Vec<u8>>) -> Self {
        let exists = bytes.is_some();
        let bytes = bytes.unwrap_or_default();
        Self {
            id: format!("{}-{}", doc.name(), crate::time::now().timestamp_millis()),
            doc,
            state: ChatState::Running,
            request: request.to_string(),
            base_etag: super::doc_etag(exists, &bytes),
            base_text: String::from_utf8_lossy(&bytes).into_owned(),
            proposal: None,
            diff: Vec::new(),
            error: None,
            started_at: now(),
            finished_at: None,
            pid: std::process::id(),
        }
    }

    pub(super) fn ready(&mut self, text: String) {
        self.diff = line_diff(&self.base_text, &text);
        self.proposal = Some(text);
        self.state = ChatState::Ready;
        self.finished_at = Some(now());
    }

    pub(super) fn fail(&mut self, error: String) {
        self.error = Some(error);
        self.state = ChatState::Failed;
        self.finished_at = Some(now());
    }

    pub(super) fn close(&mut self, how: ChatState) {
        self.state = how;
        self.finished_at = Some(now());
    }
}

fn path(paths: &RepoPaths, doc: DocKind) -> PathBuf {
    paths
        .car_dir
        .join("jobs")
        .join(format!("chat-{}.json", doc.name()))
}

/// The record of `doc`'s latest request; a running one whose process
/// has gone reads as failed.
pub(super) fn load(paths: &RepoPaths, doc: DocKind) -> Result<Option<ChatRecord>, DocChatError> {
    let path = path(paths, doc);
    let Some(bytes) = read_optional(&path)? else {
        return Ok(None);
    };
    let mut rec: ChatRecord =
        serde_json::from_slice(&bytes).map_err(|source| DocChatError::BadRecord {
            path: path.clone(),
            source,
        })?;
    if rec.state == ChatState::Running && !crate::process::is_alive(rec.pid) {
        rec.fail(format!(
            "the process that ran the agent (pid {}) ended before the agent answered",
            rec.pid
        ));
    }
    Ok(Some(rec))
}

/// Writes the record of `rec`'s doc (atomically).
pub(super) fn store(paths: &RepoPaths, rec: &ChatRecord) -> Result<(), PathError> {
    let path = path(paths, rec.doc);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| PathError {
            action: "cannot create directory",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut json = serde_json::to_string_pretty(rec).unwrap_or_default();
    json.push('\n');
    write_atomic(&path, json.as_bytes())
}
