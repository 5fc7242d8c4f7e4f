//! The loop: take the lock, then run the agent over the work docs until a
//! stop condition holds, recording every run and keeping the state current.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::agent::{self, AgentCommand, AgentError, EndCause, ExitKind, Limits};
use crate::codex::{self, ErrorClass, Terminal, TokenUsage};
use crate::config::Config;
use crate::disk::{self, DiskReserve};
use crate::docs::{self, DocError, Docs, TodoStatus};
use crate::fs_util::{Durability, PathError};
use crate::ledger::Ledger;
use crate::lock::{LockError, RunLock};
use crate::paths::RepoPaths;
use crate::prompt::{self, PromptError, PromptInput, PromptKind};
use crate::record::{self, RunKind, RunOutcome, RunRecord, TodoCount};
use crate::state::{PendingQuestion, StateError, StateStore, Status, StopReason};
use crate::stop::{StopCause, StopHandle, StopLevel};
use crate::summary_marker::{self, MarkerState};
use crate::time;

/// How often the stop file is checked while sleeping between runs.
const STOP_POLL: Duration = Duration::from_millis(100);
/// Shortest wait for a usage window: Codex gives reset times to the minute,
/// so a reset "now" may still be a few seconds away.
const MIN_QUOTA_WAIT: Duration = Duration::from_secs(2);
/// How long the loop waits at its end for notifications still queued.
const NOTIFY_FLUSH: Duration = Duration::from_secs(15);
/// How long `codex --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// Errors that end a loop before a stop condition does.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Another runner holds the lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The state could not be written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A doc could not be read.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// The prompt template is broken.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The agent could not be started.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A run file could not be written.
    #[error(transparent)]
    Io(#[from] PathError),
    /// The loop stopped, but `state.json` could not be written to say so.
    #[error(
        "{}the loop stopped ({reason}), but the stop could not be recorded in state.json",
        first.as_deref().map(|e| format!("{}; ", error_chain(e))).unwrap_or_default()
    )]
    StopNotRecorded {
        /// Why the loop stopped.
        reason: StopReason,
        /// The error that stopped the loop, when one did (reported first).
        first: Option<Box<EngineError>>,
        /// Why the state could not be written.
        #[source]
        record: StateError,
    },
}

/// Something that happened in the loop, for a printer or an embedding program.
#[derive(Debug, Clone)]
pub enum Event {
    /// The loop took the lock and starts.
    LoopStarted {
        /// Runs allowed in this invocation, if limited.
        max_runs: Option<u64>,
    },
    /// A run starts.
    RunStarted {
        /// Its id.
        run_id: u64,
        /// Loop or summary.
        kind: RunKind,
        /// The TODO before it.
        todo: TodoStatus,
    },
    /// A run ended and was recorded.
    RunFinished {
        /// The record written to `run.json`.
        record: Box<RunRecord>,
    },
    /// The loop sleeps before the next run.
    Sleeping {
        /// For how long.
        duration: Duration,
    },
    /// A transient failure: the run is retried after a pause.
    Retrying {
        /// Which retry (1-based).
        attempt: u32,
        /// Retries allowed.
        of: u32,
        /// The pause.
        delay: Duration,
        /// The agent's message.
        reason: String,
    },
    /// The agent's usage window is used up; the loop waits for it to reset.
    WaitingForQuota {
        /// The wait.
        wait: Duration,
        /// When the wait ends (UTC, RFC 3339).
        until: String,
        /// The agent's message.
        message: String,
    },
    /// The agent asked a person something.
    NeedsInput {
        /// The run that asked.
        run_id: u64,
        /// The question.
        question: String,
    },
    /// Something the user should know that does not stop the loop.
    Warning {
        /// What.
        message: String,
    },
    /// The loop stopped.
    Stopped {
        /// Why.
        reason: StopReason,
        /// Details.
        detail: Option<String>,
    },
}

/// Receives loop events; called on the loop's task, so keep it quick.
pub(crate) type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

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

/// How a loop ended.
#[derive(Debug, Clone)]
pub struct LoopSummary {
    /// Why it stopped.
    pub reason: StopReason,
    /// Details (the limit, the last error).
    pub detail: Option<String>,
    /// Runs made by this invocation.
    pub runs: u64,
    /// The last run id.
    pub last_run_id: Option<u64>,
    /// How the last run of this invocation ended.
    pub last_outcome: Option<RunOutcome>,
}

/// Drives the loop of one repository.
#[derive(Clone)]
pub(crate) struct Engine {
    config: Arc<Config>,
    paths: RepoPaths,
    store: StateStore,
    ledger: Ledger,
}

/// A rendered prompt and what went into it.
pub(crate) struct NextPrompt {
    prompt: String,
    prev_output_dropped: bool,
    reply: Option<crate::state::UserReply>,
}

/// What one run produced, beyond its record.
struct RunReport {
    rec: RunRecord,
    class: ErrorClass,
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

