//! What the Runs pages show, made from the records under
//! `.codex-autorunner/runs/<id>/`: a run as a row of the list, a run's
//! figures, and its doc diffs as lines to colour (the engine records each
//! doc's unified diff in `run.json` as the run ends).

use car_core::{Repo, RunRecord};
use serde::Serialize;

/// How many runs a page of the list holds.
pub(crate) const PAGE: usize = 50;

/// A run in the list (or the head of its own page).
#[derive(Debug, Serialize)]
pub(crate) struct RunRow {
    pub(crate) id: u64,
    /// `loop` or `summary`; empty while it runs (no record yet).
    pub(crate) kind: &'static str,
    pub(crate) started_at: String,
    /// `12.3 s`, `4m 5s`; empty while it runs.
    pub(crate) duration: String,
    /// `ok`, `failed`, ... or `running` (no record: the run is at work,
    /// or its process was lost before it wrote one).
    pub(crate) outcome: String,
    /// `ok`, `err` or empty: the outcome's colour.
    pub(crate) tone: &'static str,
    pub(crate) exit_code: Option<i32>,
    pub(crate) signal: Option<i32>,
    pub(crate) tokens_in: Option<u64>,
    pub(crate) tokens_out: Option<u64>,
    /// TODO done/total before and after: `2/5 → 3/5`.
    pub(crate) todo: String,
    /// How many TODO items it checked (negative: unchecked).
    pub(crate) todo_delta: i64,
}

/// A page of the list: its runs (newest first), how many runs there are
/// and the id to ask for older ones from (`?before=`), if any.
#[derive(Debug, Serialize)]
pub(crate) struct RunPage {
    pub(crate) runs: Vec<RunRow>,
    pub(crate) total: usize,
    pub(crate) older: Option<u64>,
    /// Whether this is the newest page.
    pub(crate) newest: bool,
}

/// The runs with an id below `before` (all when `None`), newest first,
/// at most [`PAGE`]: only their records are read.
pub(crate) fn page(repo: &Repo, before: Option<u64>) -> RunPage {
    let all = repo.run_ids();
    let total = all.len();
    let newest = before.is_none_or(|b| all.last().is_none_or(|&last| last < b));
    let mut ids: Vec<u64> = all
        .into_iter()
        .filter(|&n| before.is_none_or(|b| n < b))
        .collect();
    let more = ids.len() > PAGE;
    ids.reverse();
    ids.truncate(PAGE);
    let runs: Vec<RunRow> = ids.iter().map(|&n| row(n, repo.run_record(n))).collect();
    RunPage {
        older: more.then(|| runs.last().map(|r| r.id)).flatten(),
        runs,
        total,
        newest,
    }
}

/// Run `id` as a row, from its record (`None` while it runs).
pub(crate) fn row(id: u64, rec: Option<RunRecord>) -> RunRow {
    let Some(r) = rec else {
        return RunRow {
            id,
            kind: "",
            started_at: String::new(),
            duration: String::new(),
            outcome: "running".into(),
            tone: "",
            exit_code: None,
            signal: None,
            tokens_in: None,
            tokens_out: None,
            todo: String::new(),
            todo_delta: 0,
        };
    };
    let outcome = r.outcome.as_str();
    RunRow {
        id,
        kind: match r.kind {
            car_core::RunKind::Loop => "loop",
            car_core::RunKind::Summary => "summary",
        },
        started_at: r.started_at.clone(),
        duration: duration(r.duration_ms),
        outcome: outcome.replace('_', " "),
        tone: if outcome == "ok" { "ok" } else { "err" },
        exit_code: r.exit_code,
        signal: r.signal,
        tokens_in: r.tokens.as_ref().map(|t| t.input),
        tokens_out: r.tokens.as_ref().map(|t| t.output),
        todo: format!(
            "{}/{} → {}/{}",
            r.todo_before.done, r.todo_before.total, r.todo_after.done, r.todo_after.total
        ),
        todo_delta: r.todo_after.done as i64 - r.todo_before.done as i64,
    }
}

/// Milliseconds for people: `850 ms`, `12.3 s`, `4m 5s`, `1h 2m`.
pub(crate) fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m {}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h {}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// The most bytes of a final message a page starts with.
pub(crate) const FINAL_TAIL: usize = 32 * 1024;

/// The end of `text`, at most `max` bytes (from a line's start when
/// cut), and how many bytes were left out before it.
pub(crate) fn clip(text: String, max: usize) -> (String, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let mut from = text.len() - max;
    while !text.is_char_boundary(from) {
        from += 1;
    }
    if let Some(nl) = text[from..].find('\n') {
        from += nl + 1;
    }
    (text[from..].to_string(), from)
}

/// One line of a diff: `add`, `del`, `hunk`, `meta` (the file names) or
/// `ctx`.
#[derive(Debug, Serialize)]
pub(crate) struct DiffLine {
    pub(crate) kind: &'static str,
    pub(crate) text: String,
}

/// A doc a run changed, with its diff's lines.
#[derive(Debug, Serialize)]
pub(crate) struct DocDiff {
    pub(crate) path: String,
    pub(crate) added: usize,
    pub(crate) removed: usize,
    pub(crate) lines: Vec<DiffLine>,
}

/// The doc diffs of a run's record.
pub(crate) fn diffs(rec: &RunRecord) -> Vec<DocDiff> {
    rec.docs_changed
        .iter()
        .map(|c| {
            let lines: Vec<DiffLine> = c.diff.lines().map(diff_line).collect();
            DocDiff {
                path: c.path.clone(),
                added: lines.iter().filter(|l| l.kind == "add").count(),
                removed: lines.iter().filter(|l| l.kind == "del").count(),
                lines,
            }
        })
        .collect()
}

/// A line of a unified diff with its kind.
pub(crate) fn diff_line(line: &str) -> DiffLine {
    let kind = if line.starts_with("+++ ") || line.starts_with("--- ") {
        "meta"
    } else if line.starts_with("@@") {
        "hunk"
    } else if line.starts_with('+') {
        "add"
    } else if line.starts_with('-') {
        "del"
    } else if line.starts_with('\\') {
        "meta"
    } else {
        "ctx"
    };
    DiffLine {
        kind,
        text: line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_told_apart_by_their_first_characters() {
        let kinds: Vec<&str> = "--- a/TODO.md\n+++ b/TODO.md\n@@ -1,2 +1,2 @@\n-- [ ] a\n+- [x] a\n - [ ] b\n\\ No newline at end of file"
            .lines()
            .map(|l| diff_line(l).kind)
            .collect();
        assert_eq!(kinds, ["meta", "meta", "hunk", "del", "add", "ctx", "meta"]);
    }

    #[test]
    fn a_long_text_is_clipped_to_its_last_whole_lines() {
        assert_eq!(clip("short".into(), 10), ("short".into(), 0));
        let (end, cut) = clip("ab\ncdé\nfg\n".into(), 6);
        assert_eq!((end.as_str(), cut), ("fg\n", 8));
        let (end, cut) = clip("ééé".into(), 3);
        assert_eq!((end.as_str(), cut), ("é", 4));
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4m 5s");
        assert_eq!(duration(3_720_000), "1h 2m");
    }

    #[test]
    fn a_run_without_a_record_is_running() {
        let r = row(7, None);
        assert_eq!((r.id, r.outcome.as_str(), r.kind), (7, "running", ""));
    }
}
