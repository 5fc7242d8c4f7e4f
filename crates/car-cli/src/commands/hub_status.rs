//! Status lines: one line per repository for `car hub status`, narrow
//! enough for a phone over SSH ([`Width::Narrow`], at most
//! [`NARROW_COLUMNS`]) or with the git position too ([`Width::Wide`]).
//!
//! Narrow: `ID STATE TODO RUN [? QUESTION]`, e.g.
//! `api--job-a  running  3/7  #4 3m` or
//! `web         asking   1/2  #2     ? Which database?`.
//! Wide adds the branch, ahead/behind (`+2/-1`) and `dirty`/`clean` before
//! the question, which it shows whole.

use car_core::{LoopState, RepoSummary, StopReason};

/// How wide the status lines may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    /// At most [`NARROW_COLUMNS`] columns.
    Narrow,
    /// The git position too; no bound.
    Wide,
}

/// The most columns of a narrow status line.
pub(crate) const NARROW_COLUMNS: usize = 60;
/// The most columns the id takes in a narrow line (longer ones end with `…`).
const NARROW_ID: usize = 18;
/// The most columns the branch takes in a wide line.
const WIDE_BRANCH: usize = 32;

/// One line per summary, columns aligned across the lines.
pub(crate) fn render_status_lines(summaries: &[RepoSummary], width: Width) -> Vec<String> {
    let rows: Vec<Row> = summaries.iter().map(|s| Row::of(s, width)).collect();
    let col = |f: fn(&Row) -> &str| rows.iter().map(|r| columns(f(r))).max().unwrap_or(0);
    let w_id = col(|r| &r.id);
    let w_state = col(|r| r.state);
    let w_todo = col(|r| &r.todo);
    let w_run = col(|r| &r.run);
    let w_git = col(|r| &r.git);
    rows.iter()
        .map(|r| {
            let mut line = format!(
                "{}  {}  {}  {}",
                pad(&r.id, w_id),
                pad(r.state, w_state),
                pad_left(&r.todo, w_todo),
                pad(&r.run, w_run),
            );
            if width == Width::Wide {
                line.push_str("  ");
                line.push_str(&pad(&r.git, w_git));
            }
            if let Some(q) = &r.question {
                line.push_str("  ? ");
                let room = NARROW_COLUMNS.saturating_sub(columns(&line));
                match width {
                    Width::Narrow if room > 0 => line.push_str(&truncate(q, room)),
                    Width::Narrow => {}
                    Width::Wide => line.push_str(q),
                }
            }
            let line = line.trim_end().to_string();
            match width {
                // A row that still does not fit (very long state columns)
                // is cut: the bound holds whatever the content.
                Width::Narrow => truncate(&line, NARROW_COLUMNS),
                Width::Wide => line,
            }
        })
        .collect()
}

/// A summary's cells.
struct Row {
    id: String,
    state: &'static str,
    todo: String,
    run: String,
    git: String,
    question: Option<String>,
}

impl Row {
    fn of(s: &RepoSummary, width: Width) -> Self {
        let id = match width {
            Width::Narrow => truncate(&s.id, NARROW_ID),
            Width::Wide => s.id.clone(),
        };
        let todo = match (s.todo_done, s.todo_total) {
            (Some(d), Some(t)) => format!("{d}/{t}"),
            _ => "-".into(),
        };
        let run = match &s.run {
            Some(r) if r.in_progress => match r.age_seconds {
                Some(age) => format!("#{} {}", r.id, age_word(age)),
                None => format!("#{}", r.id),
            },
            Some(r) => format!("#{}", r.id),
            None => "-".into(),
        };
        let git = s.git.as_ref().map_or_else(
            || "-".to_string(),
            |g| {
                let branch = truncate(g.branch.as_deref().unwrap_or("(detached)"), WIDE_BRANCH);
                let ab = match (g.ahead, g.behind) {
                    (Some(a), Some(b)) => format!(" +{a}/-{b}"),
                    _ => String::new(),
                };
                let dirty = if g.dirty { "dirty" } else { "clean" };
                format!("{branch}{ab} {dirty}")
            },
        );
        Self {
            id,
            state: state_word(s.state, s.stop_reason),
            todo,
            run,
            git,
            question: s.question.clone(),
        }
    }
}

/// The state as one short word (at most 8 letters).
fn state_word(state: LoopState, reason: Option<StopReason>) -> &'static str {
    match state {
        LoopState::Idle => "idle",
        LoopState::Running => "running",
        LoopState::WaitingForInput => "asking",
        LoopState::Queued => "queued",
        LoopState::Restarting => "retrying",
        LoopState::Stopped => match reason {
            Some(StopReason::Completed) => "done",
            Some(StopReason::RunLimit | StopReason::Wallclock | StopReason::Budget) => "limit",
            Some(StopReason::StopRequested | StopReason::Interrupted | StopReason::Killed) => {
                "stopped"
            }
            Some(StopReason::NeedsInput) => "answered",
            Some(StopReason::Blocked) => "blocked",
            Some(StopReason::Stalled) => "stalled",
            Some(StopReason::Crashed) => "crashed",
            Some(StopReason::QuotaExhausted) => "quota",
            Some(StopReason::DiskFull) => "diskfull",
            Some(StopReason::TodoInvalid) => "no-todo",
            Some(StopReason::Failed | StopReason::Error) => "failed",
            None => "stopped",
        },
    }
}

/// An age in one unit: `45s`, `3m`, `2h`, `4d`.
pub(crate) fn age_word(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn columns(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `max` columns, ending with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if columns(s) <= max {
        return s.to_string();
    }
    let kept: String = s.chars().take(max.saturating_sub(1)).collect();
    let mut out = kept.trim_end().to_string();
    out.push('…');
    out
}

fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(columns(s))))
}

fn pad_left(s: &str, width: usize) -> String {
    format!("{}{s}", " ".repeat(width.saturating_sub(columns(s))))
}

#[cfg(test)]
#[path = "hub_status_tests.rs"]
mod tests;