    /// Runs the loop until a stop condition holds. Errors that are the
    /// user's to fix (a missing agent binary, a broken template, an
    /// unreadable doc) are recorded in the state and returned.
    pub(crate) async fn run_loop(
        &self,
        opts: LoopOptions,
        stop: &StopHandle,
        events: EventSink,
    ) -> Result<LoopSummary, EngineError> {
        let lock = RunLock::acquire(&self.paths, &opts.command)?;
        // Only the lock holder may clear a stop request (a losing runner
        // must not cancel the live runner's pending stop).
        let _ = std::fs::remove_file(self.paths.stop_file());
        let me = lock.info().clone();
        // A previous runner killed with SIGKILL cannot have stopped its
        // agent; never let that orphan work beside a new one.
        let before = self.store.load()?.state;
        if let Some(pgid) = before.agent_pgid
            && crate::process::group_is_ours(pgid, before.agent_pgid_start)
        {
            tracing::warn!(pgid, "killing the agent group a dead runner left behind");
            crate::process::signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
        }
        // Its supervisor and any process still carrying the marker of a run
        // whose car process is gone.
        crate::marker::kill_strays(&self.config.root);
        // Room to record the stop in, should the disk fill up.
        let mut reserve = DiskReserve::take(&self.paths);
        self.store.update_transient(|s| {
            s.status = Status::Running;
            s.runner_pid = Some(me.pid);
            s.runner_host = me.host.clone();
            s.runner_pid_start = me.pid_start;
            s.runner_started_by = opts.started_by.clone();
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
            s.quota_reset_at = None;
        })?;
        let max_runs = opts.max_runs.or(self.config.runner.stop_after_runs);
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
        events(&Event::LoopStarted { max_runs });
        self.ledger_append(
            "loop_started",
            None,
            json!({"command": opts.command, "max_runs": max_runs, "pid": me.pid}),
        );
        tracing::info!(?max_runs, command = %opts.command, "loop started");

        let mut ctx = LoopCtx {
            started: Instant::now(),
            deadline: self.config.runner.max_wallclock.map(time::deadline_in),
            runs: 0,
            failures: 0,
            no_progress: 0,
            transient: 0,
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
            tokio::spawn(async move { engine.check_agent_version(&opts, &events).await })
        };
        let result = self.iterate(&opts, max_runs, stop, &events, &mut ctx).await;
        if let Ok(Err(e)) = version_check.await {
            tracing::warn!(error = %error_chain(&e), "cannot check the agent's version");
        }
        let (reason, detail) = match &result {
            Ok((r, d)) => (*r, d.clone()),
            Err(e) if disk::is_disk_full(e) => (
                StopReason::DiskFull,
                Some(format!(
                    "{}; free space on that file system, then `car resume`",
                    error_chain(e)
                )),
            ),
            Err(e) => (StopReason::Error, Some(error_chain(e))),
        };
        // With the disk full, the reserve is given back to make room for
        // the last records.
        if reason == StopReason::DiskFull {
            reserve.release();
        }
        if let (Some((run_id, kind)), Err(e)) = (ctx.unrecorded_run, &result) {
            self.ledger_append(
                "run_finished",
                Some(run_id),
                json!({"kind": kind_name(kind), "outcome": "error", "error": error_chain(e)}),
            );
        }
        let record = |reason: StopReason, detail: &Option<String>| {
            self.store.update(|s| {
                s.record_stop(reason, detail.clone());
                s.loop_runs = ctx.runs;
                s.consecutive_failures = ctx.failures;
                s.no_progress_runs = ctx.no_progress;
            })
        };
        let recorded = match record(reason, &detail) {
            Err(e) if disk::is_disk_full(&e) && reserve.release() => record(reason, &detail),
            r => r,
        };
        drop(reserve);
        if let Err(e) = recorded {
            tracing::error!(error = %error_chain(&e), reason = reason.as_str(), "cannot record the stop");
            drop(lock);
            return Err(EngineError::StopNotRecorded {
                reason,
                first: result.err().map(Box::new),
                record: e,
            });
        }
        tracing::info!(reason = reason.as_str(), runs = ctx.runs, elapsed = ?ctx.started.elapsed(), "loop stopped");
        self.ledger_append(
            "stopped",
            ctx.last_run_id,
            json!({"reason": reason.as_str(), "detail": detail, "runs": ctx.runs}),
        );
        events(&Event::Stopped {
            reason,
            detail: detail.clone(),
        });
        // The loop is over: release the lock first (so `car kill` and a next
        // runner see it stopped), then let the last notifications out.
        drop(lock);
        if let Some(n) = &notifier {
            n.tick();
            n.finish(NOTIFY_FLUSH).await;
        }
        let summary = LoopSummary {
            reason,
            detail,
            runs: ctx.runs,
            last_run_id: ctx.last_run_id,
            last_outcome: ctx.last_outcome,
        };
        match result {
            // A full disk is a stop with a reason, not a failure of car.
            Err(_) if reason == StopReason::DiskFull => Ok(summary),
            r => r.map(|_| summary),
        }
    }

