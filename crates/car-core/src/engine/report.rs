//! What a run did, as its record says: its outcome and error, the agent's
//! final output, verdict and question, the docs and work tree after it,
//! and the commit `git.auto_commit` made.

use chrono::{DateTime, Utc};

use super::driver::Engine;
use super::error::EngineError;
use super::prompt::NextPrompt;
use crate::agent::{AgentCommand, ExitKind, OutputLog};
use crate::codex::{self, ErrorClass, Invoked};
use crate::docs::{self, Docs, TodoStatus};
use crate::fs_util::Durability;
use crate::record::{self, RunKind, RunOutcome, RunRecord, TodoCount};
use crate::time;

/// A run as it started.
pub(super) struct RunStart<'a> {
    /// Its id.
    pub(super) run_id: u64,
    /// Loop or summary.
    pub(super) kind: RunKind,
    /// The docs before it.
    pub(super) docs: &'a Docs,
    /// The TODO before it.
    pub(super) todo: &'a TodoStatus,
    /// The agent's command.
    pub(super) command: &'a AgentCommand,
    /// Its prompt.
    pub(super) next: &'a NextPrompt,
    /// When it started.
    pub(super) started_at: DateTime<Utc>,
    /// The work tree's fingerprint before it.
    pub(super) fingerprint_before: u64,
}

/// What one run produced, beyond what its record says.
pub(crate) struct RunReport {
    /// The record written to `run.json`.
    pub(crate) rec: RunRecord,
    /// What kind of failure its error is.
    pub(crate) class: ErrorClass,
    /// How the agent ended.
    pub(crate) exit: ExitKind,
    /// When it ended.
    pub(crate) finished_at: DateTime<Utc>,
}

impl Engine {
    /// Builds the record of the run `start` that came to `run`, writing
    /// its final output (and, with `git.auto_commit`, committing).
    pub(super) async fn assess(
        &self,
        start: &RunStart<'_>,
        run: Invoked,
        log: &mut OutputLog,
    ) -> Result<RunReport, EngineError> {
        let cfg = &self.config;
        let finished_at = time::now();
        let (run_id, kind, docs) = (start.run_id, start.kind, start.docs);
        let dir = self.paths.run_dir(run_id);
        let Invoked {
            out,
            codex: codex_run,
            outcome,
            final_output,
        } = run;
        let codex_mode = codex::runs_exec(&cfg.codex.args);
        // The final output fed to the next prompt.
        let final_text = final_output.text.trim_end().to_string();
        record::write_file_with(
            &dir,
            record::FINAL_OUTPUT_FILE,
            final_text.as_bytes(),
            Durability::Consistent,
        )?;
        let idle_secs = cfg.codex.idle_timeout.map_or(0, |d| d.as_secs());
        let error = codex::run_error(
            outcome,
            out.cause,
            codex_run.as_ref(),
            codex_mode,
            idle_secs,
        );
        let class = codex::error_class(
            outcome,
            error.as_deref(),
            codex_run.as_ref(),
            chrono::Local::now(),
        );
        let verdict = (cfg.codex.structured_verdict && codex_mode)
            .then(|| codex::parse_verdict(&final_text))
            .flatten();
        let question = codex::question(verdict.as_ref(), &final_text);
        let tokens = codex_run.as_ref().and_then(|c| c.usage);

        // The run happened: whatever the docs now hold, record it.
        let (after, doc_problems) = self.load_docs_lossy().await?;
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
        let worktree_changed = self.worktree_fingerprint().await? != start.fingerprint_before;
        let (git_commit, git_error) = if outcome == RunOutcome::Ok {
            self.auto_commit(run_id).await
        } else {
            (None, None)
        };
        let (exit_code, signal) = match out.exit {
            ExitKind::Code(c) => (Some(c), None),
            ExitKind::Signal(s) => (None, Some(s)),
        };
        let command = start.command;
        let rec = RunRecord {
            id: run_id,
            kind,
            started_at: time::iso_millis(start.started_at),
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
                done: start.todo.done,
                total: start.todo.total,
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
            error_class: (outcome != RunOutcome::Ok).then(|| codex::class_name(&class).to_string()),
            error,
            question,
            verdict,
            user_reply_included: start.next.reply.is_some(),
            prev_output_dropped: start.next.prev_output_dropped,
            final_output_source: Some(final_output.source.as_str().to_string()),
        };
        Ok(RunReport {
            rec,
            class,
            exit: out.exit,
            finished_at,
        })
    }
}
