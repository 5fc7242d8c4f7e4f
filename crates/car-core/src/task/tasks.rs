//! [`Tasks`]: spawn, reply to, abort and read a repository's Codex tasks,
//! from any process. Each turn runs in a process of its own (`<program>
//! __task <repo> <id>`, in a session of its own), so a task outlives the
//! program that spawned it, and every program sees it through its files.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::TaskError;
use super::record::{self, ABORT_FILE, TaskRecord, TaskState, TurnRecord, ledger};
use super::runner::{SUBCOMMAND, marker_name};
use crate::error::Error;
use crate::event::LoopEvent;
use crate::repo::Repo;
use crate::stop::{Requester, StopHandle};

/// How long an abort waits for the task's process beyond the agent's
/// grace period before it kills the process outright.
const ABORT_MARGIN: Duration = Duration::from_secs(5);

/// What to spawn: a prompt, where, and with which model.
#[derive(Debug, Clone, Default)]
pub struct TaskRequest {
    /// The prompt.
    pub prompt: String,
    /// Where the agent works (default: the repository's root). It must be
    /// the repository or a directory under it, or under an allowed root.
    pub cwd: Option<PathBuf>,
    /// The model (default: `codex.model`).
    pub model: Option<String>,
}

/// A page of tasks, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskPage {
    /// How many tasks are recorded.
    pub total: usize,
    /// The tasks of the page.
    pub tasks: Vec<TaskRecord>,
}

/// The Codex tasks of one repository, acting for one requester.
#[derive(Debug, Clone)]
pub struct Tasks<'a> {
    repo: &'a Repo,
    by: Requester,
    roots: Vec<PathBuf>,
}

impl Repo {
    /// The repository's Codex tasks, with `by` recorded as who asks.
    pub fn tasks(&self, by: Requester) -> Tasks<'_> {
        Tasks {
            repo: self,
            by,
            roots: Vec::new(),
        }
    }
}

