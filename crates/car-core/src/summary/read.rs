//! Building a [`RepoSummary`] from a repository's files: `state.json`, the
//! run lock, the TODO, and (when asked) one or two git queries.

use chrono::{DateTime, Utc};

use crate::docs::parse_todo;
use crate::lock;
use crate::repo::Repo;
use crate::state::{State, StateStore, Status, StopReason};

use super::git::git_summary;
use super::model::{LoopState, QUESTION_MAX_CHARS, RepoSummary, RunSummary, one_line_truncated};

/// What [`summarize`] looks at.
#[derive(Debug, Clone, Default)]
pub struct SummaryOptions {
    /// Also run git (branch, ahead/behind, dirty): a few milliseconds per
    /// repository, where the rest reads three small files.
    pub git: bool,
    /// The branch to compare with when the checked-out branch has no
    /// upstream (a worktree's base branch).
    pub base: Option<String>,
}

impl SummaryOptions {
    /// Files only, no git.
    pub fn files_only() -> Self {
        Self::default()
    }

    /// Files and git, comparing with the upstream (or `base`, if given and
    /// there is no upstream).
    pub fn with_git(base: Option<String>) -> Self {
        Self { git: true, base }
    }
}

/// Summarises the loop of `repo` under the name `id`. It only reads: a
/// runner that died without recording its stop shows as stopped
/// (`crashed`) without the state being repaired. A corrupt or missing
/// `state.json` reads as a repository that never ran.
pub fn summarize(id: &str, repo: &Repo, opts: &SummaryOptions) -> RepoSummary {
    summarize_at(id, repo, opts, Utc::now())
}

pub(super) fn summarize_at(
    id: &str,
    repo: &Repo,
    opts: &SummaryOptions,
    now: DateTime<Utc>,
) -> RepoSummary {
    let paths = &repo.resolved_config().paths;
    let state = StateStore::new(paths)
        .load()
        .map(|l| l.state)
        .unwrap_or_default();
    let running = lock::is_held(paths);
    let (loop_state, stop_reason) = loop_state(&state, running);
    let (todo_done, todo_total) = todo_counts(repo, &state);
    let run = state.last_run_id.map(|id| {
        let started_at = state.last_run_started_at.clone();
        RunSummary {
            id,
            age_seconds: started_at.as_deref().and_then(|s| age_seconds(s, now)),
            started_at,
            in_progress: running && state.last_run_finished_at.is_none(),
        }
    });
    let question = state
        .pending_question
        .as_ref()
        .filter(|_| loop_state == LoopState::WaitingForInput)
        .map(|q| one_line_truncated(&q.question, QUESTION_MAX_CHARS));
    let git = if opts.git {
        git_summary(repo.root(), opts.base.as_deref())
    } else {
        None
    };
    RepoSummary {
        id: id.to_string(),
        root: repo.root().to_path_buf(),
        state: loop_state,
        status: state.status,
        stop_reason,
        todo_done,
        todo_total,
        run,
        question,
        git,
    }
}

/// The loop's state from `state.json` and whether a runner holds the lock.
fn loop_state(state: &State, running: bool) -> (LoopState, Option<StopReason>) {
    if running {
        return (LoopState::Running, None);
    }
    if state.status == Status::NeedsInput && state.pending_question.is_some() {
        return (LoopState::WaitingForInput, Some(StopReason::NeedsInput));
    }
    match (state.status, state.stop_reason) {
        // The state says running but nobody holds the lock: it died.
        (Status::Running | Status::WaitingForQuota, _) => {
            (LoopState::Stopped, Some(StopReason::Crashed))
        }
        (_, Some(reason)) => (LoopState::Stopped, Some(reason)),
        (_, None) => (LoopState::Idle, None),
    }
}

/// The TODO's counts now, else those the last run recorded.
fn todo_counts(repo: &Repo, state: &State) -> (Option<usize>, Option<usize>) {
    let path = &repo.config().docs.todo;
    match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(text)) => {
            let t = parse_todo(&text);
            (Some(t.done), Some(t.total))
        }
        _ => (state.todo_done, state.todo_total),
    }
}

/// Whole seconds from `started_at` (RFC 3339) to `now`; a time in the
/// future counts as 0.
fn age_seconds(started_at: &str, now: DateTime<Utc>) -> Option<u64> {
    let t = DateTime::parse_from_rfc3339(started_at).ok()?;
    Some(u64::try_from((now - t.with_timezone(&Utc)).num_seconds()).unwrap_or(0))
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
