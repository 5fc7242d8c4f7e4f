//! The recipe of one run: each step a call into the module that knows it
//! (the prompt, the agent invocation, the record of what the run did).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::task::JoinHandle;

use super::blocking::unblock;
use super::driver::{Engine, LoopOptions};
use super::error::EngineError;
use super::event::EventSink;
use super::prompt::NextPrompt;
use super::report::{RunReport, RunStart};
use crate::agent::{AgentCommand, OutputLog, Started};
use crate::codex::Invocation;
use crate::docs::{Docs, TodoStatus};
use crate::event::LoopEvent;
use crate::fs_util::{Durability, PathError};
use crate::record::{self, RunKind};
use crate::state::{State, StateError, Status};
use crate::stop::StopHandle;
use crate::time;

impl Engine {
    /// Makes run `run_id` of `kind` on `docs` and records it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; grouping would only rename the list"
    )]
    pub(super) async fn run_one(
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
        let dir = self.paths.run_dir(run_id);
        let marker = run_id.to_string();
        let invocation = self.invocation(&dir, &marker, opts);
        let command = invocation.command()?;
        let (engine, docs_now, run_dir) = (self.clone(), docs.clone(), dir.clone());
        let mut next = unblock(move || -> Result<NextPrompt, EngineError> {
            let next = engine.next_prompt(run_id, kind, &docs_now)?;
            write_prompt(&run_dir, &next.prompt)?;
            Ok(next)
        })
        .await??;
        invocation.prepare_dir()?;
        let fingerprint_before = self.worktree_fingerprint().await?;
        let started_at = self.mark_started(run_id, kind, todo, events).await?;
        tracing::info!(run_id, ?kind, program = %command.program.display(), "run started");
        let mut log = open_log(&dir, run_id, kind, &command, &next)?;
        let prompt = std::mem::take(&mut next.prompt).into_bytes();
        let deadline = self.run_deadline(deadline);
        let (on_start, recorded) = self.on_agent_start();
        let run = invocation
            .run(&command, prompt, &mut log, stop, deadline, on_start)
            .await;
        recorded.wait().await;
        let run = run?;
        tracing::debug!(run_id, pgid = run.out.pgid, "agent process group ended");
        let start = RunStart {
            run_id,
            kind,
            docs,
            todo,
            command: &command,
            next: &next,
            started_at,
            fingerprint_before,
        };
        let report = self.assess(&start, run, &mut log).await?;
        self.conclude(&dir, &report, &next, &mut log, events)
            .await?;
        Ok(report)
    }

    /// The agent invocation of a run whose files are in `dir`.
    fn invocation<'a>(
        &'a self,
        dir: &'a Path,
        marker: &'a str,
        opts: &'a LoopOptions,
    ) -> Invocation<'a> {
        let cfg = &*self.config;
        Invocation {
            cfg,
            dir,
            marker,
            model: cfg.codex.model.as_deref(),
            path_env: opts.path_env.as_ref(),
            supervisor: opts.supervisor.as_deref(),
            verdict_schema: cfg.codex.structured_verdict,
        }
    }

    /// When the run must end: the loop's deadline or
    /// `codex.run_timeout_seconds` from now, the earlier.
    fn run_deadline(&self, loop_deadline: Option<Instant>) -> Option<Instant> {
        let run_deadline = self.config.codex.run_timeout.map(time::deadline_in);
        [loop_deadline, run_deadline].into_iter().flatten().min()
    }

    /// Records that run `run_id` starts (state, ledger, event); returns when.
    async fn mark_started(
        &self,
        run_id: u64,
        kind: RunKind,
        todo: &TodoStatus,
        events: &EventSink,
    ) -> Result<chrono::DateTime<chrono::Utc>, EngineError> {
        let started_at = time::now();
        let pid = std::process::id();
        self.update_transient(move |s| {
            s.status = Status::Running;
            s.runner_pid = Some(pid);
            s.last_run_id = Some(run_id);
            s.last_run_started_at = Some(time::iso_seconds(started_at));
            s.last_run_finished_at = None;
            s.last_exit_code = None;
            s.agent_pgid = None;
            s.agent_supervisor_pid = None;
            s.agent_supervisor_start = None;
        })
        .await?;
        let started = LoopEvent::RunStarted {
            kind,
            todo: Some(todo.clone()),
        };
        self.emit(events, Some(run_id), started).await;
        Ok(started_at)
    }

    /// Records the agent's process (or its supervisor) in the state as it
    /// starts, so a next runner or `car kill` can find it; the write runs
    /// on a blocking thread, awaited through the returned [`Recorded`].
    fn on_agent_start(&self) -> (impl FnOnce(Started) + use<>, Recorded) {
        let store = self.store.clone();
        let slot = Recorded::default();
        let handle = slot.clone();
        let on_start = move |started: Started| {
            let write = tokio::task::spawn_blocking(move || {
                let start = crate::process::start_time(started.pid);
                store.update_transient(|s| {
                    if started.supervised {
                        s.agent_supervisor_pid = Some(started.pid);
                        s.agent_supervisor_start = start;
                    } else {
                        s.agent_pgid = Some(started.pid);
                        s.agent_pgid_start = start;
                    }
                })
            });
            handle.set(write);
        };
        (on_start, slot)
    }
}

/// The state write of an agent's start, awaited before the run's end is
/// recorded (so the end clears what the start wrote).
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Option<StartWrite>>>);

/// The blocking write of an agent's start.
type StartWrite = JoinHandle<Result<(State, ()), StateError>>;

impl Recorded {
    fn set(&self, write: StartWrite) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(write);
        }
    }

    async fn wait(self) {
        let write = self.0.lock().ok().and_then(|mut slot| slot.take());
        if let Some(write) = write {
            match write.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot record the agent's process"),
                Err(e) => tracing::warn!(error = %e, "recording the agent's process failed"),
            }
        }
    }
}

/// Creates the run's directory with its prompt.
fn write_prompt(dir: &Path, prompt: &str) -> Result<(), PathError> {
    std::fs::create_dir_all(dir).map_err(|source| PathError {
        action: "cannot create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    record::write_file_with(
        dir,
        record::PROMPT_FILE,
        prompt.as_bytes(),
        Durability::Consistent,
    )
}

/// Opens the run's output log with its first lines: the command, and what
/// the prompt carries or leaves out.
fn open_log(
    dir: &Path,
    run_id: u64,
    kind: RunKind,
    command: &AgentCommand,
    next: &NextPrompt,
) -> Result<OutputLog, PathError> {
    let mut log = OutputLog::open(&dir.join(record::OUTPUT_FILE))?;
    log.note(&format!(
        "run {run_id} ({}) start: {}",
        kind_name(kind),
        shell_words(command)
    ))?;
    if next.prev_output_dropped {
        log.note("the previous output is left out of this prompt: the last run overflowed the model's context window")?;
    }
    if next.reply.is_some() {
        log.note("this prompt carries the person's reply (USER_REPLY)")?;
    }
    Ok(log)
}

/// The name of a run kind in the log.
pub(super) fn kind_name(kind: RunKind) -> &'static str {
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
