//! The values of a [`RepoSummary`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::state::StopReason;

/// The longest question a summary carries, in characters; a longer one is
/// cut at a word boundary and ends with `…`.
pub const QUESTION_MAX_CHARS: usize = 200;

/// What a repository's loop is doing, in four words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopState {
    /// No loop has run, or the last one ended without a stop reason.
    Idle,
    /// A runner holds the run lock.
    Running,
    /// The loop stopped on the agent's question, which is not answered yet.
    WaitingForInput,
    /// The loop stopped ([`RepoSummary::stop_reason`] says why).
    Stopped,
    /// Not running: the hub queued it and starts it when a slot is free
    /// (`hub.max_parallel_loops`); see [`crate::hub::Queue::mark`].
    Queued,
    /// Not running: it crashed and the hub starts it again after a backoff.
    Restarting,
}

impl LoopState {
    /// The state's name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::WaitingForInput => "waiting_for_input",
            Self::Stopped => "stopped",
            Self::Queued => "queued",
            Self::Restarting => "restarting",
        }
    }
}

/// The last run started in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Its id.
    pub id: u64,
    /// When it started (UTC), as `state.json` has it.
    pub started_at: Option<String>,
    /// Seconds since it started, when `started_at` could be read.
    pub age_seconds: Option<u64>,
    /// Whether it is still in progress.
    pub in_progress: bool,
}

/// A repository's git position, from one `git status` (and, with a base
/// and no upstream, one `git rev-list`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitSummary {
    /// The checked-out branch; `None` on a detached HEAD.
    pub branch: Option<String>,
    /// What `ahead`/`behind` compare with: the upstream (`origin/main`) or
    /// the base branch given in [`SummaryOptions`](crate::SummaryOptions).
    pub compared_with: Option<String>,
    /// Commits on HEAD that `compared_with` lacks.
    pub ahead: Option<u64>,
    /// Commits on `compared_with` that HEAD lacks.
    pub behind: Option<u64>,
    /// Whether the work tree has changes (tracked or untracked, ignored
    /// files aside).
    pub dirty: bool,
}

/// One repository's loop at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSummary {
    /// The id the caller gave (the hub's repo id).
    pub id: String,
    /// The repository root.
    pub root: PathBuf,
    /// What the loop is doing.
    pub state: LoopState,
    /// The status `state.json` records (`idle`, `running`, `needs_input`,
    /// ...), as the runner last wrote it.
    pub status: crate::state::Status,
    /// Why the loop last stopped (with [`LoopState::Stopped`] and
    /// [`LoopState::WaitingForInput`]).
    pub stop_reason: Option<StopReason>,
    /// Checked TODO items (`None` when the TODO cannot be read and no run
    /// recorded counts).
    pub todo_done: Option<usize>,
    /// All TODO items.
    pub todo_total: Option<usize>,
    /// The last run started.
    pub run: Option<RunSummary>,
    /// The agent's open question, at most [`QUESTION_MAX_CHARS`] characters.
    pub question: Option<String>,
    /// The git position, when asked for and the root is a git work tree.
    pub git: Option<GitSummary>,
}

/// `text` on one line (runs of whitespace made one space), cut to `max`
/// characters at a word boundary when one is near, ending with `…` when cut.
pub(crate) fn one_line_truncated(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let keep: String = flat.chars().take(max.saturating_sub(1)).collect();
    // Cut at the last space when it leaves at least half of the text.
    let cut = match keep.rfind(' ') {
        Some(i) if keep[..i].chars().count() * 2 >= max => &keep[..i],
        _ => keep.as_str(),
    };
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::one_line_truncated;

    #[test]
    fn a_short_question_is_kept_on_one_line() {
        assert_eq!(
            one_line_truncated("Which\n  database?", 20),
            "Which database?"
        );
    }

    #[test]
    fn a_long_question_is_cut_at_a_word_and_marked() {
        let q = "Should the service use PostgreSQL or SQLite for the queue";
        let got = one_line_truncated(q, 30);
        assert_eq!(got, "Should the service use…");
        assert!(got.chars().count() <= 30);
        // No space near the end: cut mid-word.
        let got = one_line_truncated(&"x".repeat(50), 10);
        assert_eq!(got, format!("{}…", "x".repeat(9)));
    }
}
