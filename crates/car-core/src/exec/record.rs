//! A command's record on disk: `.codex-autorunner/jobs/<id>/exec.json`
//! (what it runs, where it stands), beside its `stdout.log` and
//! `stderr.log`, each holding the bytes the command wrote, unchanged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ExecError;
use crate::paths::RepoPaths;
use crate::stop::Requester;
use crate::task::TaskState;

/// The record's name in the command's directory (`exec.json`, locked
/// through `exec.lock`).
pub(crate) const NAME: &str = "exec";
/// Written by a cancel before the process is signalled: who asked.
pub(crate) const CANCEL_FILE: &str = "cancel.json";

/// One of a command's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStream {
    /// Its standard output (`stdout.log`).
    Stdout,
    /// Its standard error (`stderr.log`).
    Stderr,
}

impl ExecStream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    /// The log's file name in the command's directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout.log",
            Self::Stderr => "stderr.log",
        }
    }
}

impl std::str::FromStr for ExecStream {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdout" => Ok(Self::Stdout),
            "stderr" => Ok(Self::Stderr),
            other => Err(format!("{other:?} is not a stream (stdout or stderr)")),
        }
    }
}

impl std::fmt::Display for ExecStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `exec.json`: one `sh -c CMD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRecord {
    /// The command's id (its directory's name, `x-...`).
    pub id: String,
    /// The command line, run by `sh -c`.
    pub cmd: String,
    /// Where it runs.
    pub cwd: PathBuf,
    /// Where it stands: queued, running, succeeded (exit code 0), failed
    /// (another exit code, a signal, or its process ended without saying
    /// how), cancelled.
    pub state: TaskState,
    /// Its exit code, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// When it was asked for (UTC).
    pub created_at: String,
    /// When `sh` started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// What went wrong, when something did beyond its exit status.
    #[serde(default)]
    pub error: Option<String>,
    /// Who asked for it.
    #[serde(flatten)]
    pub requested_by: Requester,
    /// The process running it, while it runs.
    #[serde(default)]
    pub runner_pid: Option<u32>,
    /// Its start time (clock ticks since boot), to tell a reused pid.
    #[serde(default)]
    pub runner_start: Option<u64>,
}

impl ExecRecord {
    /// Ends the command as `state`.
    pub(crate) fn finish(
        &mut self,
        state: TaskState,
        exit_code: Option<i32>,
        signal: Option<i32>,
        error: Option<String>,
    ) {
        self.state = state;
        self.exit_code = exit_code;
        self.signal = signal;
        self.error = error;
        self.finished_at = Some(crate::time::iso_millis(crate::time::now()));
        self.runner_pid = None;
        self.runner_start = None;
    }

    /// Its state, with a process that ended without recording the end (or
    /// without taking up the queued command) read as failed.
    pub(crate) fn effective_state(&self) -> TaskState {
        let dead = self
            .runner_pid
            .is_some_and(|pid| !crate::process::same_process(pid, self.runner_start));
        if !self.state.is_done() && dead {
            TaskState::Failed
        } else {
            self.state
        }
    }
}

impl crate::task::JobRecord for ExecRecord {
    const NAME: &'static str = NAME;

    fn unclaimed(&self) -> bool {
        self.state == TaskState::Queued && self.runner_pid.is_none()
    }

    fn claim(&mut self, pid: u32, start: Option<u64>) {
        self.runner_pid = Some(pid);
        self.runner_start = start;
    }

    fn fail_to_start(&mut self, message: String) {
        self.finish(TaskState::Failed, None, None, Some(message));
    }
}

/// Whether `id` can name a command.
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with("x-")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The record's path in the command's directory `dir`.
pub(crate) fn file(dir: &Path) -> PathBuf {
    dir.join(format!("{NAME}.json"))
}

/// The directory of command `id`, or an error when none is recorded.
pub(crate) fn exec_dir(paths: &RepoPaths, id: &str) -> Result<PathBuf, ExecError> {
    let dir = crate::task::jobs_dir(paths).join(id);
    if !valid_id(id) || !file(&dir).is_file() {
        return Err(ExecError::NotFound { id: id.to_string() });
    }
    Ok(dir)
}

/// Reads the record in `dir`.
pub(crate) fn load(dir: &Path) -> Result<ExecRecord, ExecError> {
    Ok(crate::task::load_json(&file(dir))?)
}

/// Reads, changes and writes the record in `dir` under its lock.
pub(crate) fn update<T>(
    dir: &Path,
    change: impl FnOnce(&mut ExecRecord) -> Result<T, ExecError>,
) -> Result<(T, ExecRecord), ExecError> {
    crate::task::update_json(dir, NAME, change)
}
