//! Abandoning this process's loop: what a program does when it must exit
//! now (a third Ctrl-C) and cannot wait for the loop to record its stop.
//!
//! The loop's own stop path (agent stopped, run record, state, ledger) may
//! be stuck: on a pipe a daemon of the agent holds open, on a slow disk.
//! [`abandon`] does the part that must never be skipped, on the caller's
//! thread, without the loop: it kills the agent's process group recorded
//! in `state.json` (or has the run's supervisor end the agent's tree),
//! records the stop there and appends a `stopped` event to
//! the ledger. It acts only when the state names this process as the
//! runner, so it never touches another runner's loop. The state lock stays
//! held by the returned [`Abandoned`] until it is dropped (the process
//! exits), so the stuck loop cannot overwrite the record afterwards.

use crate::event::LoopEvent;
use nix::sys::signal::Signal;

use crate::ledger::Ledger;
use crate::paths::RepoPaths;
use crate::state::{StateError, StateStore, Status, StopReason};
use crate::stop::StopCause;

/// What [`abandon`] did. Keep it alive until the process exits: it holds
/// the state lock.
#[derive(Debug)]
pub struct Abandoned {
    /// Whether this process was the recorded runner (nothing was done
    /// otherwise: the loop had not started, or had already recorded its stop).
    pub recorded: bool,
    /// The agent process group that was killed, if one was alive.
    pub agent_group_killed: Option<u32>,
    /// The run's supervisor that was told (SIGTERM) to end the agent's
    /// whole tree, if one was alive.
    pub agent_supervisor_stopped: Option<u32>,
    /// The run in progress (or the last one), when there was one.
    pub run_id: Option<u64>,
    /// The ledger could not be written (the state was).
    pub ledger_error: Option<String>,
    _state_lock: Option<std::fs::File>,
}

/// Kills the recorded agent group and records `cause` as the stop of the
/// loop this process runs in `paths`' repository; see the module docs.
pub(crate) fn abandon(
    paths: &RepoPaths,
    events: &crate::config::EventsConfig,
    cause: StopCause,
) -> Result<Abandoned, StateError> {
    let me = std::process::id();
    let store = StateStore::new(paths);
    let (reason, what) = match cause {
        StopCause::Interrupted => (StopReason::Interrupted, "interrupted (Ctrl-C)"),
        StopCause::Killed => (StopReason::Killed, "stopped by a signal"),
    };
    let (state, outcome, lock) = store.update_and_hold(|s| {
        let active = matches!(s.status, Status::Running | Status::WaitingForQuota);
        if s.runner_pid != Some(me) || !active {
            return None;
        }
        let group = s
            .agent_pgid
            .filter(|&g| crate::process::group_is_ours(g, s.agent_pgid_start));
        if let Some(g) = group {
            crate::process::signal_group(g, Signal::SIGKILL);
        }
        // A supervised agent: its supervisor ends the agent's whole tree at
        // once on SIGTERM (and again when this process exits).
        let supervisor = s
            .agent_supervisor_pid
            .filter(|&p| crate::process::same_process(p, s.agent_supervisor_start));
        if let Some(p) = supervisor {
            crate::process::signal_pid(p, Signal::SIGTERM);
        }
        let detail = format!(
            "{what} three times: car exited at once{}{}{}",
            s.last_run_id
                .map(|id| format!(", without waiting for run {id}'s record"))
                .unwrap_or_default(),
            group
                .map(|g| format!("; its agent group {g} was killed"))
                .unwrap_or_default(),
            supervisor
                .map(|p| format!("; its agent's supervisor {p} was told to end the agent"))
                .unwrap_or_default()
        );
        s.record_stop(reason, Some(detail.clone()));
        Some((group, supervisor, detail))
    })?;
    let Some((group, supervisor, detail)) = outcome else {
        drop(lock);
        return Ok(Abandoned {
            recorded: false,
            agent_group_killed: None,
            agent_supervisor_stopped: None,
            run_id: state.last_run_id,
            ledger_error: None,
            _state_lock: None,
        });
    };
    let ledger = Ledger::new(paths.events_file(), events.max_bytes, events.keep);
    let ledger_error = ledger
        .append(
            state.last_run_id,
            LoopEvent::Stopped {
                reason,
                detail: Some(detail),
                runs: state.loop_runs,
                requested_by: state.stop_requested_by,
                origin: state.stop_origin.clone(),
                abandoned: true,
            },
        )
        .err()
        .map(|e| e.to_string());
    Ok(Abandoned {
        recorded: true,
        agent_group_killed: group,
        agent_supervisor_stopped: supervisor,
        run_id: state.last_run_id,
        ledger_error,
        _state_lock: Some(lock),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::config::EventsConfig;

    fn events() -> EventsConfig {
        EventsConfig {
            max_bytes: 1 << 20,
            keep: 2,
        }
    }

    #[test]
    fn records_the_stop_of_this_process_and_holds_the_state_lock() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        let store = StateStore::new(&paths);
        store
            .update(|s| {
                s.status = Status::Running;
                s.runner_pid = Some(std::process::id());
                s.last_run_id = Some(4);
            })
            .unwrap();
        let done = abandon(&paths, &events(), StopCause::Interrupted).unwrap();
        assert!(done.recorded);
        assert_eq!(done.run_id, Some(4));
        let state = store.load().unwrap().state;
        assert_eq!(state.stop_reason, Some(StopReason::Interrupted));
        assert_eq!(state.runner_pid, None);
        assert!(state.stop_detail.unwrap().contains("run 4"));
        let ledger = std::fs::read_to_string(paths.events_file()).unwrap();
        let last: serde_json::Value = serde_json::from_str(ledger.lines().last().unwrap()).unwrap();
        assert_eq!(last["type"], "stopped");
        assert_eq!(last["reason"], "interrupted");
        assert_eq!(last["requested_by"], "cli");
        assert_eq!(state.stop_requested_by, Some(crate::stop::RequestedBy::Cli));
        // Nobody else may write the state while the result is alive.
        let lock = std::fs::File::open(paths.state_lock_file()).unwrap();
        assert!(fs2::FileExt::try_lock_exclusive(&lock).is_err());
        drop(done);
        assert!(fs2::FileExt::try_lock_exclusive(&lock).is_ok());
    }

    #[test]
    fn leaves_another_runner_alone() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        let store = StateStore::new(&paths);
        store
            .update(|s| {
                s.status = Status::Running;
                s.runner_pid = Some(std::process::id() + 1);
            })
            .unwrap();
        let done = abandon(&paths, &events(), StopCause::Killed).unwrap();
        assert!(!done.recorded);
        let state = store.load().unwrap().state;
        assert_eq!(state.status, Status::Running);
        assert_eq!(state.stop_reason, None);
        assert!(!paths.events_file().exists());
    }
}
