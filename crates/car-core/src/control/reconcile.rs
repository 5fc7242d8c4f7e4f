//! Reconciling the state of a runner that died without recording why.

use nix::sys::signal::Signal;

use crate::lock;
use crate::paths::RepoPaths;
use crate::process;
use crate::state::{State, StateError, StateStore, Status, StopReason};

/// When [`reconcile_with`] looks through every process for agents left
/// running by a car process that is gone (a read of every process's
/// environment: the costly part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweep {
    /// On every call (a person's command: `car status`, `car kill`).
    Always,
    /// Only when the state says a runner died without recording a stop: for
    /// a server or a hub reading many repositories often.
    IfRunnerDied,
}

/// Fixes a state that says `running` while no runner holds the lock (the
/// runner was killed with SIGKILL, or the machine rebooted), sweeping stray
/// agent processes on every call. Returns what was fixed.
pub(crate) fn reconcile(paths: &RepoPaths) -> Result<Option<String>, StateError> {
    reconcile_with(paths, Sweep::Always)
}

/// [`reconcile`], sweeping stray agent processes as `sweep` says.
pub(crate) fn reconcile_with(
    paths: &RepoPaths,
    sweep: Sweep,
) -> Result<Option<String>, StateError> {
    let store = StateStore::new(paths);
    let state = store.load()?.state;
    // Agent processes whose car process is gone, whatever the state says
    // (a live runner's processes are never among them).
    let sweep_strays = || {
        let supervisor = state
            .agent_supervisor_pid
            .filter(|&p| process::same_process(p, state.agent_supervisor_start));
        let strays = crate::marker::kill_strays(&paths.root);
        (strays > 0).then(|| {
            format!(
                "{strays} agent process(es) left running by a car process that is gone were stopped{}",
                supervisor
                    .filter(|&p| !process::is_alive(p))
                    .map(|p| format!(" (supervisor pid {p})"))
                    .unwrap_or_default()
            )
        })
    };
    let active = matches!(state.status, Status::Running | Status::WaitingForQuota);
    if !active || lock::is_held(paths) {
        return Ok(match sweep {
            Sweep::Always => sweep_strays(),
            Sweep::IfRunnerDied => None,
        });
    }
    let strays_note = sweep_strays();
    // The runner may be alive with its lock file deleted (by hand, or by a
    // tool that cleans ignored files): never touch a live runner's state.
    let here = state
        .runner_host
        .as_deref()
        .is_none_or(|h| h == process::hostname());
    if let Some(pid) = state.runner_pid
        && here
        && process::same_process(pid, state.runner_pid_start)
    {
        tracing::warn!(pid, "the runner is alive but its lock file is missing");
        return Ok(strays_note);
    }
    let examined = RunnerId::of(&state);
    let orphan = state
        .agent_pgid
        .filter(|&g| process::group_is_ours(g, state.agent_pgid_start));
    let what = format!(
        "runner{} died without recording a stop{}{}",
        state
            .runner_pid
            .map(|p| format!(" pid {p}"))
            .unwrap_or_default(),
        orphan
            .map(|g| format!("; its agent group {g} was killed"))
            .unwrap_or_default(),
        strays_note.map(|n| format!("; {n}")).unwrap_or_default()
    );
    between_examine_and_record();
    // Record the crash only for the runner examined above: a runner that
    // started since (`car resume` racing this `car status`) is alive.
    let (_, recorded) = store.update(|s| {
        let same = matches!(s.status, Status::Running | Status::WaitingForQuota)
            && RunnerId::of(s) == examined;
        if same {
            s.record_stop(StopReason::Crashed, Some(what.clone()));
        }
        same
    })?;
    if !recorded {
        return Ok(None);
    }
    if let Some(pgid) = orphan {
        process::signal_group(pgid, Signal::SIGKILL);
    }
    Ok(Some(what))
}

/// What tells one runner's loop from another's in the state.
#[derive(Debug, PartialEq, Eq)]
struct RunnerId {
    pid: Option<u32>,
    pid_start: Option<u64>,
    host: Option<String>,
    loop_started_at: Option<String>,
}

impl RunnerId {
    fn of(s: &State) -> Self {
        Self {
            pid: s.runner_pid,
            pid_start: s.runner_pid_start,
            host: s.runner_host.clone(),
            loop_started_at: s.loop_started_at.clone(),
        }
    }
}

/// A test hook: runs between reading the state and recording a crash.
#[cfg(test)]
fn between_examine_and_record() {
    if let Some(f) = tests::BETWEEN.with(|b| b.borrow_mut().take()) {
        f();
    }
}

#[cfg(not(test))]
fn between_examine_and_record() {}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        /// Run by `reconcile` between reading the state and recording.
        pub(super) static BETWEEN: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    /// A repo whose state says a runner (now dead) is running.
    fn crashed_repo() -> (tempfile::TempDir, RepoPaths, u32) {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        StateStore::new(&paths)
            .update(|s| {
                s.status = Status::Running;
                s.runner_pid = Some(dead);
                s.runner_pid_start = Some(1);
                s.loop_started_at = Some("2026-01-01T00:00:00Z".into());
            })
            .unwrap();
        (dir, paths, dead)
    }

    #[test]
    fn reconcile_records_the_crash_of_a_dead_runner() {
        let (_dir, paths, dead) = crashed_repo();
        let what = reconcile(&paths).unwrap().unwrap();
        assert!(what.contains(&format!("pid {dead}")), "{what}");
        let s = StateStore::new(&paths).load().unwrap().state;
        assert_eq!(s.stop_reason, Some(StopReason::Crashed));
        assert_eq!(s.runner_pid, None);
        assert_eq!(reconcile(&paths).unwrap(), None, "only once");
    }

    #[test]
    fn reconcile_never_records_a_crash_for_a_runner_that_started_meanwhile() {
        let (_dir, paths, _dead) = crashed_repo();
        let me = std::process::id();
        let store = StateStore::new(&paths);
        // `car resume` starts between the examination and the record.
        let resumed = store.clone();
        BETWEEN.with(|b| {
            *b.borrow_mut() = Some(Box::new(move || {
                resumed
                    .update(|s| {
                        s.status = Status::Running;
                        s.runner_pid = Some(me);
                        s.runner_pid_start = process::start_time(me);
                        s.loop_started_at = Some("2026-01-01T00:00:05Z".into());
                        s.stop_reason = None;
                    })
                    .unwrap();
            }));
        });
        assert_eq!(reconcile(&paths).unwrap(), None);
        let s = store.load().unwrap().state;
        assert_eq!(s.status, Status::Running);
        assert_eq!(s.runner_pid, Some(me), "the live runner lost its pid");
        assert_eq!(s.stop_reason, None);
    }
}
