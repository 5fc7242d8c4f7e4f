//! [`Control`]: driving a loop from any process (the one running it or
//! another), recording who asked.
//!
//! A loop is one runner process; everything about it is on disk. Control
//! uses the same protocol from every process, so a loop started in a
//! terminal can be stopped from a server, and the reverse:
//! - stop after the current run: the stop file, which carries who asked;
//! - stop now and kill: the request is written to `state.json` under its
//!   lock, then the runner gets SIGTERM (and SIGKILL if it does not stop in
//!   time, for a kill); the runner's recorded stop names who asked;
//! - reply: the answer is stored in `state.json` for the next run;
//! - resume: a new runner process is started.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::ledger::Ledger;
use crate::lock::LockStatus;
use crate::paths::RepoPaths;
use crate::repo::Repo;
use crate::stop::{Requester, StopKind};

use super::kill::{KillReport, kill, live_runner, stop_now};
use super::reconcile::reconcile;
use super::reply::{ReplyReport, reply};
use super::request::{announce, write_stop_file};

/// Drives the loop of one repository from any process; see the module docs.
///
/// ```no_run
/// # fn demo() -> Result<(), car_core::Error> {
/// use car_core::{Repo, RequestedBy, Requester};
///
/// let repo = Repo::open("/path/to/repo")?;
/// let control = repo.control(Requester::new(RequestedBy::Api, "web ui"));
/// // `car status` then says the loop was stopped at the request of the api.
/// control.stop_now()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Control {
    paths: RepoPaths,
    grace: Duration,
    ledger: Ledger,
    by: Requester,
}

/// What a stop request found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StopReport {
    /// A runner was active and was asked.
    Requested {
        /// Its pid.
        pid: u32,
    },
    /// No runner was active (a stop file is kept for the next runner to
    /// clear when it starts).
    NotRunning,
}

/// What [`Control::resume`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ResumeReport {
    /// A runner process was started.
    Started {
        /// Its pid.
        pid: u32,
        /// What reconciliation fixed first, if anything.
        reconciled: Option<String>,
    },
    /// A runner is active already: nothing was started.
    AlreadyRunning {
        /// Its pid.
        pid: u32,
    },
}

impl Repo {
    /// Returns the control of this repository's loop, for requests made by `by`.
    pub fn control(&self, by: Requester) -> Control {
        let resolved = self.resolved_config();
        let events = &resolved.config.events;
        Control {
            paths: resolved.paths.clone(),
            grace: resolved.config.runner.kill_grace,
            ledger: Ledger::new(resolved.paths.events_file(), events.max_bytes, events.keep),
            by,
        }
    }
}

impl Control {
    /// Returns who the requests are made for.
    pub fn requester(&self) -> &Requester {
        &self.by
    }

    /// Asks the loop to stop after its current run (the stop file). With no
    /// runner active the request waits; the next runner clears it.
    pub fn stop_after_run(&self) -> Result<StopReport, Error> {
        let runner = live_runner(&self.paths)?;
        if let Some(r) = &runner {
            announce(&self.paths, r.pid, StopKind::AfterRun, &self.by)?;
        }
        write_stop_file(&self.paths, &self.by)?;
        Ok(
            runner.map_or(StopReport::NotRunning, |r| StopReport::Requested {
                pid: r.pid,
            }),
        )
    }

    /// Asks the loop to stop now: its agent gets SIGTERM, then SIGKILL
    /// after the grace period, and the run is recorded. Returns without
    /// waiting for the stop.
    pub fn stop_now(&self) -> Result<StopReport, Error> {
        Ok(stop_now(&self.paths, &self.by)?
            .map_or(StopReport::NotRunning, |pid| StopReport::Requested { pid }))
    }

    /// Stops the loop now and waits: SIGTERM, then SIGKILL to the runner
    /// and its agent if they are still there after the grace period (the
    /// stop is then recorded on the runner's behalf).
    pub fn kill(&self) -> Result<KillReport, Error> {
        Ok(kill(&self.paths, self.grace, &self.by)?)
    }

    /// Records an answer to the agent's question; the next run's prompt
    /// carries it.
    pub fn reply(&self, text: &str) -> Result<ReplyReport, Error> {
        Ok(reply(&self.paths, &self.ledger, text, &self.by)?)
    }

    /// Starts a runner process that resumes the loop: `program resume
    /// --quiet` in the repository, in a session of its own, with no
    /// terminal (`program` is the `car` binary, or one that behaves alike).
    /// Nothing is started while a runner is active.
    pub fn resume(&self, program: impl AsRef<Path>) -> Result<ResumeReport, Error> {
        if let Some(r) = live_runner(&self.paths)? {
            return Ok(ResumeReport::AlreadyRunning { pid: r.pid });
        }
        let reconciled = reconcile(&self.paths)?;
        let pid = spawn_detached(program.as_ref(), &self.paths.root)?;
        Ok(ResumeReport::Started { pid, reconciled })
    }

    /// Whether a runner is active now.
    pub fn is_running(&self) -> bool {
        matches!(crate::lock::probe(&self.paths), LockStatus::Held(_))
    }
}

/// Starts `program resume --quiet` in `root`, detached from this process's
/// terminal and process group; a thread reaps it when it ends.
fn spawn_detached(program: &Path, root: &Path) -> Result<u32, crate::fs_util::PathError> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(["resume", "--quiet"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| crate::fs_util::PathError {
            action: "cannot start",
            path: PathBuf::from(program),
            source,
        })?;
    let pid = child.id();
    let reaper = std::thread::Builder::new()
        .name("car-resume-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = reaper {
        tracing::warn!(error = %e, "cannot start a thread to reap the resumed runner");
    }
    Ok(pid)
}