    async fn iterate(
        &self,
        opts: &LoopOptions,
        max_runs: Option<u64>,
        stop: &StopHandle,
        events: &EventSink,
        ctx: &mut LoopCtx,
    ) -> Result<(StopReason, Option<String>), EngineError> {
        let cfg = &self.config;
        // An unanswered question stops `run` and `once` at once: a scheduler
        // restarting the loop must not spend runs asking again. `resume`
        // continues anyway (the person chose to).
        if opts.command != "resume"
            && let Some(q) = self.store.load()?.state.pending_question
        {
            return Ok((
                StopReason::NeedsInput,
                Some(format!(
                    "run {}'s question is still open: {}; answer with `car reply`, then `car resume`",
                    q.run_id, q.question
                )),
            ));
        }
        loop {
            if let Some(r) = self.stop_check(stop, ctx, max_runs)? {
                return Ok(r);
            }
            let docs = Docs::load(&cfg.docs)?;
            let todo = docs::parse_todo(&docs.todo);
            if todo.total == 0 {
                let path = cfg.display_path(&cfg.docs.todo);
                let detail = if docs.todo_exists {
                    format!(
                        "{path} has no checkbox items; add tasks as `- [ ] task` lines, or run `car ingest-spec`"
                    )
                } else {
                    format!(
                        "{path} does not exist; run `car init` or create it with `- [ ] task` items"
                    )
                };
                return Ok((StopReason::TodoInvalid, Some(detail)));
            }
            if let Some(task) = crate::templates::placeholder_task(&docs.todo) {
                let path = cfg.display_path(&cfg.docs.todo);
                return Ok((
                    StopReason::TodoInvalid,
                    Some(format!(
                        "{path} still holds the template item \"{task}\"; replace it with your own tasks (`car edit todo`), or run `car ingest-spec`"
                    )),
                ));
            }
            let kind = if todo.is_complete() {
                if self.summary_is_final(&docs)? {
                    return Ok((
                        StopReason::Completed,
                        Some("every TODO item is checked and SUMMARY is final".into()),
                    ));
                }
                RunKind::Summary
            } else {
                RunKind::Loop
            };
            let run_id = self.next_run_id()?;
            let report = match self
                .run_one(run_id, kind, &docs, &todo, opts, stop, events, ctx.deadline)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    // The run ended without a record (the ledger says so).
                    ctx.last_run_id = Some(run_id);
                    ctx.unrecorded_run = Some((run_id, kind));
                    return Err(e);
                }
            };
            let rec = &report.rec;
            ctx.last_run_id = Some(run_id);
            ctx.last_outcome = Some(rec.outcome);
            ctx.runs += 1;
            match rec.outcome {
                RunOutcome::Interrupted => {
                    return Ok((
                        StopReason::Interrupted,
                        Some(format!("run {run_id} was interrupted")),
                    ));
                }
                RunOutcome::Killed => {
                    return Ok((StopReason::Killed, Some(format!("run {run_id} was killed"))));
                }
                RunOutcome::TimedOut if ctx.deadline.is_some_and(|d| Instant::now() >= d) => {
                    return Ok((StopReason::Wallclock, Some(wallclock_detail(cfg))));
                }
                _ => {}
            }
            if let Some(q) = &rec.question {
                return Ok((
                    StopReason::NeedsInput,
                    Some(format!("run {run_id} asks: {q}")),
                ));
            }
            if let Some(v) = rec.verdict.as_ref().filter(|v| v.status == "blocked") {
                return Ok((
                    StopReason::Blocked,
                    Some(format!("run {run_id} is blocked: {}", v.summary)),
                ));
            }
            let message = rec.error.clone().unwrap_or_default();
            if rec.outcome != RunOutcome::Ok {
                match &report.class {
                    ErrorClass::UsageLimit(reset) => {
                        self.wait_for_quota(run_id, *reset, &message, stop, events, ctx.deadline)
                            .await?;
                        // The run is redone; it does not count toward the run limit.
                        ctx.runs -= 1;
                        continue;
                    }
                    ErrorClass::Billing => {
                        return Ok((
                            StopReason::QuotaExhausted,
                            Some(format!(
                                "the agent's plan allows no more use ({message}); check your plan and billing, then `car resume`"
                            )),
                        ));
                    }
                    ErrorClass::Transient if ctx.transient < cfg.runner.transient_retries => {
                        ctx.transient += 1;
                        let delay = backoff(cfg.runner.transient_backoff, ctx.transient);
                        self.ledger_append(
                            "retry",
                            Some(run_id),
                            json!({"attempt": ctx.transient, "of": cfg.runner.transient_retries, "delay_ms": delay.as_millis() as u64, "reason": message}),
                        );
                        events(&Event::Retrying {
                            attempt: ctx.transient,
                            of: cfg.runner.transient_retries,
                            delay,
                            reason: message.clone(),
                        });
                        self.sleep(delay, stop, ctx.deadline).await;
                        ctx.runs -= 1;
                        continue;
                    }
                    _ => {}
                }
            }
            if rec.outcome == RunOutcome::Ok {
                ctx.failures = 0;
                ctx.transient = 0;
            } else {
                ctx.failures += 1;
                // The retries of this failure are spent; a later transient
                // failure gets its own.
                ctx.transient = 0;
            }
            if kind == RunKind::Loop {
                ctx.no_progress = if rec.made_progress() {
                    0
                } else {
                    ctx.no_progress + 1
                };
            }
            if kind == RunKind::Summary && rec.outcome == RunOutcome::Ok {
                self.finalize_summary(Some(run_id))?;
                return Ok((
                    StopReason::Completed,
                    Some(format!(
                        "every TODO item is checked; run {run_id} wrote the summary"
                    )),
                ));
            }
            if let Some(v) = rec.verdict.as_ref().filter(|v| v.status == "done")
                && !rec.todo_after.total.eq(&rec.todo_after.done)
            {
                let open = rec.todo_after.total - rec.todo_after.done;
                events(&Event::Warning {
                    message: format!(
                        "run {run_id} says it is done ({}), but the TODO has {open} open item(s); continuing",
                        v.summary
                    ),
                });
            }
            if ctx.failures >= cfg.runner.max_consecutive_failures {
                return Ok((
                    StopReason::Failed,
                    Some(format!(
                        "{} failed runs in a row (runner.max_consecutive_failures); last: run {run_id} {}{}",
                        ctx.failures,
                        rec.describe_exit(),
                        if message.is_empty() {
                            String::new()
                        } else {
                            format!(": {message}")
                        }
                    )),
                ));
            }
            if cfg.runner.no_progress_runs > 0 && ctx.no_progress >= cfg.runner.no_progress_runs {
                return Ok((
                    StopReason::Stalled,
                    Some(format!(
                        "{} runs in a row changed no doc and no file (runner.no_progress_runs)",
                        ctx.no_progress
                    )),
                ));
            }
            if let Some(r) = self.stop_check(stop, ctx, max_runs)? {
                return Ok(r);
            }
            // The loop goes on (a stop writes these with the stop itself).
            self.store.update_transient(|s| {
                s.loop_runs = ctx.runs;
                s.consecutive_failures = ctx.failures;
                s.no_progress_runs = ctx.no_progress;
            })?;
            if !cfg.runner.sleep.is_zero() {
                events(&Event::Sleeping {
                    duration: cfg.runner.sleep,
                });
                self.sleep(cfg.runner.sleep, stop, ctx.deadline).await;
            }
        }
    }

    /// Returns a stop reason when one holds before the next run.
    fn stop_check(
        &self,
        stop: &StopHandle,
        ctx: &LoopCtx,
        max_runs: Option<u64>,
    ) -> Result<Option<(StopReason, Option<String>)>, EngineError> {
        let req = stop.current();
        if req.level != StopLevel::None {
            return Ok(Some(match req.cause {
                StopCause::Interrupted => {
                    (StopReason::Interrupted, Some("interrupted (Ctrl-C)".into()))
                }
                StopCause::Killed => (
                    StopReason::Killed,
                    Some("stopped by SIGTERM (car kill)".into()),
                ),
            }));
        }
        if self.paths.stop_file().exists() {
            let _ = std::fs::remove_file(self.paths.stop_file());
            return Ok(Some((
                StopReason::StopRequested,
                Some("a stop was requested (stop file)".into()),
            )));
        }
        if ctx.deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Some((
                StopReason::Wallclock,
                Some(wallclock_detail(&self.config)),
            )));
        }
        if let Some(m) = max_runs
            && ctx.runs >= m
        {
            return Ok(Some((
                StopReason::RunLimit,
                Some(format!("run limit of {m} reached")),
            )));
        }
        if let Some(budget) = self.config.runner.max_tokens {
            let used = self.store.load()?.state.tokens.total();
            if used >= budget {
                return Ok(Some((
                    StopReason::Budget,
                    Some(format!(
                        "{used} tokens used of the runner.max_tokens budget of {budget}; raise it to continue"
                    )),
                )));
            }
        }
        Ok(None)
    }

    async fn sleep(&self, d: Duration, stop: &StopHandle, deadline: Option<Instant>) {
        let mut until = time::deadline_in(d);
        if let Some(dl) = deadline {
            until = until.min(dl);
        }
        let mut rx = stop.subscribe();
        while Instant::now() < until {
            if rx.borrow_and_update().level != StopLevel::None || self.paths.stop_file().exists() {
                return;
            }
            let step = STOP_POLL.min(until.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = rx.changed() => {}
                () = tokio::time::sleep(step) => {}
            }
        }
    }

    /// Sleeps until the usage window resets (capped), recording the wait.
    async fn wait_for_quota(
        &self,
        run_id: u64,
        reset: Option<chrono::DateTime<chrono::Local>>,
        message: &str,
        stop: &StopHandle,
        events: &EventSink,
        deadline: Option<Instant>,
    ) -> Result<(), EngineError> {
        let cfg = &self.config.runner;
        let wait = match reset {
            Some(t) => (t - chrono::Local::now())
                .to_std()
                .unwrap_or(Duration::ZERO),
            None => cfg.quota_retry,
        };
        let wait = wait.min(cfg.quota_wait_max).max(MIN_QUOTA_WAIT);
        let until = time::iso_seconds(
            chrono::Duration::from_std(wait)
                .ok()
                .and_then(|w| time::now().checked_add_signed(w))
                .unwrap_or_else(time::now),
        );
        self.store.update_transient(|s| {
            s.status = Status::WaitingForQuota;
            s.quota_reset_at = Some(until.clone());
        })?;
        self.ledger_append(
            "waiting_for_quota",
            Some(run_id),
            json!({
                "until": until,
                "wait_ms": wait.as_millis() as u64,
                "reset_at": reset.map(|t| t.to_rfc3339()),
                "message": message,
            }),
        );
        events(&Event::WaitingForQuota {
            wait,
            until: until.clone(),
            message: message.to_string(),
        });
        tracing::info!(run_id, ?wait, "usage limit reached; waiting for the reset");
        self.sleep(wait, stop, deadline).await;
        self.store.update_transient(|s| {
            s.status = Status::Running;
            s.quota_reset_at = None;
        })?;
        Ok(())
    }

    /// Records `codex --version` once per invocation and warns about a
    /// version older than the tests cover.
    async fn check_agent_version(
        &self,
        opts: &LoopOptions,
        events: &EventSink,
    ) -> Result<(), EngineError> {
        let cfg = &self.config;
        if !codex::runs_exec(&cfg.codex.args) {
            return Ok(());
        }
        // A missing binary is the run's error to report, once.
        let Ok((program, path_env)) =
            agent::resolve_binary(&cfg.codex.binary, &cfg.root, opts.path_env.as_ref())
        else {
            return Ok(());
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.arg("--version")
            .env_clear()
            .envs(crate::agent_env::for_agent(cfg, path_env))
            .current_dir(&cfg.root)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(VERSION_TIMEOUT, cmd.output()).await;
        let text = match out {
            Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => String::new(),
        };
        let version = codex::parse_version(&text);
        self.store
            .update_transient(|s| s.codex_version = (!text.is_empty()).then(|| text.clone()))?;
        match version {
            Some(v) if v < codex::OLDEST_TESTED_VERSION => {
                let (a, b, c) = codex::OLDEST_TESTED_VERSION;
                let message = format!(
                    "{text} is older than {a}.{b}.{c}, the oldest version car is tested with; consider `npm install -g @openai/codex`"
                );
                tracing::info!(%message);
                events(&Event::Warning { message });
            }
            Some(_) => {}
            None => tracing::info!(output = %text, "could not read the agent's version"),
        }
        Ok(())
    }

    /// Returns the id for the next run: one past the highest of the state's
    /// last id and every run recorded on disk (so nothing is overwritten).
    fn next_run_id(&self) -> Result<u64, EngineError> {
        let state = self.store.load()?.state;
        let on_disk = record::run_ids(&self.paths).last().copied().unwrap_or(0);
        Ok(state.last_run_id.unwrap_or(0).max(on_disk) + 1)
    }

    fn ledger_append(&self, kind: &str, run_id: Option<u64>, fields: serde_json::Value) {
        if let Err(e) = self.ledger.append(kind, run_id, fields) {
            tracing::warn!(error = %error_chain(&e), "cannot append to the event ledger");
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; grouping would only rename the list"
    )]
    async fn run_one(
        &self,
        run_id: u64,
        kind: RunKind,
        docs: &Docs,
        todo: &TodoStatus,
        opts: &LoopOptions,
        stop: &StopHandle,
        events: &EventSink,
        deadline: Option<Instant>,
    ) -> Result<RunReport, EngineError> {
        let cfg = &self.config;
        let (program, path_env) =
            agent::resolve_binary(&cfg.codex.binary, &cfg.root, opts.path_env.as_ref())?;
        let codex_mode = codex::runs_exec(&cfg.codex.args);
        let NextPrompt {
            prompt,
            prev_output_dropped,
            reply,
        } = self.next_prompt(run_id, kind, docs)?;
        let dir = self.paths.run_dir(run_id);
        std::fs::create_dir_all(&dir).map_err(|source| PathError {
            action: "cannot create directory",
            path: dir.clone(),
            source,
        })?;
        record::write_file_with(
            &dir,
            record::PROMPT_FILE,
            prompt.as_bytes(),
            Durability::Consistent,
        )?;

        let mut args = agent::apply_model(&cfg.codex.args, cfg.codex.model.as_deref());
        let last_message = dir.join(record::LAST_MESSAGE_FILE);
        if codex_mode {
            let _ = std::fs::remove_file(&last_message);
            args.extend([
                "--json".to_string(),
                "-o".to_string(),
                last_message.display().to_string(),
            ]);
            if cfg.codex.structured_verdict {
                record::write_file_with(
                    &dir,
                    record::VERDICT_SCHEMA_FILE,
                    codex::VERDICT_SCHEMA.as_bytes(),
                    Durability::None,
                )?;
                args.extend([
                    "--output-schema".to_string(),
                    dir.join(record::VERDICT_SCHEMA_FILE).display().to_string(),
                ]);
            }
            if args.last().map(String::as_str) != Some("-") {
                args.push("-".to_string());
            }
        }
        let fingerprint_before = record::worktree_fingerprint(&cfg.root);
        let started_at = time::now();
        let pid = std::process::id();
        self.store.update_transient(|s| {
            s.status = Status::Running;
            s.runner_pid = Some(pid);
            s.last_run_id = Some(run_id);
            s.last_run_started_at = Some(time::iso_seconds(started_at));
            s.last_run_finished_at = None;
            s.last_exit_code = None;
            s.agent_pgid = None;
            s.agent_supervisor_pid = None;
            s.agent_supervisor_start = None;
        })?;
        self.ledger_append(
            "run_started",
            Some(run_id),
            json!({"kind": kind_name(kind)}),
        );
        events(&Event::RunStarted {
            run_id,
            kind,
            todo: todo.clone(),
        });
        tracing::info!(run_id, ?kind, program = %program.display(), "run started");

        let command = AgentCommand {
            program,
            args,
            cwd: cfg.root.clone(),
            env: Some(crate::agent_env::for_agent(cfg, path_env)),
        };
        let mut log = agent::OutputLog::open(&dir.join(record::OUTPUT_FILE))?;
        log.note(&format!(
            "run {run_id} ({}) start: {}",
            kind_name(kind),
            shell_words(&command)
        ))?;
        if prev_output_dropped {
            log.note("the previous output is left out of this prompt: the last run overflowed the model's context window")?;
        }
        if reply.is_some() {
            log.note("this prompt carries the person's reply (USER_REPLY)")?;
        }
        if codex_mode {
            log.parse_codex_events(&dir.join(record::CODEX_EVENTS_FILE))?;
        }
        let run_deadline = cfg.codex.run_timeout.map(time::deadline_in);
        let limits = Limits {
            deadline: [deadline, run_deadline].into_iter().flatten().min(),
            idle_timeout: cfg.codex.idle_timeout,
            grace: cfg.runner.kill_grace,
        };
        let store = self.store.clone();
        let launch = crate::supervisor::Launch {
            marker: crate::marker::RunMarker::new(&cfg.root, &run_id.to_string()),
            supervisor: opts
                .supervisor
                .clone()
                .map(|program| crate::supervisor::Supervision {
                    program,
                    prompt_file: dir.join(record::PROMPT_FILE),
                    status_file: dir.join(record::SUPERVISOR_FILE),
                }),
        };
        let out = agent::run(
            &command,
            &launch,
            prompt.into_bytes(),
            &mut log,
            stop.subscribe(),
            limits,
            move |started| {
                let start = crate::process::start_time(started.pid);
                if let Err(e) = store.update_transient(|s| {
                    if started.supervised {
                        s.agent_supervisor_pid = Some(started.pid);
                        s.agent_supervisor_start = start;
                    } else {
                        s.agent_pgid = Some(started.pid);
                        s.agent_pgid_start = start;
                    }
                }) {
                    tracing::warn!(error = %e, "cannot record the agent's process");
                }
            },
        )
        .await?;
        let finished_at = time::now();
        tracing::debug!(run_id, pgid = out.pgid, "agent process group ended");
        let codex_run = log.take_codex().filter(|c| c.events > 0);

        let outcome = match out.cause {
            EndCause::Stopped => match stop.current().cause {
                StopCause::Interrupted => RunOutcome::Interrupted,
                StopCause::Killed => RunOutcome::Killed,
            },
            EndCause::TimedOut => RunOutcome::TimedOut,
            EndCause::Idle => RunOutcome::Hung,
            // The terminal event, not the exit code, says how a Codex turn went.
            EndCause::Exited => match codex_run.as_ref().map(|c| &c.terminal) {
                Some(Some(Terminal::Completed)) => RunOutcome::Ok,
                Some(_) => RunOutcome::Failed,
                None if out.exit == ExitKind::Code(0) => RunOutcome::Ok,
                None => RunOutcome::Failed,
            },
        };
        // The final output fed to the next prompt: Codex's last message,
        // else its last agent message, else the end of stdout.
        let last_message_text = std::fs::read_to_string(&last_message)
            .ok()
            .filter(|t| !t.trim().is_empty());
        let (final_output, final_source) = if let Some(t) = last_message_text {
            (t.trim_end().to_string(), "last_message")
        } else if let Some(m) = codex_run
            .as_ref()
            .and_then(|c| c.agent_messages.last())
            .filter(|m| !m.trim().is_empty())
        {
            (m.trim_end().to_string(), "agent_message")
        } else {
            (out.stdout_tail.trim_end().to_string(), "stdout")
        };
        record::write_file_with(
            &dir,
            record::FINAL_OUTPUT_FILE,
            final_output.as_bytes(),
            Durability::Consistent,
        )?;
        let error = match outcome {
            RunOutcome::Ok => None,
            RunOutcome::Hung => Some(hung_message(
                cfg,
                codex_run.as_ref(),
            )),
            _ => codex_run
                .as_ref()
                .and_then(|c| c.failure_message().map(str::to_string))
                .or_else(|| (codex_mode && codex_run.is_some() && out.cause == EndCause::Exited).then(|| "the agent ended without finishing its turn (no turn.completed or turn.failed event)".to_string())),
        };
        let class = match (&outcome, &error) {
            (RunOutcome::Failed, Some(msg)) => codex::classify(msg, chrono::Local::now()),
            // Stuck retrying (the model cannot be reached): transient.
            (RunOutcome::Hung, _) => codex_run
                .as_ref()
                .and_then(|c| c.retrying())
                .map_or(ErrorClass::Other, |m| {
                    codex::classify(m, chrono::Local::now())
                }),
            _ => ErrorClass::Other,
        };
        let verdict = (cfg.codex.structured_verdict && codex_mode)
            .then(|| codex::parse_verdict(&final_output))
            .flatten();
        let question = match &verdict {
            Some(v) if v.status == "needs_input" => Some(if v.question.trim().is_empty() {
                v.summary.clone()
            } else {
                v.question.clone()
            }),
            _ => codex::need_input_question(&final_output),
        };
        let tokens = codex_run.as_ref().and_then(|c| c.usage);

        // The run happened: whatever the docs now hold, record it.
        let (after, doc_problems) = Docs::load_lossy(&cfg.docs);
        for p in &doc_problems {
            log.note(&format!("warning: {p}"))?;
            tracing::warn!(run_id, problem = %p, "a doc could not be read cleanly after the run");
        }
        let todo_after = docs::parse_todo(&after.todo);
        let docs_changed = record::doc_changes(docs, &after, &cfg.docs, &cfg.root);
        // The summary run's job is SUMMARY: one that left it as it was did
        // not do it, whatever its exit (the loop retries, within
        // runner.max_consecutive_failures).
        let (outcome, error) = if kind == RunKind::Summary
            && outcome == RunOutcome::Ok
            && docs.summary == after.summary
        {
            let path = cfg.display_path(&cfg.docs.summary);
            (
                RunOutcome::Failed,
                Some(format!(
                    "the summary run left {path} unchanged; it must write the summary there"
                )),
            )
        } else {
            (outcome, error)
        };
        let worktree_changed = record::worktree_fingerprint(&cfg.root) != fingerprint_before;
        let (mut git_commit, mut git_error) = (None, None);
        if cfg.git.auto_commit && outcome == RunOutcome::Ok && crate::git::is_repo(&cfg.root) {
            let msg = cfg
                .git
                .commit_message_template
                .replace("{run_id}", &run_id.to_string());
            match crate::git::commit_all(&cfg.root, &msg) {
                Ok(sha) => git_commit = sha,
                Err(e) => {
                    tracing::info!(run_id, error = %e, "git auto-commit failed");
                    git_error = Some(e.to_string());
                }
            }
        }
        let (exit_code, signal) = match out.exit {
            ExitKind::Code(c) => (Some(c), None),
            ExitKind::Signal(s) => (None, Some(s)),
        };
        let rec = RunRecord {
            id: run_id,
            kind,
            started_at: time::iso_millis(started_at),
            finished_at: time::iso_millis(finished_at),
            duration_ms: u64::try_from(out.duration.as_millis()).unwrap_or(u64::MAX),
            outcome,
            exit_code,
            signal,
            killed_with_sigkill: out.escalated,
            command: std::iter::once(command.program.display().to_string())
                .chain(command.args.iter().cloned())
                .collect(),
            todo_before: TodoCount {
                done: todo.done,
                total: todo.total,
            },
            todo_after: TodoCount {
                done: todo_after.done,
                total: todo_after.total,
            },
            docs_changed,
            worktree_changed,
            stdout_bytes: out.stdout_bytes,
            stderr_bytes: out.stderr_bytes,
            git_commit,
            git_error,
            codex: codex_run,
            tokens,
            error_class: (outcome != RunOutcome::Ok).then(|| class_name(&class).to_string()),
            error,
            question: question.clone(),
            verdict,
            user_reply_included: reply.is_some(),
            prev_output_dropped,
            final_output_source: Some(final_source.to_string()),
        };
        // The end line goes out before run.json: `car log --follow` stops
        // once run.json exists.
        log.note(&format!(
            "run {run_id} end: {} ({}){}",
            outcome.as_str(),
            rec.describe_exit(),
            rec.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ))?;
        log.flush()?;
        let mut json_text = serde_json::to_string_pretty(&rec).unwrap_or_default();
        json_text.push('\n');
        // Durable: the directory sync also keeps the names of the run's
        // other files (prompt, output, final output).
        record::write_file(&dir, record::RECORD_FILE, json_text.as_bytes())?;
        self.store.update(|s| {
            s.last_exit_code = Some(out.exit.as_code());
            s.last_run_finished_at = Some(time::iso_seconds(finished_at));
            s.agent_pgid = None;
            s.agent_supervisor_pid = None;
            s.agent_supervisor_start = None;
            s.last_outcome = Some(outcome.as_str().to_string());
            s.last_run_duration_ms = Some(rec.duration_ms);
            s.todo_done = Some(todo_after.done);
            s.todo_total = Some(todo_after.total);
            s.last_run_tokens = tokens;
            if let Some(t) = &tokens {
                s.tokens.add(t);
                s.loop_tokens.add(t);
            }
            s.drop_prev_output = class == ErrorClass::ContextWindow;
            // Consume the reply this run carried, but not one given while
            // it ran (that one is for the next run).
            if outcome == RunOutcome::Ok
                && let Some(r) = &reply
                && s.user_reply
                    .as_ref()
                    .is_some_and(|now| now.replied_at == r.replied_at && now.text == r.text)
            {
                s.user_reply = None;
            }
            if let Some(q) = &question {
                s.pending_question = Some(PendingQuestion {
                    run_id,
                    question: q.clone(),
                    asked_at: time::iso_seconds(finished_at),
                });
            }
        })?;
        self.ledger_append(
            "run_finished",
            Some(run_id),
            json!({
                "kind": kind_name(kind),
                "outcome": outcome.as_str(),
                "exit_code": exit_code,
                "signal": signal,
                "duration_ms": rec.duration_ms,
                "tokens": tokens,
                "error": rec.error,
                "error_class": rec.error_class,
            }),
        );
        if let Some(q) = &question {
            self.ledger_append("needs_input", Some(run_id), json!({"question": q}));
            events(&Event::NeedsInput {
                run_id,
                question: q.clone(),
            });
        }
        tracing::info!(
            run_id,
            outcome = outcome.as_str(),
            exit = out.exit.as_code(),
            "run finished"
        );
        events(&Event::RunFinished {
            record: Box::new(rec.clone()),
        });
        Ok(RunReport { rec, class })
    }

    /// Renders the prompt of run `run_id` of `kind` from `docs`, with the
    /// previous output and a pending reply, as the run will get it.
    pub(crate) fn next_prompt(
        &self,
        run_id: u64,
        kind: RunKind,
        docs: &Docs,
    ) -> Result<NextPrompt, EngineError> {
        let cfg = &self.config;
        let state = self.store.load()?.state;
        let (prev, prev_output_dropped) = match kind {
            RunKind::Loop if state.drop_prev_output => (None, true),
            RunKind::Loop => (self.previous_output(run_id)?, false),
            RunKind::Summary => (None, false),
        };
        // A person's answer goes to the next run, whatever its kind.
        let reply = state.user_reply.clone();
        let prompt_kind = match kind {
            RunKind::Loop => PromptKind::Loop,
            RunKind::Summary => PromptKind::Summary,
        };
        let input = PromptInput {
            docs,
            run_id,
            prev,
            user_reply: reply.as_ref().map(|r| match &r.question {
                Some(q) => format!("Your question: {q}\nAnswer: {}", r.text),
                None => r.text.clone(),
            }),
            structured_verdict: cfg.codex.structured_verdict && codex::runs_exec(&cfg.codex.args),
        };
        let prompt = prompt::render(cfg, prompt_kind, &input)?;
        Ok(NextPrompt {
            prompt,
            prev_output_dropped,
            reply,
        })
    }

    /// Renders the prompt the next run would get (for `Repo::render_prompt`).
    pub(crate) fn preview_prompt(&self) -> Result<String, EngineError> {
        let docs = Docs::load(&self.config.docs)?;
        let todo = docs::parse_todo(&docs.todo);
        let kind = if todo.is_complete() {
            RunKind::Summary
        } else {
            RunKind::Loop
        };
        Ok(self.next_prompt(self.next_run_id()?, kind, &docs)?.prompt)
    }

    /// Returns the final output of the run before `run_id`, clipped.
    fn previous_output(&self, run_id: u64) -> Result<Option<(u64, String)>, EngineError> {
        // The last run that went well: a failed or retried run's output is
        // an error or raw events, not a handoff. (A Python-era run has no
        // record and counts.)
        let Some(prev_id) = record::run_ids(&self.paths).into_iter().rfind(|&i| {
            i < run_id
                && record::load_record(&self.paths, i).is_none_or(|r| r.outcome == RunOutcome::Ok)
        }) else {
            return Ok(None);
        };
        let Some(text) = record::final_output(&self.paths, prev_id)? else {
            return Ok(None);
        };
        let clipped = prompt::clip_tail(text.trim(), self.config.prompt.prev_run_max_chars);
        Ok((!clipped.is_empty()).then(|| (prev_id, clipped.to_string())))
    }

    /// Returns whether SUMMARY's marker is for the TODO as it is in `docs`.
    /// A marker from before markers named their TODO (the Python program's)
    /// is final, as it was there, and is tied to this TODO from now on.
    fn summary_is_final(&self, docs: &Docs) -> Result<bool, EngineError> {
        let fingerprint = summary_marker::todo_fingerprint(&docs.todo);
        Ok(
            match summary_marker::state(docs.summary.as_bytes(), &fingerprint) {
                MarkerState::Current => true,
                MarkerState::Legacy => {
                    self.finalize_summary(None)?;
                    true
                }
                MarkerState::Stale | MarkerState::Missing => false,
            },
        )
    }

    /// Marks SUMMARY final for the TODO as it is now (atomically, through
    /// a symlink): only car's marker line changes, every other byte of the
    /// file stays as it was.
    fn finalize_summary(&self, run_id: Option<u64>) -> Result<(), EngineError> {
        let cfg = &self.config.docs;
        let todo = crate::fs_util::read_optional(&cfg.todo)?.unwrap_or_default();
        let fingerprint = summary_marker::todo_fingerprint(&String::from_utf8_lossy(&todo));
        let current = crate::fs_util::read_optional(&cfg.summary)?.unwrap_or_default();
        if summary_marker::state(&current, &fingerprint) == MarkerState::Current {
            return Ok(());
        }
        let text = summary_marker::finalize(&current, run_id, &fingerprint);
        crate::fs_util::write_atomic(&cfg.summary, &text)?;
        Ok(())
    }
}

