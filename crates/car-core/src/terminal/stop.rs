//! [`Terminals`]: a repository's terminal sessions as recorded: start and
//! end records for the server that owns them, and, from any process, the
//! list, a stop (the whole process group: TERM, a grace, KILL) and the
//! sweep that ends the sessions of a server that is gone.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::TerminalError;
use super::launch::{self, TerminalCommand};
use super::record::{self, TerminalEnd, TerminalRecord, TerminalStatus};
use crate::marker::{self, RunMarker};
use crate::process;
use crate::repo::Repo;

/// How long a session's processes get between SIGTERM and SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long a stop waits for the live server that owns a session to record
/// its end before recording it itself.
const OWNER_PATIENCE: Duration = Duration::from_secs(2);

/// The terminal sessions of one repository.
#[derive(Debug, Clone, Copy)]
pub struct Terminals<'a> {
    repo: &'a Repo,
}

impl Repo {
    /// The repository's terminal sessions.
    pub fn terminals(&self) -> Terminals<'_> {
        Terminals { repo: self }
    }
}

fn now() -> String {
    crate::time::iso_millis(crate::time::now())
}

impl Terminals<'_> {
    fn paths(&self) -> crate::paths::RepoPaths {
        crate::paths::RepoPaths::new(self.repo.root())
    }

    /// Claims a new session id and returns it with the command the session
    /// runs (owned by this process: see [`TerminalCommand`]).
    pub fn prepare(&self) -> Result<(String, TerminalCommand), TerminalError> {
        let paths = self.paths();
        let id = record::new_id(&paths)?;
        match launch::command(self.repo.config(), &id) {
            Ok(cmd) => Ok((id, cmd)),
            Err(e) => {
                if let Ok(f) = record::file(&paths, &id) {
                    let _ = std::fs::remove_file(f);
                }
                Err(e)
            }
        }
    }

    /// Gives back an id [`Terminals::prepare`] claimed for a session that
    /// could not start.
    pub fn release(&self, id: &str) {
        if let Ok(f) = record::file(&self.paths(), id) {
            let _ = std::fs::remove_file(f);
        }
    }

    /// Records that session `id` started as `pid`, owned by this process.
    pub fn record_started(
        &self,
        id: &str,
        pid: u32,
        argv: Vec<String>,
        size: (u16, u16),
        started_by: &str,
    ) -> Result<TerminalRecord, TerminalError> {
        let me = std::process::id();
        let at = now();
        let rec = TerminalRecord {
            id: id.to_string(),
            pid,
            pid_start: process::start_time(pid),
            argv,
            started_at: at.clone(),
            started_by: started_by.to_string(),
            cols: size.0,
            rows: size.1,
            last_activity: at,
            owner_pid: me,
            owner_start: process::start_time(me),
            status: TerminalStatus::Running,
            stop_requested_by: None,
            end: None,
        };
        record::write(&self.paths(), &rec)?;
        Ok(rec)
    }

    /// Changes the record of session `id` with `f` and writes it.
    pub fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut TerminalRecord),
    ) -> Result<TerminalRecord, TerminalError> {
        let paths = self.paths();
        let mut rec = record::read(&record::file(&paths, id)?)?;
        f(&mut rec);
        record::write(&paths, &rec)?;
        Ok(rec)
    }

    /// Records the end of session `id` (once; a second end is ignored):
    /// `reason` (`exited` becomes `stopped` when someone asked for a stop).
    pub fn record_end(
        &self,
        id: &str,
        reason: &str,
        exit_code: Option<i32>,
        signal: Option<String>,
    ) -> Result<TerminalRecord, TerminalError> {
        self.update(id, |rec| {
            if rec.status == TerminalStatus::Ended {
                return;
            }
            let reason = if reason == "exited" && rec.stop_requested_by.is_some() {
                "stopped"
            } else {
                reason
            };
            rec.status = TerminalStatus::Ended;
            rec.end = Some(TerminalEnd {
                at: now(),
                reason: reason.to_string(),
                exit_code,
                signal,
            });
        })
    }

    /// Every recorded session, newest first.
    pub fn list(&self) -> Vec<TerminalRecord> {
        record::list(&self.paths())
    }

    /// The record of session `id`.
    pub fn get(&self, id: &str) -> Result<TerminalRecord, TerminalError> {
        let path = record::file(&self.paths(), id)?;
        if !path.is_file() {
            return Err(TerminalError::NotFound { id: id.to_string() });
        }
        record::read(&path)
    }

    /// Stops session `id` for `by`: SIGTERM to its process group, up to
    /// two seconds for it to go, then SIGKILL to the group and to every
    /// process carrying its marker. The live server that owns it records
    /// its end (with the exit code); when the owner is gone (or does not
    /// within a moment), this records it. A session already ended is
    /// returned as it is. Blocks for up to a few seconds.
    pub fn stop(&self, id: &str, by: &str) -> Result<TerminalRecord, TerminalError> {
        let rec = self.get(id)?;
        if rec.status == TerminalStatus::Ended {
            return Ok(rec);
        }
        let rec = self.update(id, |r| {
            r.stop_requested_by.get_or_insert_with(|| by.to_string());
        })?;
        end_processes(self.repo.root(), &rec);
        let me = std::process::id();
        if rec.owner_pid == me {
            return self.get(id);
        }
        if process::same_process(rec.owner_pid, rec.owner_start) {
            let until = Instant::now() + OWNER_PATIENCE;
            while Instant::now() < until {
                let now = self.get(id)?;
                if now.status == TerminalStatus::Ended {
                    return Ok(now);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.record_end(id, "stopped", None, None)
    }

    /// Ends the sessions recorded as running whose server is gone (the
    /// PTY died with it): their leftover processes are killed and each is
    /// recorded as ended (`server_gone`). Returns how many.
    pub fn sweep(&self) -> usize {
        let mut n = 0;
        for rec in self.list() {
            if rec.status != TerminalStatus::Running
                || process::same_process(rec.owner_pid, rec.owner_start)
            {
                continue;
            }
            end_processes(self.repo.root(), &rec);
            if self.record_end(&rec.id, "server_gone", None, None).is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// Whether the process group of `rec` has a live member.
fn group_alive(rec: &TerminalRecord) -> bool {
    process::group_is_ours(rec.pid, rec.pid_start)
}

/// TERM to the session's group, a grace, KILL to the group, then KILL to
/// whatever still carries its marker (a process that left the group).
fn end_processes(root: &std::path::Path, rec: &TerminalRecord) {
    if group_alive(rec) {
        process::signal_group(rec.pid, Signal::SIGTERM);
        let until = Instant::now() + STOP_GRACE;
        while Instant::now() < until && group_alive(rec) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if group_alive(rec) {
            process::signal_group(rec.pid, Signal::SIGKILL);
        }
    }
    let marker = RunMarker {
        repo: marker::repo_id(root),
        run: launch::marker_name(&rec.id),
        owner_pid: rec.owner_pid,
        owner_start: rec.owner_start.unwrap_or(0),
    };
    marker::kill_marked(&marker);
}
