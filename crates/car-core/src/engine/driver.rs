//! The loop driver: runs the recipe of one run again and again, asking the
//! decision module before and after each run what to do, until it says stop.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Instant;

use super::blocking::unblock;
use super::decide::{self, Between, Counters, Next, Policy, RunFacts, Stop, TodoFacts};
use super::error::EngineError;
use super::event::EventSink;
use crate::config::Config;
use crate::docs;
use crate::event::LoopEvent;
use crate::ledger::Ledger;
use crate::paths::RepoPaths;
use crate::record::{RunKind, RunOutcome};
use crate::state::{StateStore, StopReason};
use crate::stop::StopHandle;

/// Options of one loop invocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoopOptions {
    /// Runs allowed in this invocation (overrides `runner.stop_after_runs`).
    pub max_runs: Option<u64>,
    /// The command name recorded in the lock (`run`, `once`, `resume`).
    pub command: String,
    /// PATH for the agent (the caller's environment).
    pub path_env: Option<OsString>,
    /// What started the runner (a systemd unit, cron, a terminal), for `car status`.
    pub started_by: Option<String>,
    /// The program that answers `__supervise` (each run's agent runs under it).
    pub supervisor: Option<std::path::PathBuf>,
}

/// Drives the loop of one repository.
#[derive(Clone)]
pub(crate) struct Engine {
    pub(super) config: Arc<Config>,
    pub(super) paths: RepoPaths,
    pub(super) store: StateStore,
    pub(super) ledger: Ledger,
}

/// Where a loop is.
pub(super) struct LoopCtx {
    pub(super) started: Instant,
    pub(super) deadline: Option<Instant>,
    pub(super) counters: Counters,
    pub(super) last_run_id: Option<u64>,
    pub(super) last_outcome: Option<RunOutcome>,
    /// A run that ended in an error before it was recorded.
    pub(super) unrecorded_run: Option<(u64, RunKind)>,
}

impl LoopCtx {
    pub(super) fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

impl Engine {
    /// Creates an engine for a loaded configuration.
    pub(crate) fn new(config: Config, paths: RepoPaths) -> Self {
        let store = StateStore::new(&paths);
        let ledger = Ledger::new(
            paths.events_file(),
            config.events.max_bytes,
            config.events.keep,
        );
        Self {
            config: Arc::new(config),
            paths,
            store,
            ledger,
        }
    }

    /// Runs runs until a decision says stop.
    pub(super) async fn iterate(
        &self,
        opts: &LoopOptions,
        policy: &Policy,
        stop: &StopHandle,
        events: &EventSink,
        ctx: &mut LoopCtx,
    ) -> Result<Stop, EngineError> {
        let cfg = &self.config;
        let resuming = opts.command == "resume";
        if !resuming {
            let open = self.load_state().await?.pending_question;
            if let Some(s) = decide::open_question(resuming, open.as_ref()) {
                return Ok(s);
            }
        }
        loop {
            if let Some(s) = self.stop_check(stop, policy, ctx).await? {
                return Ok(s);
            }
            let docs = self.load_docs().await?;
            let todo = docs::parse_todo(&docs.todo);
            let placeholder = crate::templates::placeholder_task(&docs.todo);
            let path = cfg.display_path(&cfg.docs.todo);
            let facts = TodoFacts {
                status: &todo,
                exists: docs.todo_exists,
                placeholder: placeholder.as_deref(),
                path: &path,
                // Only asked of a TODO the loop can finish (it may mark an
                // old marker final).
                summary_final: todo.is_complete()
                    && placeholder.is_none()
                    && self.summary_is_final(&docs).await?,
            };
            let kind = match decide::next_run(&facts) {
                Ok(kind) => kind,
                Err(s) => return Ok(s),
            };
            let engine = self.clone();
            let run_id = unblock(move || engine.next_run_id()).await??;
            let span = tracing::info_span!("run", run_id);
            let run = self.run_one(run_id, kind, &docs, &todo, opts, stop, events, ctx.deadline);
            let report = match tracing::Instrument::instrument(run, span).await {
                Ok(r) => r,
                Err(e) => {
                    // The run ended without a record (the ledger says so).
                    ctx.last_run_id = Some(run_id);
                    ctx.unrecorded_run = Some((run_id, kind));
                    return Err(e);
                }
            };
            ctx.last_run_id = Some(run_id);
            ctx.last_outcome = Some(report.rec.outcome);
            let facts = RunFacts::of(&report.rec, &report.class, ctx.deadline_passed());
            let decision = decide::after_run(policy, &mut ctx.counters, &facts, jitter());
            if let Some(message) = decision.warning {
                self.emit(events, Some(run_id), LoopEvent::Warning { message })
                    .await;
            }
            match decision.next {
                Next::Stop(s) => return Ok(s),
                Next::FinishSummary(s) => {
                    let engine = self.clone();
                    unblock(move || engine.finalize_summary(Some(run_id))).await??;
                    return Ok(s);
                }
                Next::WaitForQuota { reset, message } => {
                    self.wait_for_quota(
                        run_id,
                        reset,
                        &message,
                        policy,
                        stop,
                        events,
                        ctx.deadline,
                    )
                    .await?;
                    continue;
                }
                Next::Retry {
                    attempt,
                    of,
                    delay,
                    reason,
                } => {
                    let retry = LoopEvent::Retry {
                        attempt,
                        of,
                        delay_ms: delay.as_millis() as u64,
                        reason,
                    };
                    self.emit(events, Some(run_id), retry).await;
                    self.sleep(delay, stop, ctx.deadline).await;
                    continue;
                }
                Next::Continue => {}
            }
            if let Some(s) = self.stop_check(stop, policy, ctx).await? {
                return Ok(s);
            }
            // The loop goes on (a stop writes these with the stop itself).
            let c = ctx.counters;
            self.update_transient(move |s| {
                s.loop_runs = c.runs;
                s.consecutive_failures = c.failures;
                s.no_progress_runs = c.no_progress;
            })
            .await?;
            if !cfg.runner.sleep.is_zero() {
                let duration_ms = cfg.runner.sleep.as_millis() as u64;
                let sleeping = LoopEvent::Sleeping { duration_ms };
                self.emit(events, ctx.last_run_id, sleeping).await;
                self.sleep(cfg.runner.sleep, stop, ctx.deadline).await;
            }
        }
    }

    /// Returns a stop when one holds before the next run.
    async fn stop_check(
        &self,
        stop: &StopHandle,
        policy: &Policy,
        ctx: &LoopCtx,
    ) -> Result<Option<Stop>, EngineError> {
        let stop_file = self.paths.stop_file();
        let now = Between {
            stop: stop.current(),
            stop_file: stop_file.exists(),
            deadline_passed: ctx.deadline_passed(),
        };
        if let Some(s) = decide::between_runs(policy, &ctx.counters, &now) {
            if s.reason == StopReason::StopRequested {
                let _ = std::fs::remove_file(stop_file);
            }
            return Ok(Some(s));
        }
        if policy.max_tokens.is_none() {
            return Ok(None);
        }
        let used = self.load_state().await?.tokens.total();
        Ok(decide::budget(policy, used))
    }
}

/// A number from 0 to 1 that differs between loops (for retry jitter).
fn jitter() -> f64 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(seed % 1000) / 1000.0
}
