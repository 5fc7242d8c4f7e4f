//! A loop from start to end: take the lock and the repository over (no
//! orphan of a dead runner, a fresh loop in the state), run the driver,
//! then record the stop, release the lock as `stopped` is written and let
//! the notifications out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::blocking::unblock;
use super::decide::{self, Counters, Policy, Stop};
use super::driver::{Engine, LoopCtx, LoopOptions};
use super::error::{EngineError, error_chain};
use super::event::{Event, EventSink, LoopSummary};
use crate::codex::TokenUsage;
use crate::disk::{self, DiskReserve};
use crate::event::{LoopEvent, RunFigures};
use crate::lock::{LockInfo, RunLock};
use crate::state::{State, StateError, Status, StopReason};
use crate::stop::StopHandle;
use crate::time;

/// How long the loop waits at its end for notifications still queued.
const NOTIFY_FLUSH: Duration = Duration::from_secs(15);

impl Engine {
    /// Runs the loop until a stop condition holds. Errors that are the
    /// user's to fix (a missing agent binary, a broken template, an
    /// unreadable doc) are recorded in the state and returned.
    pub(crate) async fn run_loop(
        &self,
        opts: LoopOptions,
        stop: &StopHandle,
        events: EventSink,
    ) -> Result<LoopSummary, EngineError> {
        let span = tracing::info_span!("loop", repo = %self.config.root.display(), command = %opts.command);
        self.drive(opts, stop, events).instrument(span).await
    }

    async fn drive(
        &self,
        opts: LoopOptions,
        stop: &StopHandle,
        events: EventSink,
    ) -> Result<LoopSummary, EngineError> {
        let (lock, me) = self.take_over(&opts).await?;
        // Room to record the stop in, should the disk fill up.
        let paths = self.paths.clone();
        let mut reserve = unblock(move || DiskReserve::take(&paths)).await?;
        self.start_state(&opts, &me).await?;
        let max_runs = opts.max_runs.or(self.config.runner.stop_after_runs);
        let policy = Policy::new(&self.config, max_runs);
        // Notifications ride on the same events as the caller's sink; their
        // delivery runs on its own threads and never blocks the loop.
        let notifier =
            crate::notify::Notifier::start(&self.config, &self.paths, self.ledger.clone())
                .map(Arc::new);
        let events: EventSink = match &notifier {
            Some(n) => {
                n.tick();
                let (user, n) = (events.clone(), n.clone());
                Arc::new(move |e: &Event| {
                    user(e);
                    n.on_event(e);
                })
            }
            None => events,
        };
        let started = LoopEvent::LoopStarted {
            command: Some(opts.command.clone()),
            max_runs,
            pid: Some(me.pid),
        };
        self.emit(&events, None, started).await;
        tracing::info!(?max_runs, command = %opts.command, "loop started");

        let mut ctx = LoopCtx {
            started: Instant::now(),
            deadline: self.config.runner.max_wallclock.map(time::deadline_in),
            counters: Counters::default(),
            last_run_id: None,
            last_outcome: None,
            unrecorded_run: None,
        };
        // The version check runs beside the first run: it only informs (the
        // state records it, an old version gets a warning), so it must not
        // delay the work by the ~100 ms a Node-wrapped `codex` takes to start.
        let version_check = {
            let engine = self.clone();
            let (opts, events) = (opts.clone(), events.clone());
            tokio::spawn(
                async move { engine.check_agent_version(&opts, &events).await }.in_current_span(),
            )
        };
        let result = self.iterate(&opts, &policy, stop, &events, &mut ctx).await;
        if let Ok(Err(e)) = version_check.await {
            tracing::warn!(error = %error_chain(&e), "cannot check the agent's version");
        }
        let stop_now = match &result {
            Ok(s) => s.clone(),
            Err(e) => decide::error_stop(disk::is_disk_full(e), error_chain(e)),
        };
        let Stop { reason, detail } = stop_now.clone();
        // With the disk full, the reserve is given back to make room for
        // the last records.
        if reason == StopReason::DiskFull {
            reserve.release();
        }
        if let (Some((run_id, kind)), Err(e)) = (ctx.unrecorded_run, &result) {
            let finished = LoopEvent::RunFinished(RunFigures::unrecorded(kind, error_chain(e)));
            self.emit(&events, Some(run_id), finished).await;
        }
        let recorded = match self.record_stop(&stop_now, ctx.counters).await {
            Err(e) if disk::is_disk_full(&e) && reserve.release() => {
                self.record_stop(&stop_now, ctx.counters).await
            }
            r => r,
        };
        drop(reserve);
        let recorded = match recorded {
            Ok(state) => state,
            Err(e) => {
                tracing::error!(error = %error_chain(&e), reason = reason.as_str(), "cannot record the stop");
                // Cancelled, the task drops the lock all the same.
                let _ = unblock(move || drop(lock)).await;
                return Err(EngineError::StopNotRecorded {
                    reason,
                    first: result.err().map(Box::new),
                    record: e,
                });
            }
        };
        // The state may name who asked for the stop (a request announced
        // through the control API) and word the detail accordingly.
        let detail = recorded.stop_detail.clone().or(detail);
        let (requested_by, origin) = (recorded.stop_requested_by, recorded.stop_origin.clone());
        let runs = ctx.counters.runs;
        tracing::info!(reason = reason.as_str(), runs, elapsed = ?ctx.started.elapsed(), "loop stopped");
        let stopped = LoopEvent::Stopped {
            reason,
            detail: detail.clone(),
            runs,
            requested_by,
            origin,
            abandoned: false,
        };
        // The loop is over. The lock is let go under the ledger's lock,
        // just before `stopped` is written: whoever sees `stopped` can
        // start the next runner at once (`car kill` sees no runner), and
        // that runner's `loop_started` comes after `stopped`, as it waits
        // for the ledger's lock. Then the last notifications go out.
        self.emit_after(&events, ctx.last_run_id, stopped, move || drop(lock))
            .await;
        if let Some(n) = notifier {
            // tick reads the state (blocking); the flush itself is async.
            // With the runtime shutting down there is no flush to wait for.
            let ticked = unblock(move || {
                n.tick();
                n
            })
            .await;
            if let Ok(n) = ticked {
                n.finish(NOTIFY_FLUSH).await;
            }
        }
        let summary = LoopSummary {
            reason,
            detail,
            runs,
            last_run_id: ctx.last_run_id,
            last_outcome: ctx.last_outcome,
        };
        match result {
            // A full disk is a stop with a reason, not a failure of car.
            Err(_) if reason == StopReason::DiskFull => Ok(summary),
            r => r.map(|_| summary),
        }
    }

