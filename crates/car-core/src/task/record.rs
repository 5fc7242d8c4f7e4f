//! A task's record on disk: `.codex-autorunner/jobs/<id>/task.json` (what
//! it is, where it stands), its turns' files under `turns/<n>/`, one output
//! log for all its turns and the latest turn's final output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use super::TaskError;
use crate::fs_util::PathError;
use crate::paths::RepoPaths;
use crate::stop::Requester;

/// The record's file name in the task's directory.
pub(crate) const TASK_FILE: &str = "task.json";
/// The task's output log (every turn's, one after the other).
pub(crate) const OUTPUT_FILE: &str = crate::record::OUTPUT_FILE;
/// The latest turn's final message.
pub(crate) const FINAL_FILE: &str = crate::record::FINAL_OUTPUT_FILE;
/// Written by an abort before the runner is signalled: who asked.
pub(crate) const ABORT_FILE: &str = "abort.json";

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Recorded; its process is starting.
    Queued,
    /// The agent is at work on a turn.
    Running,
    /// The last turn ended well.
    Succeeded,
    /// The last turn failed (or its process ended without saying how).
    Failed,
    /// Someone aborted it.
    Cancelled,
}

impl TaskState {
    /// The name in `task.json` and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the task is over (until a reply starts another turn).
    pub fn is_done(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One turn of a task: the first prompt, then each reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// 1 for the spawn, 2 for the first reply, ...
    pub n: u32,
    /// Who asked for it.
    #[serde(flatten)]
    pub requested_by: Requester,
    /// When it was asked for (UTC).
    pub requested_at: String,
    /// When the agent started on it.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// How it ended (queued or running while it has not).
    pub state: TaskState,
    /// The agent's exit code, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// What went wrong, when something did.
    #[serde(default)]
    pub error: Option<String>,
}

/// `task.json`: a one-shot `codex exec` and its replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task's id (its directory's name).
    pub id: String,
    /// The first prompt.
    pub prompt: String,
    /// Where the agent works.
    pub cwd: PathBuf,
    /// The model asked for (else the configuration's).
    #[serde(default)]
    pub model: Option<String>,
    /// Where it stands (the latest turn's state).
    pub state: TaskState,
    /// Codex's conversation (`thread.started`), once known: replies resume it.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The latest turn's exit code.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// When it was spawned (UTC).
    pub created_at: String,
    /// When its latest turn ended.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Who spawned it.
    #[serde(flatten)]
    pub requested_by: Requester,
    /// The process running the latest turn, while it runs.
    #[serde(default)]
    pub runner_pid: Option<u32>,
    /// Its start time (clock ticks since boot), to tell a reused pid.
    #[serde(default)]
    pub runner_start: Option<u64>,
    /// Every turn, the first first.
    #[serde(default)]
    pub turns: Vec<TurnRecord>,
}

impl TaskRecord {
    /// The latest turn.
    pub fn current_turn(&self) -> Option<&TurnRecord> {
        self.turns.last()
    }

    pub(crate) fn current_turn_mut(&mut self) -> Option<&mut TurnRecord> {
        self.turns.last_mut()
    }

    /// Whether the process running its latest turn is alive.
    pub(crate) fn runner_alive(&self) -> bool {
        self.runner_pid
            .is_some_and(|pid| crate::process::same_process(pid, self.runner_start))
    }

    /// Ends the latest turn (and so the task) as `state`.
    pub(crate) fn finish(
        &mut self,
        state: TaskState,
        exit_code: Option<i32>,
        error: Option<String>,
    ) {
        let now = crate::time::iso_millis(crate::time::now());
        self.state = state;
        self.exit_code = exit_code;
        self.finished_at = Some(now.clone());
        self.runner_pid = None;
        self.runner_start = None;
        if let Some(t) = self.current_turn_mut() {
            t.state = state;
            t.exit_code = exit_code;
            t.error = error;
            t.finished_at = Some(now);
        }
    }
}

impl super::JobRecord for TaskRecord {
    const NAME: &'static str = "task";

    fn unclaimed(&self) -> bool {
        self.state == TaskState::Queued && self.runner_pid.is_none()
    }

    fn claim(&mut self, pid: u32, start: Option<u64>) {
        self.runner_pid = Some(pid);
        self.runner_start = start;
    }

    fn fail_to_start(&mut self, message: String) {
        self.finish(TaskState::Failed, None, Some(message));
    }
}

/// The repository's event ledger, where tasks record spawn, reply, abort
/// and end.
pub(crate) fn ledger(cfg: &crate::config::Config, paths: &RepoPaths) -> crate::ledger::Ledger {
    crate::ledger::Ledger::new(paths.events_file(), cfg.events.max_bytes, cfg.events.keep)
}

/// The tasks' directory: `.codex-autorunner/jobs/`.
pub(crate) fn jobs_dir(paths: &RepoPaths) -> PathBuf {
    paths.car_dir.join("jobs")
}

/// Whether `id` can name a task (and so a directory of its own).
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.starts_with("t-")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The directory of task `id`, or an error when no such task is recorded.
pub(crate) fn task_dir(paths: &RepoPaths, id: &str) -> Result<PathBuf, TaskError> {
    let dir = jobs_dir(paths).join(id);
    if !valid_id(id) || !dir.join(TASK_FILE).is_file() {
        return Err(TaskError::NotFound { id: id.to_string() });
    }
    Ok(dir)
}

