//! The loop: take the lock, then run the agent over the work docs until a
//! stop condition holds, recording every run and keeping the state current.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::{self, AgentCommand, AgentError, EndCause, ExitKind, Limits};
use crate::config::Config;
use crate::docs::{self, DocError, Docs, TodoStatus};
use crate::fs_util::PathError;
use crate::lock::{LockError, RunLock};
use crate::paths::RepoPaths;
use crate::prompt::{self, PromptError, PromptInput, PromptKind};
use crate::record::{self, RunKind, RunOutcome, RunRecord, TodoCount};
use crate::state::{StateError, StateStore, Status, StopReason};
use crate::stop::{StopCause, StopHandle, StopLevel};
use crate::time;

/// How often the stop file is checked while sleeping between runs.
const STOP_POLL: Duration = Duration::from_millis(100);

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
    /// The loop stopped.
    Stopped {
        /// Why.
        reason: StopReason,
        /// Details.
        detail: Option<String>,
    },
}

/// Receives loop events; called on the loop's task, so keep it quick.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// Options of one loop invocation.
#[derive(Debug, Clone, Default)]
pub struct LoopOptions {
    /// Runs allowed in this invocation (overrides `runner.stop_after_runs`).
    pub max_runs: Option<u64>,
    /// The command name recorded in the lock (`run`, `once`, `resume`).
    pub command: String,
    /// PATH for the agent (the caller's environment).
    pub path_env: Option<OsString>,
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
}

/// Drives the loop of one repository.
#[derive(Clone)]
pub struct Engine {
    config: Arc<Config>,
    paths: RepoPaths,
    store: StateStore,
}

impl Engine {
    /// Creates an engine for a loaded configuration.
    pub fn new(config: Config, paths: RepoPaths) -> Self {
        let store = StateStore::new(&paths);
        Self {
            config: Arc::new(config),
            paths,
            store,
        }
    }

