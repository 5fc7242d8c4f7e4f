//! `state.json`: what the runner is doing and why it last stopped.
//!
//! The file keeps the Python program's fields (`last_run_id`, `status`,
//! `last_exit_code`, `last_run_started_at`, `last_run_finished_at`,
//! `runner_pid`, and its `sessions` registry untouched) and adds car's own.
//! Every change is a read-modify-write under `state.json.lock` (flock), and
//! the file is replaced atomically, so readers never see half a file.

use std::fs::OpenOptions;
use std::path::PathBuf;

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::codex::TokenUsage;
use crate::fs_util::{Durability, IoResultExt, PathError, read_optional, write_atomic_with};
use crate::paths::RepoPaths;
use crate::stop::{PendingStop, RequestedBy, SIGNAL_STOP_DETAIL, StopCause};

/// The version of car's additions to the state file.
pub(crate) const STATE_VERSION: u32 = 1;

/// The runner's coarse status (the Python program used idle/running/error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not running; the last loop stopped normally (or never ran).
    #[default]
    Idle,
    /// A runner is executing the loop.
    Running,
    /// The TODO is done and the summary was written.
    Completed,
    /// The last loop stopped on a failure.
    Error,
    /// The last loop was killed or interrupted.
    Killed,
    /// The loop waits for a usage window of the agent's plan to reset.
    WaitingForQuota,
    /// The loop stopped because the agent asked a person something.
    NeedsInput,
    /// A status written by another program version.
    #[serde(other)]
    Unknown,
}

impl Status {
    /// Returns the name written to the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Error => "error",
            Self::Killed => "killed",
            Self::WaitingForQuota => "waiting_for_quota",
            Self::NeedsInput => "needs_input",
            Self::Unknown => "unknown",
        }
    }
}

/// Why a loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every TODO item is checked and the summary run succeeded.
    Completed,
    /// The run limit of this invocation was reached.
    RunLimit,
    /// `runner.max_wallclock_seconds` passed.
    Wallclock,
    /// The stop file was found between runs.
    StopRequested,
    /// Ctrl-C.
    Interrupted,
    /// SIGTERM (`car kill`).
    Killed,
    /// `runner.max_consecutive_failures` failed runs in a row.
    Failed,
    /// `runner.no_progress_runs` runs in a row changed nothing.
    Stalled,
    /// The TODO has no checkbox at all, or cannot be read.
    TodoInvalid,
    /// The agent could not be started, or another error stopped the loop.
    Error,
    /// The runner died without recording why (found by `car status`).
    Crashed,
    /// The agent asked a person a question (`car reply`, then `car resume`).
    NeedsInput,
    /// The agent's verdict says it is blocked.
    Blocked,
    /// The agent's plan or billing allows no more use.
    QuotaExhausted,
    /// `runner.max_tokens` was reached.
    Budget,
    /// A file could not be written for lack of space (or quota, or the
    /// file size limit); free space, then `car resume`.
    DiskFull,
}

