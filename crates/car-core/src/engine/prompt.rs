//! The prompt of a run: the docs, the previous run's final output (unless
//! it overflowed the context window), and a person's pending reply.

use super::driver::Engine;
use super::error::EngineError;
use crate::codex;
use crate::docs::{self, Docs};
use crate::prompt::{self, PromptInput, PromptKind};
use crate::record::{self, RunKind, RunOutcome};

/// A rendered prompt and what went into it.
pub(crate) struct NextPrompt {
    pub(super) prompt: String,
    pub(super) prev_output_dropped: bool,
    pub(super) reply: Option<crate::state::UserReply>,
}

impl Engine {
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

    /// Returns the id for the next run: one past the highest of the state's
    /// last id and every run recorded on disk (so nothing is overwritten).
    pub(super) fn next_run_id(&self) -> Result<u64, EngineError> {
        let state = self.store.load()?.state;
        let on_disk = record::run_ids(&self.paths).last().copied().unwrap_or(0);
        Ok(state.last_run_id.unwrap_or(0).max(on_disk) + 1)
    }
}