impl Tasks<'_> {
    /// Also allows tasks to work under `root` (besides the repository).
    #[must_use]
    pub fn allow_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.roots.push(root.into());
        self
    }

    /// Also allows tasks to work under each of `roots` (say,
    /// `server.allowed_roots`).
    #[must_use]
    pub fn allow_roots<P: Into<PathBuf>>(mut self, roots: impl IntoIterator<Item = P>) -> Self {
        self.roots.extend(roots.into_iter().map(Into::into));
        self
    }

    pub(crate) fn paths(&self) -> &crate::paths::RepoPaths {
        &self.repo.resolved_config().paths
    }

    fn log(&self, event: LoopEvent) -> Result<(), Error> {
        ledger(self.repo.config(), self.paths()).append(None, event)?;
        Ok(())
    }

    /// Records a new task and starts its process (`program __task <repo>
    /// <id>`, `program` being the `car` binary); returns its record, queued.
    pub fn spawn(&self, program: impl AsRef<Path>, req: TaskRequest) -> Result<TaskRecord, Error> {
        if req.prompt.trim().is_empty() {
            return Err(TaskError::EmptyPrompt { what: "prompt" }.into());
        }
        let cwd = self.allowed_cwd(req.cwd.as_deref())?;
        let (id, dir) = record::create_dir(self.paths(), "t")?;
        let now = crate::time::iso_millis(crate::time::now());
        let rec = TaskRecord {
            id: id.clone(),
            prompt: req.prompt.clone(),
            cwd: cwd.clone(),
            model: req.model.clone(),
            state: TaskState::Queued,
            thread_id: None,
            exit_code: None,
            created_at: now.clone(),
            finished_at: None,
            requested_by: self.by.clone(),
            runner_pid: None,
            runner_start: None,
            turns: vec![self.turn(1, now)],
        };
        write_prompt(&dir, 1, &req.prompt)?;
        record::save(&dir, &rec)?;
        self.log(LoopEvent::TaskSpawned {
            task_id: id.clone(),
            cwd,
            model: req.model,
            requested_by: self.by.requested_by,
            origin: self.by.origin.clone(),
        })?;
        self.launch(program.as_ref(), &dir, &id)?;
        Ok(rec)
    }

    /// Continues task `id`'s conversation with `message` (`codex exec
    /// resume <thread id>`): a new turn in the same task, in a new process.
    /// The task's last turn must have ended, with a Codex thread recorded.
    pub fn reply(
        &self,
        program: impl AsRef<Path>,
        id: &str,
        message: &str,
    ) -> Result<TaskRecord, Error> {
        if message.trim().is_empty() {
            return Err(TaskError::EmptyPrompt { what: "reply" }.into());
        }
        let dir = record::task_dir(self.paths(), id)?;
        let now = crate::time::iso_millis(crate::time::now());
        let (n, rec) = record::update(&dir, |r| {
            let r_state = effective_state(r);
            if !r_state.is_done() {
                return Err(TaskError::Busy {
                    id: id.to_string(),
                    state: r_state,
                });
            }
            if r.thread_id.is_none() {
                return Err(TaskError::NoThread { id: id.to_string() });
            }
            let n = r.turns.last().map_or(1, |t| t.n + 1);
            write_prompt(&dir, n, message)?;
            let _ = std::fs::remove_file(dir.join(ABORT_FILE));
            r.turns.push(self.turn(n, now));
            r.state = TaskState::Queued;
            r.exit_code = None;
            r.finished_at = None;
            Ok(n)
        })?;
        self.log(LoopEvent::TaskReply {
            task_id: id.to_string(),
            turn: n,
            chars: message.chars().count(),
            requested_by: self.by.requested_by,
            origin: self.by.origin.clone(),
        })?;
        self.launch(program.as_ref(), &dir, id)?;
        Ok(rec)
    }

    /// Aborts task `id`: its process gets SIGTERM, so the agent gets
    /// SIGTERM and, after `runner.kill_grace_seconds`, SIGKILL with its
    /// whole process tree; a process that does not end in time is killed
    /// with everything it started. Returns the record once nothing of the
    /// task runs any more (a task already over is returned as it is).
    pub fn abort(&self, id: &str) -> Result<TaskRecord, Error> {
        let dir = record::task_dir(self.paths(), id)?;
        let before = record::load(&dir)?;
        if effective_state(&before).is_done() {
            return self.status(id);
        }
        // Written before the record is read again: a process that has not
        // taken the record yet sees it and never starts the agent.
        let by = serde_json::to_vec(&self.by).unwrap_or_default();
        crate::fs_util::write_atomic(&dir.join(ABORT_FILE), &by)?;
        self.log(LoopEvent::TaskAborted {
            task_id: id.to_string(),
            requested_by: self.by.requested_by,
            origin: self.by.origin.clone(),
        })?;
        // Read under the record's lock: a process taking the record now has
        // either recorded itself already or will see the abort.
        let (rec, _) = record::update(&dir, |r| Ok(r.clone()))?;
        if let Some(pid) = rec.runner_pid {
            let grace = self.repo.config().runner.kill_grace;
            end_job_process(
                self.repo.root(),
                &marker_name(id),
                pid,
                rec.runner_start,
                grace + ABORT_MARGIN,
            );
        }
        let (ended_here, rec) = record::update(&dir, |r| {
            if r.state.is_done() {
                return Ok(false);
            }
            r.finish(TaskState::Cancelled, None, Some("aborted".into()));
            Ok(true)
        })?;
        if ended_here {
            self.log(LoopEvent::TaskDone {
                task_id: id.to_string(),
                turn: rec.current_turn().map_or(1, |t| t.n),
                state: rec.state,
                exit_code: None,
            })?;
        }
        Ok(rec)
    }

    /// Task `id`'s record. A task whose process ended without recording
    /// its end reads as failed.
    pub fn status(&self, id: &str) -> Result<TaskRecord, Error> {
        let dir = record::task_dir(self.paths(), id)?;
        let mut rec = record::load(&dir)?;
        if effective_state(&rec) != rec.state {
            rec.finish(
                TaskState::Failed,
                None,
                Some("the task's process ended without recording how".into()),
            );
        }
        Ok(rec)
    }

    /// The tasks, newest first, skipping `offset` and at most `limit`.
    /// Records that cannot be read are left out.
    pub fn list(&self, offset: usize, limit: usize) -> TaskPage {
        let ids: Vec<String> = std::fs::read_dir(record::jobs_dir(self.paths()))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|id| record::valid_id(id))
                    .collect()
            })
            .unwrap_or_default();
        let mut records: Vec<TaskRecord> =
            ids.iter().filter_map(|id| self.status(id).ok()).collect();
        records.sort_unstable_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
        TaskPage {
            total: records.len(),
            tasks: records.into_iter().skip(offset).take(limit).collect(),
        }
    }

    /// Where task `id`'s output log is (every turn's output).
    pub fn output_log(&self, id: &str) -> Result<PathBuf, Error> {
        Ok(record::task_dir(self.paths(), id)?.join(record::OUTPUT_FILE))
    }

    /// Where turn `turn` of task `id` stores Codex's `--json` events, raw,
    /// one a line (read them with [`crate::CodexRun::feed`]). The file
    /// appears once the turn's agent starts.
    pub fn events_log(&self, id: &str, turn: u32) -> Result<PathBuf, Error> {
        let dir = record::task_dir(self.paths(), id)?;
        Ok(record::turn_dir(&dir, turn).join(crate::record::CODEX_EVENTS_FILE))
    }

    /// Task `id`'s final output (its latest turn's), once it has one.
    pub fn final_output(&self, id: &str) -> Result<Option<String>, Error> {
        let path = record::task_dir(self.paths(), id)?.join(record::FINAL_FILE);
        Ok(crate::fs_util::read_optional(&path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Runs the latest turn of task `id` in this process: what the task's
    /// own process (`SUBCOMMAND`) does, with `stop` wired to its signals
    /// and `supervisor` the program answering `__supervise`.
    #[doc(hidden)]
    pub async fn run_turn(
        &self,
        id: &str,
        stop: &StopHandle,
        supervisor: Option<&Path>,
        path_env: Option<&OsString>,
    ) -> Result<TaskState, Error> {
        Ok(super::runner::run_turn(
            self.repo.config(),
            self.paths(),
            id,
            stop,
            supervisor,
            path_env,
        )
        .await?)
    }

    fn turn(&self, n: u32, now: String) -> TurnRecord {
        TurnRecord {
            n,
            requested_by: self.by.clone(),
            requested_at: now,
            started_at: None,
            finished_at: None,
            state: TaskState::Queued,
            exit_code: None,
            error: None,
        }
    }

    /// The directory the agent works in: the repository's root, or `cwd`
    /// resolved (symlinks too) inside the repository or an allowed root.
    fn allowed_cwd(&self, cwd: Option<&Path>) -> Result<PathBuf, TaskError> {
        allowed_cwd(self.repo.root(), &self.roots, cwd)
    }

    /// Starts the task's process (see [`super::process::launch`]).
    fn launch(&self, program: &Path, dir: &Path, id: &str) -> Result<(), Error> {
        super::process::launch::<TaskRecord, TaskError>(
            program,
            SUBCOMMAND,
            self.repo.root(),
            dir,
            id,
            TaskError::Launch,
        )
        .map_err(Error::from)
    }
}

/// The task's state, with a process that ended without recording its end
/// (or without taking up its queued turn) read as failed.
pub(crate) fn effective_state(r: &TaskRecord) -> TaskState {
    if !r.state.is_done() && r.runner_pid.is_some() && !r.runner_alive() {
        TaskState::Failed
    } else {
        r.state
    }
}

fn write_prompt(dir: &Path, n: u32, text: &str) -> Result<(), TaskError> {
    let turn = record::turn_dir(dir, n);
    std::fs::create_dir_all(&turn).map_err(|source| crate::fs_util::PathError {
        action: "cannot create directory",
        path: turn.clone(),
        source,
    })?;
    crate::fs_util::write_atomic(&turn.join(crate::record::PROMPT_FILE), text.as_bytes())?;
    Ok(())
}

/// The directory a job works in: the repository's root (`root`), or `cwd`
/// (relative to `root`) resolved, symlinks too, inside the repository or
/// one of `roots`.
pub(crate) fn allowed_cwd(
    root: &Path,
    roots: &[PathBuf],
    cwd: Option<&Path>,
) -> Result<PathBuf, TaskError> {
    let asked = cwd.map_or_else(|| root.to_path_buf(), |c| root.join(c));
    let resolved = std::fs::canonicalize(&asked)
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| TaskError::CwdMissing { cwd: asked.clone() })?;
    let allowed = std::iter::once(root.to_path_buf())
        .chain(roots.iter().cloned())
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|r| resolved.starts_with(r));
    if !allowed {
        return Err(TaskError::CwdNotAllowed {
            asked,
            cwd: resolved,
        });
    }
    Ok(resolved)
}

/// Ends a job's process `pid` (then everything still carrying its marker
/// `run`, a process that left its session included).
pub(crate) fn end_job_process(
    root: &Path,
    run: &str,
    pid: u32,
    start: Option<u64>,
    patience: Duration,
) {
    end_runner(pid, start, patience);
    let marker = crate::marker::RunMarker {
        repo: crate::marker::repo_id(root),
        run: run.to_string(),
        owner_pid: pid,
        owner_start: start.unwrap_or(0),
    };
    crate::marker::kill_marked(&marker);
}

/// Ends the task's process: SIGTERM, up to `patience` to end (it stops the
/// agent within its grace period), then SIGKILL (its supervisor then kills
/// the agent's tree).
fn end_runner(pid: u32, start: Option<u64>, patience: Duration) {
    let alive = || crate::process::same_process(pid, start);
    if !alive() {
        return;
    }
    crate::process::signal_pid(pid, Signal::SIGTERM);
    let until = Instant::now() + patience;
    while alive() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let until = Instant::now() + Duration::from_secs(5);
    while alive() && Instant::now() < until {
        crate::process::signal_pid(pid, Signal::SIGKILL);
        std::thread::sleep(Duration::from_millis(20));
    }
}