    /// Runs the loop until a stop condition holds. Errors that are the
    /// user's to fix (a missing agent binary, a broken template, an
    /// unreadable doc) are recorded in the state and returned.
    pub async fn run_loop(
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
        if let Some(pgid) = self.store.load()?.state.agent_pgid
            && crate::process::group_exists(pgid)
        {
            tracing::warn!(pgid, "killing the agent group a dead runner left behind");
            crate::process::signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
        }
        let (prev, ()) = self.store.update(|s| {
            s.status = Status::Running;
            s.runner_pid = Some(me.pid);
            s.runner_host = me.host.clone();
            s.agent_pgid = None;
            s.loop_started_at = Some(time::iso_seconds(time::now()));
            s.loop_runs = 0;
            s.consecutive_failures = 0;
            s.no_progress_runs = 0;
            s.stop_reason = None;
            s.stop_detail = None;
        })?;
        let _ = prev;
        let max_runs = opts.max_runs.or(self.config.runner.stop_after_runs);
        events(&Event::LoopStarted { max_runs });
        tracing::info!(?max_runs, command = %opts.command, "loop started");

        let mut ctx = LoopCtx {
            started: Instant::now(),
            deadline: self.config.runner.max_wallclock.map(|d| Instant::now() + d),
            runs: 0,
            failures: 0,
            no_progress: 0,
            last_run_id: None,
        };
        let result = self.iterate(&opts, max_runs, stop, &events, &mut ctx).await;
        let (reason, detail) = match &result {
            Ok((r, d)) => (*r, d.clone()),
            Err(e) => (StopReason::Error, Some(error_chain(e))),
        };
        self.store.update(|s| {
            s.status = reason.status();
            s.stop_reason = Some(reason);
            s.stop_detail = detail.clone();
            s.runner_pid = None;
            s.runner_host = None;
            s.agent_pgid = None;
            s.loop_runs = ctx.runs;
            s.consecutive_failures = ctx.failures;
            s.no_progress_runs = ctx.no_progress;
            if s.last_run_finished_at.is_none() {
                s.last_run_finished_at = Some(time::iso_seconds(time::now()));
            }
        })?;
        tracing::info!(reason = reason.as_str(), runs = ctx.runs, elapsed = ?ctx.started.elapsed(), "loop stopped");
        events(&Event::Stopped {
            reason,
            detail: detail.clone(),
        });
        drop(lock);
        result.map(|_| LoopSummary {
            reason,
            detail,
            runs: ctx.runs,
            last_run_id: ctx.last_run_id,
        })
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
        loop {
            if let Some(r) = self.stop_check(stop, ctx, max_runs) {
                return Ok(r);
            }
            let docs = Docs::load(&cfg.docs)?;
            let todo = docs::parse_todo(&docs.todo);
            if todo.total == 0 {
                let path = cfg.display_path(&cfg.docs.todo);
                let detail = if docs.todo_exists {
                    format!(
                        "{path} has no checkbox items (`- [ ] task`); add tasks, or run `car ingest-spec`"
                    )
                } else {
                    format!(
                        "{path} does not exist; run `car init` or create it with `- [ ] task` items"
                    )
                };
                return Ok((StopReason::TodoInvalid, Some(detail)));
            }
            let kind = if todo.is_complete() {
                if docs.summary_finalized() {
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
            ctx.last_run_id = Some(run_id);
            let rec = self
                .run_one(run_id, kind, &docs, &todo, opts, stop, events, ctx.deadline)
                .await?;
            ctx.runs += 1;
            if rec.outcome == RunOutcome::Ok {
                ctx.failures = 0;
            } else {
                ctx.failures += 1;
            }
            if kind == RunKind::Loop {
                ctx.no_progress = if rec.made_progress() {
                    0
                } else {
                    ctx.no_progress + 1
                };
            }
            self.store.update(|s| {
                s.loop_runs = ctx.runs;
                s.consecutive_failures = ctx.failures;
                s.no_progress_runs = ctx.no_progress;
            })?;
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
                RunOutcome::TimedOut => {
                    return Ok((StopReason::Wallclock, Some(wallclock_detail(cfg))));
                }
                _ => {}
            }
            if kind == RunKind::Summary && rec.outcome == RunOutcome::Ok {
                self.finalize_summary(run_id)?;
                return Ok((
                    StopReason::Completed,
                    Some(format!(
                        "every TODO item is checked; run {run_id} wrote the summary"
                    )),
                ));
            }
            if ctx.failures >= cfg.runner.max_consecutive_failures {
                return Ok((
                    StopReason::Failed,
                    Some(format!(
                        "{} failed runs in a row (runner.max_consecutive_failures); last: run {run_id} {}",
                        ctx.failures,
                        describe_exit(&rec)
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
            if let Some(r) = self.stop_check(stop, ctx, max_runs) {
                return Ok(r);
            }
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
    ) -> Option<(StopReason, Option<String>)> {
        let req = stop.current();
        if req.level != StopLevel::None {
            return Some(match req.cause {
                StopCause::Interrupted => {
                    (StopReason::Interrupted, Some("interrupted (Ctrl-C)".into()))
                }
                StopCause::Killed => (
                    StopReason::Killed,
                    Some("stopped by SIGTERM (car kill)".into()),
                ),
            });
        }
        if self.paths.stop_file().exists() {
            let _ = std::fs::remove_file(self.paths.stop_file());
            return Some((
                StopReason::StopRequested,
                Some("a stop was requested (stop file)".into()),
            ));
        }
        if ctx.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some((StopReason::Wallclock, Some(wallclock_detail(&self.config))));
        }
        if let Some(m) = max_runs
            && ctx.runs >= m
        {
            return Some((
                StopReason::RunLimit,
                Some(format!("run limit of {m} reached")),
            ));
        }
        None
    }

    async fn sleep(&self, d: Duration, stop: &StopHandle, deadline: Option<Instant>) {
        let mut until = Instant::now() + d;
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

    /// Returns the id for the next run: one past the highest of the state's
    /// last id and every run recorded on disk (so nothing is overwritten).
    fn next_run_id(&self) -> Result<u64, EngineError> {
        let state = self.store.load()?.state;
        let on_disk = record::run_ids(&self.paths).last().copied().unwrap_or(0);
        Ok(state.last_run_id.unwrap_or(0).max(on_disk) + 1)
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
    ) -> Result<RunRecord, EngineError> {
        let cfg = &self.config;
        let (program, path_env) =
            agent::resolve_binary(&cfg.codex.binary, &cfg.root, opts.path_env.as_ref())?;
        let prev = match kind {
            RunKind::Loop => self.previous_output(run_id)?,
            RunKind::Summary => None,
        };
        let prompt_kind = match kind {
            RunKind::Loop => PromptKind::Loop,
            RunKind::Summary => PromptKind::Summary,
        };
        let prompt = prompt::render(cfg, prompt_kind, &PromptInput { docs, run_id, prev })?;
        let dir = self.paths.run_dir(run_id);
        std::fs::create_dir_all(&dir).map_err(|source| PathError {
            action: "cannot create directory",
            path: dir.clone(),
            source,
        })?;
        record::write_file(&dir, record::PROMPT_FILE, prompt.as_bytes())?;
        let fingerprint_before = record::worktree_fingerprint(&cfg.root);
        let started_at = time::now();
        let pid = std::process::id();
        self.store.update(|s| {
            s.status = Status::Running;
            s.runner_pid = Some(pid);
            s.last_run_id = Some(run_id);
            s.last_run_started_at = Some(time::iso_seconds(started_at));
            s.last_run_finished_at = None;
            s.last_exit_code = None;
            s.agent_pgid = None;
        })?;
        events(&Event::RunStarted {
            run_id,
            kind,
            todo: todo.clone(),
        });
        tracing::info!(run_id, ?kind, program = %program.display(), "run started");

        let args = agent::apply_model(&cfg.codex.args, cfg.codex.model.as_deref());
        let command = AgentCommand {
            program,
            args,
            cwd: cfg.root.clone(),
            path_env: Some(path_env),
        };
        let mut log = agent::OutputLog::open(&dir.join(record::OUTPUT_FILE))?;
        log.note(&format!(
            "run {run_id} ({}) start: {}",
            kind_name(kind),
            shell_words(&command)
        ))?;
        let limits = Limits {
            deadline,
            idle_timeout: None,
            grace: cfg.runner.kill_grace,
        };
        let store = self.store.clone();
        let out = agent::run(
            &command,
            prompt.into_bytes(),
            &mut log,
            stop.subscribe(),
            limits,
            move |pgid| {
                if let Err(e) = store.update(|s| s.agent_pgid = Some(pgid)) {
                    tracing::warn!(error = %e, "cannot record the agent's process group");
                }
            },
        )
        .await?;
        let finished_at = time::now();

        let outcome = match out.cause {
            EndCause::Stopped => match stop.current().cause {
                StopCause::Interrupted => RunOutcome::Interrupted,
                StopCause::Killed => RunOutcome::Killed,
            },
            EndCause::TimedOut => RunOutcome::TimedOut,
            EndCause::Idle => RunOutcome::Failed,
            EndCause::Exited if out.exit == ExitKind::Code(0) => RunOutcome::Ok,
            EndCause::Exited => RunOutcome::Failed,
        };
        let after = Docs::load(&cfg.docs)?;
        let todo_after = docs::parse_todo(&after.todo);
        let docs_changed = record::doc_changes(docs, &after, &cfg.docs, &cfg.root);
        let worktree_changed = record::worktree_fingerprint(&cfg.root) != fingerprint_before;
        let final_output = out.stdout_tail.trim_end().to_string();
        record::write_file(&dir, record::FINAL_OUTPUT_FILE, final_output.as_bytes())?;

        let (mut git_commit, mut git_error) = (None, None);
        if cfg.git.auto_commit && outcome == RunOutcome::Ok && crate::git::is_repo(&cfg.root) {
            let msg = cfg
                .git
                .commit_message_template
                .replace("{run_id}", &run_id.to_string());
            match crate::git::commit_all(&cfg.root, &msg) {
                Ok(sha) => git_commit = sha,
                Err(e) => {
                    tracing::warn!(run_id, error = %e, "git auto-commit failed");
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
        };
        let mut json = serde_json::to_string_pretty(&rec).unwrap_or_default();
        json.push('\n');
        record::write_file(&dir, record::RECORD_FILE, json.as_bytes())?;
        log.note(&format!(
            "run {run_id} end: {} ({})",
            outcome.as_str(),
            describe_exit(&rec)
        ))?;
        log.flush()?;
        self.store.update(|s| {
            s.last_exit_code = Some(out.exit.as_code());
            s.last_run_finished_at = Some(time::iso_seconds(finished_at));
            s.agent_pgid = None;
            s.last_outcome = Some(outcome.as_str().to_string());
            s.last_run_duration_ms = Some(rec.duration_ms);
            s.todo_done = Some(todo_after.done);
            s.todo_total = Some(todo_after.total);
        })?;
        tracing::info!(
            run_id,
            outcome = outcome.as_str(),
            exit = out.exit.as_code(),
            "run finished"
        );
        events(&Event::RunFinished {
            record: Box::new(rec.clone()),
        });
        Ok(rec)
    }

    /// Returns the final output of the run before `run_id`, clipped.
    fn previous_output(&self, run_id: u64) -> Result<Option<(u64, String)>, EngineError> {
        let Some(prev_id) = record::run_ids(&self.paths)
            .into_iter()
            .rfind(|&i| i < run_id)
        else {
            return Ok(None);
        };
        let Some(text) = record::final_output(&self.paths, prev_id)? else {
            return Ok(None);
        };
        let clipped = prompt::clip_tail(text.trim(), self.config.prompt.prev_run_max_chars);
        Ok((!clipped.is_empty()).then(|| (prev_id, clipped.to_string())))
    }

    /// Appends the finalised marker to SUMMARY (atomically).
    fn finalize_summary(&self, run_id: u64) -> Result<(), EngineError> {
        let path = &self.config.docs.summary;
        let current = crate::fs_util::read_optional(path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if current.contains(docs::SUMMARY_FINALIZED_MARKER) {
            return Ok(());
        }
        let mut text = current.trim_end().to_string();
        text.push_str(&format!(
            "\n\n<!-- {} run_id={run_id} -->\n",
            docs::SUMMARY_FINALIZED_MARKER
        ));
        crate::fs_util::write_atomic(path, text.as_bytes())?;
        Ok(())
    }
}

struct LoopCtx {
    started: Instant,
    deadline: Option<Instant>,
    runs: u64,
    failures: u32,
    no_progress: u32,
    last_run_id: Option<u64>,
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
        RunKind::Summary => "final summary",
    }
}

/// Describes how the agent ended: `exit 3`, `signal 9`.
pub fn describe_exit(rec: &RunRecord) -> String {
    match (rec.exit_code, rec.signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "no exit status".into(),
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
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
