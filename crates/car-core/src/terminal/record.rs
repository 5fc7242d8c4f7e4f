//! A terminal session's record, `.codex-autorunner/terminals/<id>.json`:
//! written by the server that owns the session when it starts, when its
//! activity changes and when it ends; read by `car sessions` and anything
//! else while the server runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TerminalError;
use crate::paths::RepoPaths;

/// Whether a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalStatus {
    /// Its process runs (as far as the record knows).
    Running,
    /// Its process is gone.
    Ended,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalEnd {
    /// When (RFC 3339, milliseconds).
    pub at: String,
    /// Why: `exited` (the program ended), `stopped` (someone stopped
    /// it), `idle` (no client and no input for
    /// `server.terminal.idle_timeout_seconds`), `server_stopped` (the server
    /// that owned it shut down) or `server_gone` (that server died: the
    /// PTY died with it).
    pub reason: String,
    /// The program's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did (`Terminated`, `Killed`).
    pub signal: Option<String>,
}

/// One terminal session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalRecord {
    /// Its id (`p-...`).
    pub id: String,
    /// The process started in the PTY (the leader of its process group).
    pub pid: u32,
    /// That process's start time (clock ticks since boot), to tell a reused pid.
    pub pid_start: Option<u64>,
    /// The argument vector started.
    pub argv: Vec<String>,
    /// When it started (RFC 3339, milliseconds).
    pub started_at: String,
    /// Who started it (`http 127.0.0.1:51234`).
    pub started_by: String,
    /// The terminal's size.
    pub cols: u16,
    /// The terminal's size.
    pub rows: u16,
    /// The last input, attach or detach (RFC 3339, milliseconds); the idle
    /// timeout counts from it while no client is attached.
    pub last_activity: String,
    /// The server process that owns the PTY.
    pub owner_pid: u32,
    /// Its start time (clock ticks since boot).
    pub owner_start: Option<u64>,
    /// Running or ended.
    pub status: TerminalStatus,
    /// Who asked to stop it, once someone did.
    pub stop_requested_by: Option<String>,
    /// How it ended, once it did.
    pub end: Option<TerminalEnd>,
}

/// `.codex-autorunner/terminals/`.
pub(crate) fn dir(paths: &RepoPaths) -> PathBuf {
    paths.car_dir.join("terminals")
}

/// Whether `id` can name a session (and so a file).
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() > 2
        && id.len() <= 64
        && id.starts_with("p-")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The record file of session `id`.
pub(crate) fn file(paths: &RepoPaths, id: &str) -> Result<PathBuf, TerminalError> {
    if !valid_id(id) {
        return Err(TerminalError::NotFound { id: id.to_string() });
    }
    Ok(dir(paths).join(format!("{id}.json")))
}

/// A new session id, unused in this repository: `p-<UTC time to the
/// millisecond>` (sortable), with `-N` added on a clash.
pub(crate) fn new_id(paths: &RepoPaths) -> Result<String, TerminalError> {
    let d = dir(paths);
    std::fs::create_dir_all(&d).map_err(|e| TerminalError::record(&d, e))?;
    let base = format!("p-{}", crate::time::now().format("%Y%m%d-%H%M%S%3f"));
    for n in 1..1000 {
        let id = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let path = d.join(format!("{id}.json"));
        // Claimed by creating the file; the record is written over it.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => return Ok(id),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(TerminalError::record(&path, e)),
        }
    }
    Err(TerminalError::record(&d, "no free session id"))
}

/// Reads the record at `path`.
pub(crate) fn read(path: &Path) -> Result<TerminalRecord, TerminalError> {
    let bytes = std::fs::read(path).map_err(|e| TerminalError::record(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TerminalError::record(path, e))
}

/// Writes `rec` to its file, atomically.
pub(crate) fn write(paths: &RepoPaths, rec: &TerminalRecord) -> Result<(), TerminalError> {
    let path = file(paths, &rec.id)?;
    let mut bytes = serde_json::to_vec_pretty(rec).map_err(|e| TerminalError::record(&path, e))?;
    bytes.push(b'\n');
    // Replaced whole by a rename (a reader never sees half); not synced: a
    // record is about processes that do not outlive the machine, and a
    // sync under load can take seconds (the idle timeout and a stop wait
    // on these writes).
    crate::fs_util::write_atomic_with(&path, &bytes, crate::fs_util::Durability::None)
        .map_err(|e| TerminalError::record(&path, e))
}

/// Every readable record, newest first (an id claimed but not yet
/// written, or a damaged file, is skipped).
pub(crate) fn list(paths: &RepoPaths) -> Vec<TerminalRecord> {
    let Ok(entries) = std::fs::read_dir(dir(paths)) else {
        return Vec::new();
    };
    let mut out: Vec<TerminalRecord> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .is_some_and(valid_id)
        })
        .filter_map(|e| read(&e.path()).ok())
        .collect();
    out.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    out
}
