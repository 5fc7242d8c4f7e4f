//! [`Execs`]: start, cancel and read a repository's commands, from any
//! process. Each command runs in a process of its own (`<program> __exec
//! <repo> <id>`, in a session of its own), so it outlives the program that
//! started it, and every program sees it through its files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::ExecError;
use super::record::{self, CANCEL_FILE, ExecRecord, ExecStream};
use super::runner::{SUBCOMMAND, marker_name};
use crate::error::Error;
use crate::event::LoopEvent;
use crate::follow::{Follow, spawn_follower};
use crate::repo::Repo;
use crate::stop::{Requester, StopHandle};
use crate::task::{TaskOutput, TaskState};

/// How long a cancel waits for the command's process beyond the grace
/// period before it kills the process outright.
const CANCEL_MARGIN: Duration = Duration::from_secs(5);

/// What to run: a command line for `sh -c`, and where.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The command line (run as `sh -c CMD`).
    pub cmd: String,
    /// Where it runs (default: the repository's root). It must be the
    /// repository or a directory under it, or under an allowed root.
    pub cwd: Option<PathBuf>,
}

/// A page of commands, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct ExecPage {
    /// How many commands are recorded.
    pub total: usize,
    /// The commands of the page.
    pub execs: Vec<ExecRecord>,
}

/// The commands of one repository, acting for one requester.
#[derive(Debug, Clone)]
pub struct Execs<'a> {
    repo: &'a Repo,
    by: Requester,
    roots: Vec<PathBuf>,
}

impl Repo {
    /// The repository's commands, with `by` recorded as who asks.
    pub fn execs(&self, by: Requester) -> Execs<'_> {
        Execs {
            repo: self,
            by,
            roots: Vec::new(),
        }
    }
}

