//! Recording a finished run: the end line of its log, `run.json`, the
//! state (last run, tokens, a question, the reply it consumed), the
//! ledger, and the events for the caller.

use std::path::Path;

use super::driver::Engine;
use super::error::EngineError;
use super::event::EventSink;
use super::prompt::NextPrompt;
use super::report::RunReport;
use crate::agent::OutputLog;
use crate::codex::ErrorClass;
use crate::event::{LoopEvent, RunFigures};
use crate::record::{self, RunOutcome};
use crate::state::PendingQuestion;
use crate::time;

impl Engine {
    /// Records the run of `report`, whose files are in `dir`.
    pub(super) async fn conclude(
        &self,
        dir: &Path,
        report: &RunReport,
        next: &NextPrompt,
        log: &mut OutputLog,
        events: &EventSink,
    ) -> Result<(), EngineError> {
        let rec = &report.rec;
        let (run_id, outcome) = (rec.id, rec.outcome);
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
        let mut json_text = serde_json::to_string_pretty(rec).unwrap_or_default();
        json_text.push('\n');
        // Durable: the directory sync also keeps the names of the run's
        // other files (prompt, output, final output).
        let dir = dir.to_path_buf();
        super::blocking::unblock(move || {
            record::write_file(&dir, record::RECORD_FILE, json_text.as_bytes())
        })
        .await??;
        let exit_code = report.exit.as_code();
        let finished_at = time::iso_seconds(report.finished_at);
        let (duration_ms, tokens, todo_after) = (rec.duration_ms, rec.tokens, rec.todo_after);
        let context_overflow = report.class == ErrorClass::ContextWindow;
        let (reply, question) = (next.reply.clone(), rec.question.clone());
        self.update_state(move |s| {
            s.last_exit_code = Some(exit_code);
            s.last_run_finished_at = Some(finished_at.clone());
            s.agent_pgid = None;
            s.agent_supervisor_pid = None;
            s.agent_supervisor_start = None;
            s.last_outcome = Some(outcome.as_str().to_string());
            s.last_run_duration_ms = Some(duration_ms);
            s.todo_done = Some(todo_after.done);
            s.todo_total = Some(todo_after.total);
            s.last_run_tokens = tokens;
            if let Some(t) = &tokens {
                s.tokens.add(t);
                s.loop_tokens.add(t);
            }
            s.drop_prev_output = context_overflow;
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
            if let Some(q) = question {
                s.pending_question = Some(PendingQuestion {
                    run_id,
                    question: q,
                    asked_at: finished_at,
                });
            }
        })
        .await?;
        // The question first: a person reads what is asked, then the run's end.
        if let Some(q) = &rec.question {
            let asked = LoopEvent::NeedsInput {
                question: q.clone(),
            };
            self.emit(events, Some(run_id), asked).await;
        }
        tracing::info!(
            run_id,
            outcome = outcome.as_str(),
            exit = exit_code,
            "run finished"
        );
        let finished = LoopEvent::RunFinished(RunFigures::of(rec));
        self.emit(events, Some(run_id), finished).await;
        Ok(())
    }
}