/// Returns the name of an error class, as written in `run.json`.
fn class_name(c: &ErrorClass) -> &'static str {
    match c {
        ErrorClass::UsageLimit(_) => "usage_limit",
        ErrorClass::Billing => "billing",
        ErrorClass::Transient => "transient",
        ErrorClass::ContextWindow => "context_window",
        ErrorClass::Other => "other",
    }
}

/// Why a run was stopped by the watchdog: no output (plain mode), no
/// progress (Codex events), and the retry notice Codex was stuck in.
fn hung_message(cfg: &Config, codex_run: Option<&codex::CodexRun>) -> String {
    let secs = cfg.codex.idle_timeout.map_or(0, |d| d.as_secs());
    match codex_run {
        // Without Codex events: a plain agent's watchdog counts any output,
        // a Codex run's only its stdout (stderr is retry chatter and logs).
        None if codex::runs_exec(&cfg.codex.args) => format!(
            "no progress (no event and no output on stdout) for {secs}s (codex.idle_timeout_seconds); the agent was stopped"
        ),
        None => {
            format!("no output for {secs}s (codex.idle_timeout_seconds); the agent was stopped")
        }
        Some(c) => match c.retrying() {
            Some(notice) => format!(
                "the agent could not reach its model ({notice}); no progress for {secs}s (codex.idle_timeout_seconds), the agent was stopped"
            ),
            None => format!(
                "no progress for {secs}s (codex.idle_timeout_seconds); the agent was stopped"
            ),
        },
    }
}

/// Exponential backoff with up to 25 % jitter: `base * 2^(attempt-1)`.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = f64::from(seed % 1000) / 1000.0 * 0.25;
    Duration::try_from_secs_f64(exp.as_secs_f64() * (1.0 + jitter)).unwrap_or(exp)
}

struct LoopCtx {
    started: Instant,
    deadline: Option<Instant>,
    runs: u64,
    failures: u32,
    no_progress: u32,
    transient: u32,
    last_run_id: Option<u64>,
    last_outcome: Option<RunOutcome>,
    /// A run that ended in an error before it was recorded.
    unrecorded_run: Option<(u64, RunKind)>,
}

fn wallclock_detail(cfg: &Config) -> String {
    format!(
        "runner.max_wallclock_seconds ({}s) passed",
        cfg.runner.max_wallclock.map_or(0, |d| d.as_secs())
    )
}

fn kind_name(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Loop => "loop",
        RunKind::Summary => "summary",
    }
}

fn shell_words(cmd: &AgentCommand) -> String {
    std::iter::once(cmd.program.display().to_string())
        .chain(cmd.args.iter().cloned())
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
            {
                w
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Formats an error and its sources on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