impl Execs<'_> {
    /// Also allows commands to run under `root` (besides the repository).
    #[must_use]
    pub fn allow_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.roots.push(root.into());
        self
    }

    /// Also allows commands to run under each of `roots` (say,
    /// `server.allowed_roots`).
    #[must_use]
    pub fn allow_roots<P: Into<PathBuf>>(mut self, roots: impl IntoIterator<Item = P>) -> Self {
        self.roots.extend(roots.into_iter().map(Into::into));
        self
    }

    fn paths(&self) -> &crate::paths::RepoPaths {
        &self.repo.resolved_config().paths
    }

    fn log(&self, event: LoopEvent) -> Result<(), Error> {
        crate::task::ledger(self.repo.config(), self.paths()).append(None, event)?;
        Ok(())
    }

    /// Records a new command and starts its process (`program __exec
    /// <repo> <id>`, `program` being the `car` binary); returns its
    /// record, queued.
    pub fn start(&self, program: impl AsRef<Path>, req: ExecRequest) -> Result<ExecRecord, Error> {
        if req.cmd.trim().is_empty() {
            return Err(ExecError::EmptyCommand.into());
        }
        let cwd = crate::task::allowed_cwd(self.repo.root(), &self.roots, req.cwd.as_deref())
            .map_err(ExecError::from)?;
        let (id, dir) = crate::task::create_dir(self.paths(), "x").map_err(ExecError::from)?;
        let rec = ExecRecord {
            id: id.clone(),
            cmd: req.cmd.clone(),
            cwd: cwd.clone(),
            state: TaskState::Queued,
            exit_code: None,
            signal: None,
            created_at: crate::time::iso_millis(crate::time::now()),
            started_at: None,
            finished_at: None,
            error: None,
            requested_by: self.by.clone(),
            runner_pid: None,
            runner_start: None,
        };
        crate::task::save_json(&record::file(&dir), &rec).map_err(ExecError::from)?;
        self.log(LoopEvent::ExecStarted {
            exec_id: id.clone(),
            cmd: req.cmd,
            cwd,
            requested_by: self.by.requested_by,
            origin: self.by.origin.clone(),
        })?;
        self.launch(program.as_ref(), &dir, &id)?;
        Ok(rec)
    }

    /// Cancels command `id`: its process group gets SIGTERM, then SIGKILL
    /// after `runner.kill_grace_seconds`, and every process it started is
    /// killed (one in a session of its own too). Returns the record once
    /// nothing of the command runs any more (one already over is returned
    /// as it is).
    pub fn cancel(&self, id: &str) -> Result<ExecRecord, Error> {
        let dir = record::exec_dir(self.paths(), id)?;
        if record::load(&dir)?.effective_state().is_done() {
            return self.status(id);
        }
        // Written first: a process that has not taken the record yet sees
        // it and never starts the command.
        let by = serde_json::to_vec(&self.by).unwrap_or_default();
        crate::fs_util::write_atomic(&dir.join(CANCEL_FILE), &by).map_err(ExecError::from)?;
        self.log(LoopEvent::ExecCancelled {
            exec_id: id.to_string(),
            requested_by: self.by.requested_by,
            origin: self.by.origin.clone(),
        })?;
        let (rec, _) = record::update(&dir, |r| Ok(r.clone()))?;
        if let Some(pid) = rec.runner_pid {
            let grace = self.repo.config().runner.kill_grace;
            crate::task::end_job_process(
                self.repo.root(),
                &marker_name(id),
                pid,
                rec.runner_start,
                grace + CANCEL_MARGIN,
            );
        }
        let (ended_here, rec) = record::update(&dir, |r| {
            if r.state.is_done() {
                return Ok(false);
            }
            r.finish(TaskState::Cancelled, None, None, None);
            Ok(true)
        })?;
        if ended_here {
            self.log(LoopEvent::ExecDone {
                exec_id: id.to_string(),
                state: rec.state,
                exit_code: None,
                signal: None,
            })?;
        }
        Ok(rec)
    }

    /// Command `id`'s record. One whose process ended without recording
    /// its end reads as failed.
    pub fn status(&self, id: &str) -> Result<ExecRecord, Error> {
        let dir = record::exec_dir(self.paths(), id)?;
        let mut rec = record::load(&dir)?;
        if rec.effective_state() != rec.state {
            rec.finish(
                TaskState::Failed,
                None,
                None,
                Some("the command's process ended without recording how".into()),
            );
        }
        Ok(rec)
    }

    /// The commands, newest first, skipping `offset` and at most `limit`.
    /// Records that cannot be read are left out.
    pub fn list(&self, offset: usize, limit: usize) -> ExecPage {
        let ids: Vec<String> = std::fs::read_dir(crate::task::jobs_dir(self.paths()))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|id| record::valid_id(id))
                    .collect()
            })
            .unwrap_or_default();
        let mut records: Vec<ExecRecord> =
            ids.iter().filter_map(|id| self.status(id).ok()).collect();
        records.sort_unstable_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
        ExecPage {
            total: records.len(),
            execs: records.into_iter().skip(offset).take(limit).collect(),
        }
    }

    /// Where command `id`'s `stream` log is.
    pub fn log_path(&self, id: &str, stream: ExecStream) -> Result<PathBuf, Error> {
        Ok(record::exec_dir(self.paths(), id)?.join(stream.file_name()))
    }

    /// Command `id`'s `stream` as written so far: all of it, or its last
    /// `tail` lines (a last line without its newline counts as one). The
    /// piece's `offset` plus its length is where a follower goes on from.
    pub fn read_log(
        &self,
        id: &str,
        stream: ExecStream,
        tail: Option<usize>,
    ) -> Result<TaskOutput, Error> {
        let path = self.log_path(id, stream)?;
        let bytes = crate::fs_util::read_optional(&path)
            .map_err(ExecError::from)?
            .unwrap_or_default();
        let start = tail.map_or(0, |n| tail_start(&bytes, n));
        Ok(TaskOutput {
            offset: start as u64,
            bytes: bytes[start..].to_vec(),
        })
    }

    /// Follows command `id`'s `stream` from `byte_offset`: what is there,
    /// then what is written, until the command ended and all of it was
    /// delivered. Anyone can re-attach at the offset they had reached.
    pub fn follow_log(
        &self,
        id: &str,
        stream: ExecStream,
        byte_offset: u64,
    ) -> Result<Follow<TaskOutput>, Error> {
        let dir = record::exec_dir(self.paths(), id)?;
        Ok(spawn_follower("car-follow-exec", move |feed| {
            let over = |d: &Path| record::load(d).map_or(true, |r| r.effective_state().is_done());
            crate::task::follow_log(&dir, stream.file_name(), byte_offset, &over, &feed);
        }))
    }

    /// Runs command `id` in this process: what its own process
    /// (`SUBCOMMAND`) does, with `stop` wired to its signals.
    #[doc(hidden)]
    pub async fn run_process(&self, id: &str, stop: &StopHandle) -> Result<TaskState, Error> {
        Ok(
            super::runner::run(self.repo.config(), self.paths(), self.repo.root(), id, stop)
                .await?,
        )
    }

    /// Starts the command's process (see [`crate::task::launch_job`]).
    fn launch(&self, program: &Path, dir: &Path, id: &str) -> Result<(), Error> {
        crate::task::launch_job::<ExecRecord, ExecError>(
            program,
            SUBCOMMAND,
            self.repo.root(),
            dir,
            id,
            ExecError::Launch,
        )
        .map_err(Error::from)
    }
}

/// Where the last `n` lines of `bytes` start.
pub(crate) fn tail_start(bytes: &[u8], n: usize) -> usize {
    if n == 0 {
        return bytes.len();
    }
    // A newline ending the text ends its last line: it starts none.
    let end = bytes.len() - usize::from(bytes.last() == Some(&b'\n'));
    let mut seen = 0;
    for (i, b) in bytes[..end].iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}