/// The directory of turn `n` of the task in `dir`.
pub(crate) fn turn_dir(dir: &Path, n: u32) -> PathBuf {
    dir.join("turns").join(n.to_string())
}

/// Creates a new job's directory with a fresh id: `<prefix>-<UTC time>-<4
/// hex>` (`t` for a task, `x` for a command), so ids sort by the second
/// they were made in.
pub(crate) fn create_dir(paths: &RepoPaths, prefix: &str) -> Result<(String, PathBuf), PathError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let jobs = jobs_dir(paths);
    std::fs::create_dir_all(&jobs).map_err(|source| PathError {
        action: "cannot create directory",
        path: jobs.clone(),
        source,
    })?;
    let now = crate::time::now();
    let mut salt = now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16);
    loop {
        salt = salt.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503));
        let id = format!(
            "{prefix}-{}-{:04x}",
            now.format("%Y%m%dT%H%M%S"),
            salt & 0xffff
        );
        let dir = jobs.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(PathError {
                    action: "cannot create directory",
                    path: dir,
                    source,
                });
            }
        }
    }
}

/// Reads the record in the task directory `dir`.
pub(crate) fn load(dir: &Path) -> Result<TaskRecord, TaskError> {
    load_json(&dir.join(TASK_FILE))
}

/// Reads a job's JSON record at `path`.
pub(crate) fn load_json<R: serde::de::DeserializeOwned>(path: &Path) -> Result<R, TaskError> {
    let path = path.to_path_buf();
    let bytes = std::fs::read(&path).map_err(|source| PathError {
        action: "cannot read",
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| TaskError::Corrupt {
        path,
        message: e.to_string(),
    })
}

/// Writes the record in the task directory `dir` (atomically: a reader
/// sees the old record or the new one, never a part).
pub(crate) fn save(dir: &Path, record: &TaskRecord) -> Result<(), PathError> {
    save_json(&dir.join(TASK_FILE), record)
}

/// Writes a job's JSON record at `path` (atomically).
pub(crate) fn save_json<R: Serialize>(path: &Path, record: &R) -> Result<(), PathError> {
    let mut bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
    bytes.push(b'\n');
    crate::fs_util::write_atomic(path, &bytes)
}

/// Reads, changes and writes the record under the task's lock, so the
/// runner, a reply and an abort never lose each other's changes.
pub(crate) fn update<T>(
    dir: &Path,
    change: impl FnOnce(&mut TaskRecord) -> Result<T, TaskError>,
) -> Result<(T, TaskRecord), TaskError> {
    update_json(dir, <TaskRecord as super::JobRecord>::NAME, change)
}

/// Reads, changes and writes the job record `<name>.json` in `dir` under
/// the lock `<name>.lock`.
pub(crate) fn update_json<R, T, E>(
    dir: &Path,
    name: &str,
    change: impl FnOnce(&mut R) -> Result<T, E>,
) -> Result<(T, R), E>
where
    R: Serialize + serde::de::DeserializeOwned,
    E: From<TaskError> + From<PathError>,
{
    let _lock = crate::fs_util::lock_exclusive(&dir.join(format!("{name}.lock")))?;
    let path = dir.join(format!("{name}.json"));
    let mut record: R = load_json(&path)?;
    let out = change(&mut record)?;
    save_json(&path, &record)?;
    Ok((out, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sortable_and_valid() {
        let root = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(root.path());
        let mut ids: Vec<String> = (0..200)
            .map(|_| create_dir(&paths, "t").unwrap().0)
            .collect();
        assert!(ids.iter().all(|id| valid_id(id)), "{ids:?}");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 200);
        for bad in ["", "snapshot", "t-../x", "t-a/b", "ingest"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_record_round_trips_and_finishing_ends_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = TaskRecord {
            id: "t-1".into(),
            prompt: "p".into(),
            cwd: dir.path().into(),
            model: None,
            state: TaskState::Running,
            thread_id: Some("th".into()),
            exit_code: None,
            created_at: "now".into(),
            finished_at: None,
            requested_by: Requester::new(crate::stop::RequestedBy::Api, "web"),
            runner_pid: Some(1),
            runner_start: Some(2),
            turns: vec![TurnRecord {
                n: 1,
                requested_by: Requester::default(),
                requested_at: "now".into(),
                started_at: None,
                finished_at: None,
                state: TaskState::Running,
                exit_code: None,
                error: None,
            }],
        };
        rec.finish(TaskState::Failed, Some(3), Some("boom".into()));
        save(dir.path(), &rec).unwrap();
        let back = load(dir.path()).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.state, TaskState::Failed);
        assert_eq!(back.runner_pid, None);
        let turn = back.current_turn().unwrap();
        assert_eq!(
            (turn.state, turn.exit_code, turn.error.as_deref()),
            (TaskState::Failed, Some(3), Some("boom"))
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(TASK_FILE)).unwrap()).unwrap();
        assert_eq!(json["state"], "failed");
        assert_eq!(json["requested_by"], "api");
    }
}