    /// Takes the lock, then the repository over from a runner that died:
    /// its agent group, supervisor and stray processes are killed.
    async fn take_over(&self, opts: &LoopOptions) -> Result<(RunLock, LockInfo), EngineError> {
        let (paths, command) = (self.paths.clone(), opts.command.clone());
        let root = self.config.root.clone();
        let store = self.store.clone();
        unblock(move || {
            let lock = RunLock::acquire(&paths, &command)?;
            // Only the lock holder may clear a stop request (a losing runner
            // must not cancel the live runner's pending stop).
            let _ = std::fs::remove_file(paths.stop_file());
            let me = lock.info().clone();
            // A previous runner killed with SIGKILL cannot have stopped its
            // agent; never let that orphan work beside a new one.
            let before = store.load()?.state;
            if let Some(pgid) = before.agent_pgid
                && crate::process::group_is_ours(pgid, before.agent_pgid_start)
            {
                tracing::warn!(pgid, "killing the agent group a dead runner left behind");
                crate::process::signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
            }
            // Its supervisor and any process still carrying the marker of a
            // run whose car process is gone.
            crate::marker::kill_strays(&root);
            Ok((lock, me))
        })
        .await?
    }

    /// Records a fresh loop run by this process in the state.
    async fn start_state(&self, opts: &LoopOptions, me: &LockInfo) -> Result<(), StateError> {
        let (me, started_by) = (me.clone(), opts.started_by.clone());
        self.update_transient(move |s| {
            s.status = Status::Running;
            s.runner_pid = Some(me.pid);
            s.runner_host = me.host;
            s.runner_pid_start = me.pid_start;
            s.runner_started_by = started_by;
            s.agent_pgid = None;
            s.agent_pgid_start = None;
            s.agent_supervisor_pid = None;
            s.agent_supervisor_start = None;
            s.loop_started_at = Some(time::iso_seconds(time::now()));
            s.loop_runs = 0;
            s.loop_tokens = TokenUsage::default();
            s.consecutive_failures = 0;
            s.no_progress_runs = 0;
            s.stop_reason = None;
            s.stop_detail = None;
            s.stop_requested_by = None;
            s.stop_origin = None;
            s.quota_reset_at = None;
        })
        .await
    }

    /// Records the stop and the loop's counters, durably.
    async fn record_stop(&self, stop: &Stop, c: Counters) -> Result<State, StateError> {
        let stop = stop.clone();
        self.update_state(move |s| {
            s.record_stop(stop.reason, stop.detail);
            s.loop_runs = c.runs;
            s.consecutive_failures = c.failures;
            s.no_progress_runs = c.no_progress;
        })
        .await
    }
}
