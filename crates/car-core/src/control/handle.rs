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

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ledger::Ledger;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Records in the ledger a state-changing request a front end
    /// answered (`audit`: `method`, `path`, the answer's `status`, and who
    /// asked from where); never a body or a secret.
    pub fn audit(&self, method: &str, path: &str, status: u16) -> Result<(), Error> {
        let event = crate::event::LoopEvent::Audit {
            method: method.to_string(),
            path: path.to_string(),
            requested_by: self.by.requested_by,
            origin: self.by.origin.clone(),
            user: self.by.user.clone(),
            status,
        };
        self.ledger.append(None, event)?;
        Ok(())
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
        Ok(kill(&self.paths, &self.ledger, self.grace, &self.by)?)
    }

    /// Records an answer to the agent's question; the next run's prompt
    /// carries it.
    pub fn reply(&self, text: &str) -> Result<ReplyReport, Error> {
        Ok(reply(&self.paths, &self.ledger, text, &self.by)?)
    }

    /// Starts a runner process that resumes the loop: `program --repo
    /// <root> resume --quiet`, in a session of its own, with no terminal
    /// (`program` is the `car` binary, or one that behaves alike; see
    /// [`Repo::launch`]). Nothing is started while a runner is active.
    pub fn resume(&self, program: impl AsRef<Path>) -> Result<ResumeReport, Error> {
        if let Some(r) = live_runner(&self.paths)? {
            return Ok(ResumeReport::AlreadyRunning { pid: r.pid });
        }
        let reconciled = reconcile(&self.paths)?;
        let pid = crate::launch::spawn_runner(
            program.as_ref(),
            &self.paths.root,
            crate::launch::LoopCommand::Resume { max_runs: None },
        )?;
        Ok(ResumeReport::Started { pid, reconciled })
    }

    /// Whether a runner is active now.
    pub fn is_running(&self) -> bool {
        crate::lock::is_held(&self.paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{StateStore, StopReason};
    use crate::stop::RequestedBy;

    fn control(by: RequestedBy) -> (tempfile::TempDir, Control) {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let ledger = Ledger::new(paths.events_file(), 1 << 20, 2);
        let c = Control {
            paths,
            grace: Duration::from_secs(1),
            ledger,
            by: Requester::new(by, "unit test"),
        };
        (dir, c)
    }

    #[test]
    fn a_stop_after_run_writes_the_stop_file_with_who_asked() {
        let (_dir, c) = control(RequestedBy::Bot);
        assert_eq!(c.stop_after_run().unwrap(), StopReport::NotRunning);
        let text = std::fs::read_to_string(c.paths.stop_file()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["requested_by"], "bot");
        assert_eq!(v["origin"], "unit test");
        let read = super::super::request::read_stop_file(&c.paths)
            .unwrap()
            .unwrap();
        assert_eq!(read.by, c.by);
        // No runner: nothing is announced to one.
        let state = StateStore::new(&c.paths).load().unwrap().state;
        assert_eq!(state.stop_request, None);
    }

    #[test]
    fn an_old_stop_file_reads_as_a_request_from_the_command_line() {
        let (_dir, c) = control(RequestedBy::Api);
        std::fs::write(c.paths.stop_file(), "2026-01-01T00:00:00Z\n").unwrap();
        let read = super::super::request::read_stop_file(&c.paths)
            .unwrap()
            .unwrap();
        assert_eq!(read.by.requested_by, RequestedBy::Cli);
        assert_eq!(read.requested_at, "2026-01-01T00:00:00Z");
    }

    #[test]
    fn the_runner_records_who_asked_it_to_stop_after_its_run() {
        let (_dir, c) = control(RequestedBy::Schedule);
        let me = std::process::id();
        let lock = crate::lock::RunLock::acquire(&c.paths, "run").unwrap();
        let store = StateStore::new(&c.paths);
        store.update(|s| s.runner_pid = Some(me)).unwrap();
        assert_eq!(
            c.stop_after_run().unwrap(),
            StopReport::Requested { pid: me }
        );
        assert!(c.paths.stop_file().exists());
        // A resume is refused while the runner lives.
        assert_eq!(
            c.resume("/bin/true").unwrap(),
            ResumeReport::AlreadyRunning { pid: me }
        );
        // What the loop does when it finds the stop file.
        store
            .update(|s| s.record_stop(StopReason::StopRequested, None))
            .unwrap();
        drop(lock);
        let s = store.load().unwrap().state;
        assert_eq!(s.stop_requested_by, Some(RequestedBy::Schedule));
        assert_eq!(s.stop_origin.as_deref(), Some("unit test"));
        assert_eq!(s.stop_request, None);
    }

    #[test]
    fn a_reply_is_recorded_with_who_gave_it() {
        let (_dir, c) = control(RequestedBy::Bot);
        let store = StateStore::new(&c.paths);
        store
            .update(|s| {
                s.pending_question = Some(crate::state::PendingQuestion {
                    run_id: 2,
                    question: "which port?".into(),
                    asked_at: "2026-01-01T00:00:00Z".into(),
                });
            })
            .unwrap();
        let report = c.reply("8080").unwrap();
        assert_eq!(report.question.unwrap().question, "which port?");
        let s = store.load().unwrap().state;
        assert_eq!(s.pending_question, None);
        let r = s.user_reply.unwrap();
        assert_eq!(r.text, "8080");
        assert_eq!(r.question.as_deref(), Some("which port?"));
        let ledger = std::fs::read_to_string(c.paths.events_file()).unwrap();
        let last: serde_json::Value = serde_json::from_str(ledger.lines().last().unwrap()).unwrap();
        assert_eq!(last["type"], "reply");
        assert_eq!(last["run_id"], 2);
        assert_eq!(last["requested_by"], "bot");
    }

    #[test]
    fn without_a_runner_stop_now_and_kill_find_nothing_and_resume_starts_one() {
        let (_dir, c) = control(RequestedBy::Api);
        assert_eq!(c.stop_now().unwrap(), StopReport::NotRunning);
        assert_eq!(c.kill().unwrap(), KillReport::NotRunning { cleaned: None });
        assert!(!c.is_running());
        match c.resume("/bin/true").unwrap() {
            ResumeReport::Started { pid, reconciled } => {
                assert!(pid > 0);
                assert_eq!(reconciled, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.resume("/nonexistent/car"), Err(Error::Io(_))));
    }
}