impl StopReason {
    /// Returns the name written to the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::RunLimit => "run_limit",
            Self::Wallclock => "wallclock",
            Self::StopRequested => "stop_requested",
            Self::Interrupted => "interrupted",
            Self::Killed => "killed",
            Self::Failed => "failed",
            Self::Stalled => "stalled",
            Self::TodoInvalid => "todo_invalid",
            Self::Error => "error",
            Self::Crashed => "crashed",
            Self::NeedsInput => "needs_input",
            Self::Blocked => "blocked",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Budget => "budget",
            Self::DiskFull => "disk_full",
        }
    }

    /// Returns the status a loop stopped for this reason leaves behind.
    pub fn status(self) -> Status {
        match self {
            Self::Completed => Status::Completed,
            Self::RunLimit | Self::Wallclock | Self::StopRequested | Self::Budget => Status::Idle,
            Self::Interrupted | Self::Killed => Status::Killed,
            Self::NeedsInput | Self::Blocked => Status::NeedsInput,
            Self::Failed
            | Self::Stalled
            | Self::TodoInvalid
            | Self::Error
            | Self::Crashed
            | Self::QuotaExhausted
            | Self::DiskFull => Status::Error,
        }
    }

    /// Returns the process exit code for this reason (the README's table).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Completed
            | Self::RunLimit
            | Self::Wallclock
            | Self::StopRequested
            | Self::Budget => 0,
            Self::Failed
            | Self::Stalled
            | Self::TodoInvalid
            | Self::Error
            | Self::Crashed
            | Self::QuotaExhausted
            | Self::DiskFull => 1,
            Self::NeedsInput | Self::Blocked => 3,
            Self::Interrupted | Self::Killed => 130,
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The content of `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The id of the last run started.
    #[serde(default)]
    pub last_run_id: Option<u64>,
    /// The coarse status.
    #[serde(default)]
    pub status: Status,
    /// The last run's exit code (negative: killed by that signal).
    #[serde(default)]
    pub last_exit_code: Option<i32>,
    /// When the last run started (UTC, second precision).
    #[serde(default)]
    pub last_run_started_at: Option<String>,
    /// When the last run finished; null while it runs.
    #[serde(default)]
    pub last_run_finished_at: Option<String>,
    /// The pid of the runner while it is running.
    #[serde(default)]
    pub runner_pid: Option<u32>,
    /// The Python program's terminal sessions registry, kept as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<serde_json::Value>,
    /// The Python program's repo-to-session map, kept as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_to_session: Option<serde_json::Value>,
    /// Version of car's fields.
    #[serde(default)]
    pub car_state_version: u32,
    /// Why the last loop stopped.
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// A sentence about the stop (the error, the limit).
    #[serde(default)]
    pub stop_detail: Option<String>,
    /// Who asked for the last stop (cli, api, bot, schedule); none when the
    /// loop stopped by itself.
    #[serde(default)]
    pub stop_requested_by: Option<RequestedBy>,
    /// Where that request came from (a terminal, an ssh session, a unit).
    #[serde(default)]
    pub stop_origin: Option<String>,
    /// A stop asked of the running loop by another process, not yet honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_request: Option<PendingStop>,
    /// The host of the runner while it runs.
    #[serde(default)]
    pub runner_host: Option<String>,
    /// What started the runner: a systemd unit, a launchd job, cron, a terminal.
    #[serde(default)]
    pub runner_started_by: Option<String>,
    /// The runner's start time (clock ticks since boot), against pid reuse.
    #[serde(default)]
    pub runner_pid_start: Option<u64>,
    /// The agent's process group while a run is in progress.
    #[serde(default)]
    pub agent_pgid: Option<u32>,
    /// The agent group leader's start time, against pid reuse.
    #[serde(default)]
    pub agent_pgid_start: Option<u64>,
    /// The run's supervisor process while a run is in progress (recorded
    /// before the agent starts; it owns the agent's whole process tree).
    #[serde(default)]
    pub agent_supervisor_pid: Option<u32>,
    /// The supervisor's start time, against pid reuse.
    #[serde(default)]
    pub agent_supervisor_start: Option<u64>,
    /// When the current (or last) loop started.
    #[serde(default)]
    pub loop_started_at: Option<String>,
    /// Runs made by the current (or last) loop.
    #[serde(default)]
    pub loop_runs: u64,
    /// Failed runs in a row.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Runs in a row that changed nothing.
    #[serde(default)]
    pub no_progress_runs: u32,
    /// The last run's outcome (`ok`, `failed`, ...).
    #[serde(default)]
    pub last_outcome: Option<String>,
    /// The last run's duration in milliseconds.
    #[serde(default)]
    pub last_run_duration_ms: Option<u64>,
    /// TODO items done after the last run.
    #[serde(default)]
    pub todo_done: Option<usize>,
    /// TODO items in all after the last run.
    #[serde(default)]
    pub todo_total: Option<usize>,
    /// Tokens used by every run so far (kept across loops; `runner.max_tokens` counts these).
    #[serde(default)]
    pub tokens: TokenUsage,
    /// Tokens used by the last run.
    #[serde(default)]
    pub last_run_tokens: Option<TokenUsage>,
    /// Tokens used by the current (or last) loop.
    #[serde(default)]
    pub loop_tokens: TokenUsage,
    /// An open question of the agent for a person.
    #[serde(default)]
    pub pending_question: Option<PendingQuestion>,
    /// A person's answer, given to the next run.
    #[serde(default)]
    pub user_reply: Option<UserReply>,
    /// When the usage window resets, while waiting for it.
    #[serde(default)]
    pub quota_reset_at: Option<String>,
    /// `codex --version`, as last checked.
    #[serde(default)]
    pub codex_version: Option<String>,
    /// Set when the last run overflowed the context window: the next prompt
    /// leaves out the previous output.
    #[serde(default)]
    pub drop_prev_output: bool,
}

impl State {
    /// Records that the loop stopped (by itself, or found dead or killed by
    /// another car process): the status, the reason, who asked, and no
    /// runner or agent. A pending request of another process that this
    /// stop honours names who asked; a stop by signal nobody announced is
    /// a person's (cli); a loop that stopped by itself names nobody.
    pub(crate) fn record_stop(&mut self, reason: StopReason, mut detail: Option<String>) {
        let pending = self
            .stop_request
            .take()
            .filter(|p| Some(p.runner_pid) == self.runner_pid && p.kind.explains(reason));
        let cause = match reason {
            StopReason::Killed => Some(StopCause::Killed),
            StopReason::Interrupted => Some(StopCause::Interrupted),
            _ => None,
        };
        let by = match (pending, cause) {
            (Some(p), Some(cause)) => {
                // The loop describes every SIGTERM alike: say who sent it.
                if detail.as_deref() == Some(SIGNAL_STOP_DETAIL) {
                    detail = Some(cause.detail(Some(&p.by)));
                }
                Some(p.by)
            }
            (Some(p), None) => Some(p.by),
            (None, Some(cause)) => Some(cause.unannounced()),
            (None, None) if reason == StopReason::StopRequested => {
                Some(crate::stop::Requester::default())
            }
            (None, None) => None,
        };
        self.stop_requested_by = by.as_ref().map(|b| b.requested_by);
        self.stop_origin = by.and_then(|b| b.origin);
        self.status = reason.status();
        self.stop_reason = Some(reason);
        self.stop_detail = detail;
        self.runner_pid = None;
        self.runner_host = None;
        self.agent_pgid = None;
        self.agent_supervisor_pid = None;
        self.agent_supervisor_start = None;
        self.quota_reset_at = None;
        self.last_run_finished_at
            .get_or_insert_with(|| crate::time::iso_seconds(crate::time::now()));
    }
}

/// A question the agent asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingQuestion {
    /// The run that asked.
    pub run_id: u64,
    /// The question.
    pub question: String,
    /// When (UTC).
    pub asked_at: String,
}

/// A person's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReply {
    /// The answer.
    pub text: String,
    /// When it was given (UTC).
    pub replied_at: String,
    /// The question it answers, when there was one.
    #[serde(default)]
    pub question: Option<String>,
}

/// Errors reading or writing the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// What loading the state found.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The state (defaults when the file is missing, empty or corrupt).
    pub state: State,
    /// Set when the file exists but could not be parsed.
    pub corrupt: Option<String>,
}

/// Reads and writes one repository's `state.json`.
#[derive(Debug, Clone)]
pub(crate) struct StateStore {
    path: PathBuf,
    lock_path: PathBuf,
}

impl StateStore {
    /// Returns the store of the repository at `paths`.
    pub(crate) fn new(paths: &RepoPaths) -> Self {
        Self {
            path: paths.state_file(),
            lock_path: paths.state_lock_file(),
        }
    }

    /// Reads the state without locking; a corrupt file reads as defaults and
    /// is reported in [`Loaded::corrupt`].
    pub(crate) fn load(&self) -> Result<Loaded, StateError> {
        let bytes = read_optional(&self.path)?;
        Ok(match bytes {
            None => Loaded {
                state: State::default(),
                corrupt: None,
            },
            Some(b) if b.iter().all(u8::is_ascii_whitespace) => Loaded {
                state: State::default(),
                corrupt: None,
            },
            Some(b) => match serde_json::from_slice::<State>(&b) {
                Ok(state) => Loaded {
                    state,
                    corrupt: None,
                },
                Err(e) => Loaded {
                    state: State::default(),
                    corrupt: Some(format!("{}: {e}", self.path.display())),
                },
            },
        })
    }

    /// Applies `f` to the state under the state lock and writes the result
    /// atomically and durably (a machine crash right after keeps it). A
    /// corrupt file is first moved aside (never lost). Nothing is written
    /// when `f` changed nothing.
    pub(crate) fn update<R>(
        &self,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R), StateError> {
        self.update_with(Durability::Durable, f)
    }

    /// Like [`update`](Self::update), for fields that only matter while the
    /// runner lives (its pid, the run in progress): the file is never torn,
    /// but a machine crash may bring back the previous content. Saves the
    /// directory sync.
    pub(crate) fn update_transient<R>(
        &self,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R), StateError> {
        self.update_with(Durability::Consistent, f)
    }

    fn update_with<R>(
        &self,
        sync: Durability,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R), StateError> {
        let (state, r, lock) = self.update_holding(sync, f)?;
        let _ = FileExt::unlock(&lock);
        Ok((state, r))
    }

    /// Like [`update`](Self::update), but keeps the state lock until the
    /// returned file is dropped: no other writer, in this process or
    /// another, changes the state before then (for a process about to exit).
    pub(crate) fn update_and_hold<R>(
        &self,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R, std::fs::File), StateError> {
        self.update_holding(Durability::Durable, f)
    }

    fn update_holding<R>(
        &self,
        sync: Durability,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R, std::fs::File), StateError> {
        if let Some(dir) = self.lock_path.parent() {
            std::fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .with_path("cannot open", &self.lock_path)?;
        FileExt::lock_exclusive(&lock).with_path("cannot lock", &self.lock_path)?;
        let loaded = self.load()?;
        if let Some(why) = &loaded.corrupt {
            let aside = self.path.with_extension(format!(
                "json.corrupt-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            ));
            tracing::warn!(%why, aside = %aside.display(), "state.json is corrupt; moving it aside");
            std::fs::rename(&self.path, &aside).with_path("cannot move aside", &self.path)?;
        }
        let unchanged_from = (loaded.corrupt.is_none() && self.path.exists()).then(|| {
            let mut s = loaded.state.clone();
            s.car_state_version = STATE_VERSION;
            s
        });
        let mut state = loaded.state;
        let r = f(&mut state);
        state.car_state_version = STATE_VERSION;
        if unchanged_from.as_ref() != Some(&state) {
            let mut text = serde_json::to_string_pretty(&state).unwrap_or_default();
            text.push('\n');
            write_atomic_with(&self.path, text.as_bytes(), sync)?;
        }
        Ok((state, r, lock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_state_round_trips_its_fields_and_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let py = r#"{
  "last_run_id": 3, "status": "idle", "last_exit_code": 0,
  "last_run_started_at": "2026-11-21T11:01:29Z", "last_run_finished_at": "2026-11-21T11:01:29Z",
  "runner_pid": null,
  "sessions": {"abc": {"repo_path": "/r", "status": "active"}}, "repo_to_session": {"/r": "abc"}
}"#;
        std::fs::write(paths.state_file(), py).unwrap();
        let store = StateStore::new(&paths);
        let s = store.load().unwrap().state;
        assert_eq!(s.last_run_id, Some(3));
        store.update(|s| s.status = Status::Running).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(paths.state_file()).unwrap()).unwrap();
        assert_eq!(v["status"], "running");
        assert_eq!(v["sessions"]["abc"]["repo_path"], "/r");
        assert_eq!(v["last_run_started_at"], "2026-11-21T11:01:29Z");
    }

    #[test]
    fn corrupt_state_degrades_and_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        std::fs::write(paths.state_file(), "{not json").unwrap();
        let store = StateStore::new(&paths);
        assert!(store.load().unwrap().corrupt.is_some());
        store.update(|s| s.last_run_id = Some(1)).unwrap();
        let kept = std::fs::read_dir(&paths.car_dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            });
        assert!(kept, "the corrupt file must be kept");
    }

    fn pending(kind: crate::stop::StopKind, pid: u32) -> PendingStop {
        PendingStop {
            by: crate::stop::Requester::new(RequestedBy::Api, "test"),
            kind,
            runner_pid: pid,
            requested_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_pending_request_names_who_asked_for_the_stop_it_explains() {
        use crate::stop::StopKind;
        let mut s = State {
            runner_pid: Some(7),
            stop_request: Some(pending(StopKind::Now, 7)),
            ..State::default()
        };
        s.record_stop(StopReason::Killed, Some(SIGNAL_STOP_DETAIL.into()));
        assert_eq!(s.stop_requested_by, Some(RequestedBy::Api));
        assert_eq!(s.stop_origin.as_deref(), Some("test"));
        assert_eq!(
            s.stop_detail.as_deref(),
            Some("stopped at the request of api (test)")
        );
        assert_eq!(s.stop_request, None);

        // Another runner's request, or one this stop does not honour, is
        // dropped: the stop is a signal nobody announced.
        for p in [pending(StopKind::Now, 8), pending(StopKind::AfterRun, 7)] {
            let mut s = State {
                runner_pid: Some(7),
                stop_request: Some(p),
                ..State::default()
            };
            s.record_stop(StopReason::Killed, Some(SIGNAL_STOP_DETAIL.into()));
            assert_eq!(s.stop_requested_by, Some(RequestedBy::Cli));
            assert_eq!(s.stop_detail.as_deref(), Some(SIGNAL_STOP_DETAIL));
            assert_eq!(s.stop_request, None);
        }

        // A loop that stopped by itself names nobody.
        let mut s = State {
            stop_requested_by: Some(RequestedBy::Bot),
            ..State::default()
        };
        s.record_stop(StopReason::Completed, None);
        assert_eq!(s.stop_requested_by, None);
        assert_eq!(s.stop_origin, None);
    }

    #[test]
    fn requested_by_round_trips_through_the_state_file_and_old_files_load() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        // A state file written before the fields existed.
        std::fs::write(
            paths.state_file(),
            r#"{"status": "killed", "stop_reason": "killed", "car_state_version": 1}"#,
        )
        .unwrap();
        let store = StateStore::new(&paths);
        let old = store.load().unwrap();
        assert!(old.corrupt.is_none());
        assert_eq!(old.state.stop_requested_by, None);
        assert_eq!(old.state.stop_request, None);
        store
            .update(|s| {
                s.runner_pid = Some(3);
                s.stop_request = Some(pending(crate::stop::StopKind::Kill, 3));
            })
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(paths.state_file()).unwrap()).unwrap();
        assert_eq!(v["stop_request"]["requested_by"], "api");
        assert_eq!(v["stop_request"]["kind"], "kill");
        store
            .update(|s| s.record_stop(StopReason::Killed, None))
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(paths.state_file()).unwrap()).unwrap();
        assert_eq!(v["stop_requested_by"], "api");
        assert_eq!(v["stop_origin"], "test");
        assert!(v.get("stop_request").is_none());
        let back = store.load().unwrap().state;
        assert_eq!(back.stop_requested_by, Some(RequestedBy::Api));
    }

    #[test]
    fn unknown_status_from_another_version_loads() {
        let s: State = serde_json::from_str(r#"{"status": "waiting_for_something"}"#).unwrap();
        assert_eq!(s.status, Status::Unknown);
    }
}
