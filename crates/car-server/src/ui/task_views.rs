//! What the Tasks page shows of a task's record: a row of the history
//! (status, exit code, age, the first line of its prompt) and its turns.

use car_core::{TaskRecord, TaskState};
use serde::Serialize;

/// How many tasks a page of the history holds.
pub(crate) const PAGE: usize = 30;

/// The most characters of a prompt's first line in the history.
const TITLE: usize = 100;

/// A task in the history (or the head of its own view).
#[derive(Debug, Serialize)]
pub(crate) struct TaskRow {
    pub(crate) id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub(crate) state: &'static str,
    /// Whether it is over (a reply may continue it).
    pub(crate) done: bool,
    /// `ok`, `err`, `warn` or empty: the status's colour.
    pub(crate) tone: &'static str,
    pub(crate) exit_code: Option<i32>,
    pub(crate) created_at: String,
    /// Seconds since it was spawned.
    pub(crate) age_seconds: Option<u64>,
    /// Its prompt's first non-blank line, cut to [`TITLE`] characters.
    pub(crate) title: String,
    pub(crate) turns: usize,
    pub(crate) model: Option<String>,
}

/// A turn of a task, for its view.
#[derive(Debug, Serialize)]
pub(crate) struct TurnRow {
    pub(crate) n: u32,
    pub(crate) state: &'static str,
    pub(crate) tone: &'static str,
    pub(crate) exit_code: Option<i32>,
    pub(crate) requested_at: String,
    pub(crate) error: Option<String>,
}

fn tone(state: TaskState) -> &'static str {
    match state {
        TaskState::Succeeded => "ok",
        TaskState::Failed => "err",
        TaskState::Cancelled => "warn",
        TaskState::Queued | TaskState::Running => "",
    }
}

/// The first non-blank line of `prompt`, cut to `TITLE` characters.
pub(crate) fn title(prompt: &str) -> String {
    let line = prompt
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() > TITLE {
        let cut: String = line.chars().take(TITLE - 1).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

/// Seconds from `ts` (RFC 3339) to now.
fn age(ts: &str) -> Option<u64> {
    let then = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    let secs = chrono::Utc::now().signed_duration_since(then).num_seconds();
    Some(secs.max(0) as u64)
}

/// A task's record as a row.
pub(crate) fn row(rec: &TaskRecord) -> TaskRow {
    TaskRow {
        id: rec.id.clone(),
        state: rec.state.as_str(),
        done: rec.state.is_done(),
        tone: tone(rec.state),
        exit_code: rec.exit_code,
        created_at: rec.created_at.clone(),
        age_seconds: age(&rec.created_at),
        title: title(&rec.prompt),
        turns: rec.turns.len(),
        model: rec.model.clone(),
    }
}

/// A task's turns, the first first.
pub(crate) fn turns(rec: &TaskRecord) -> Vec<TurnRow> {
    rec.turns
        .iter()
        .map(|t| TurnRow {
            n: t.n,
            state: t.state.as_str(),
            tone: tone(t.state),
            exit_code: t.exit_code,
            requested_at: t.requested_at.clone(),
            error: t.error.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_the_first_line_with_text_cut_short() {
        assert_eq!(title("\n  \n  Fix the build\nthen more"), "Fix the build");
        let long = "é".repeat(150);
        let t = title(&long);
        assert_eq!(t.chars().count(), TITLE);
        assert!(t.ends_with('…'));
        assert_eq!(title(""), "");
    }

    #[test]
    fn ages_come_from_rfc3339_times() {
        assert!(age("2020-01-01T00:00:00Z").unwrap() > 86400 * 365);
        assert_eq!(age("not a time"), None);
    }
}
