//! Stopping a runner now from another process: SIGTERM, then SIGKILL.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::lock::{self, LockInfo, LockStatus};
use crate::paths::RepoPaths;
use crate::process;
use crate::state::{StateError, StateStore, StopReason};
use crate::stop::{Requester, StopKind};

use super::reconcile::reconcile;
use super::request::announce;

/// The result of `car kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum KillReport {
    /// No runner was active.
    NotRunning {
        /// A stale state or lock that was cleaned up, if any.
        cleaned: Option<String>,
    },
    /// The runner stopped after SIGTERM and recorded the kill itself.
    Stopped {
        /// Its pid.
        pid: u32,
        /// How long it took.
        waited_ms: u64,
    },
    /// The runner did not stop in time and was killed with SIGKILL (its
    /// agent's group too); the state was written on its behalf.
    ForceKilled {
        /// Its pid.
        pid: u32,
    },
}

/// The runner holding the lock: `Ok(None)` when there is none.
pub(crate) fn live_runner(paths: &RepoPaths) -> Result<Option<LockInfo>, StateError> {
    Ok(match lock::probe(paths) {
        LockStatus::Held(Some(info)) => Some(info),
        // Held but unreadable: fall back to the state's pid.
        LockStatus::Held(None) => {
            StateStore::new(paths)
                .load()?
                .state
                .runner_pid
                .map(|pid| LockInfo {
                    pid,
                    started_at: None,
                    host: None,
                    command: None,
                    pid_start: None,
                })
        }
        LockStatus::Free | LockStatus::Stale(_) => None,
    })
}

/// Asks the runner to stop now (SIGTERM: it stops its agent, SIGKILL after
/// the grace period, and records the run), recording `by` as who asked.
/// Returns the runner's pid, or `None` when no runner is active. Does not
/// wait for the stop.
pub(crate) fn stop_now(paths: &RepoPaths, by: &Requester) -> Result<Option<u32>, StateError> {
    let Some(holder) = live_runner(paths)? else {
        return Ok(None);
    };
    announce(paths, holder.pid, StopKind::Now, by)?;
    process::signal_pid(holder.pid, Signal::SIGTERM);
    Ok(Some(holder.pid))
}

/// Stops the runner of this repository: SIGTERM (it forwards the stop to
/// its agent), then SIGKILL to the runner and the agent's group if it is
/// still there after `grace` plus a margin. `by` is recorded as who asked.
pub(crate) fn kill(
    paths: &RepoPaths,
    ledger: &crate::ledger::Ledger,
    grace: Duration,
    by: &Requester,
) -> Result<KillReport, StateError> {
    let store = StateStore::new(paths);
    let Some(holder) = live_runner(paths)? else {
        let cleaned = match lock::probe(paths) {
            LockStatus::Held(None) => None,
            _ => reconcile(paths)?,
        };
        return Ok(KillReport::NotRunning { cleaned });
    };
    announce(paths, holder.pid, StopKind::Kill, by)?;
    let started = Instant::now();
    process::signal_pid(holder.pid, Signal::SIGTERM);
    // The runner needs the grace period to stop its agent, then a moment to
    // write its records.
    let patience = grace + Duration::from_secs(5);
    while started.elapsed() < patience {
        if !lock::is_held(paths) {
            // The runner lets its lock go just before it writes `stopped`.
            crate::ledger::wait_for_appends(&paths.events_file());
            return Ok(KillReport::Stopped {
                pid: holder.pid,
                waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    process::signal_pid(holder.pid, Signal::SIGKILL);
    let state = store.load()?.state;
    if let Some(pgid) = state
        .agent_pgid
        .filter(|&g| process::group_is_ours(g, state.agent_pgid_start))
    {
        process::signal_group(pgid, Signal::SIGKILL);
    }
    // The runner is gone: its supervisor (which also saw the control pipe
    // close) ends the agent's tree, and every process still carrying the
    // run's marker is killed.
    wait_until_dead(holder.pid);
    crate::marker::kill_strays(&paths.root);
    let detail = format!(
        "runner pid {} did not stop after SIGTERM and was killed with SIGKILL",
        holder.pid
    );
    let (state, recorded) = store.update(|s| {
        // Only for the runner killed here (a new one may have started since).
        let ours = s.runner_pid.is_none_or(|p| p == holder.pid);
        if ours {
            s.record_stop(StopReason::Killed, Some(detail.clone()));
        }
        ours
    })?;
    // The runner had no chance to write its `stopped`: written here, so
    // whoever follows the ledger (a stream, `car attach`, the hub) sees
    // the loop end.
    if recorded
        && let Err(e) = ledger.append(
            state.last_run_id,
            crate::event::LoopEvent::Stopped {
                reason: StopReason::Killed,
                detail: Some(detail),
                runs: state.loop_runs,
                requested_by: state.stop_requested_by,
                origin: state.stop_origin.clone(),
                abandoned: false,
            },
        )
    {
        tracing::warn!(error = %e, "cannot record the killed loop's stop in the ledger");
    }
    Ok(KillReport::ForceKilled { pid: holder.pid })
}

/// Waits (a few seconds at most) until `pid` is gone after a SIGKILL.
fn wait_until_dead(pid: u32) {
    let until = Instant::now() + Duration::from_secs(3);
    while process::is_alive(pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}
