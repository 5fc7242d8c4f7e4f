//! The texts of the read-only commands, from what car-core already
//! computes: the summary behind `car hub status`, the status report behind
//! `car status`, the run records and output logs behind `car log`.

use std::io::{Read, Seek, SeekFrom};

use car_core::{DocKind, LoopState, Repo, RepoSummary, SummaryOptions, summarize};

/// The bytes of a log's tail read at most.
const LOG_TAIL_BYTES: u64 = 64 * 1024;
/// The lines of a log's tail shown.
const LOG_TAIL_LINES: usize = 40;
/// The runs `/runs` lists.
const RUNS_LISTED: usize = 10;

/// One compact line per repository: `id  state  done/total  #run  ? question`.
pub(crate) fn status_lines(repos: &[(String, Repo)]) -> String {
    if repos.is_empty() {
        return "No repositories.".into();
    }
    repos
        .iter()
        .map(|(id, repo)| summary_line(&summarize(id, repo, &SummaryOptions::files_only())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One repository's line.
pub(crate) fn summary_line(s: &RepoSummary) -> String {
    let state = match (s.state, s.stop_reason) {
        (LoopState::WaitingForInput, _) => "asking".to_string(),
        (LoopState::Stopped, Some(r)) => format!("stopped ({r})"),
        (st, _) => st.as_str().replace('_', " "),
    };
    let todo = match (s.todo_done, s.todo_total) {
        (Some(d), Some(t)) => format!("{d}/{t}"),
        _ => "-".into(),
    };
    let run = s
        .run
        .as_ref()
        .map_or_else(|| "-".into(), |r| format!("#{}", r.id));
    let mut line = format!("{}  {state}  {todo}  {run}", s.id);
    if let Some(q) = &s.question {
        line.push_str(&format!("  ? {q}"));
    }
    line
}

/// The TODO: its counts, the next item and the list.
pub(crate) fn todo(repo: &Repo) -> String {
    let path = repo.doc_path(DocKind::Todo);
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let t = car_core::parse_todo(&text);
            let next = t.next.map(|n| format!("; next: {n}")).unwrap_or_default();
            format!(
                "TODO {}/{} done{next}\n\n{}",
                t.done,
                t.total,
                text.trim_end()
            )
        }
        Err(e) => format!("Cannot read {}: {e}", path.display()),
    }
}

/// The tail of the current (or last) run's output.
pub(crate) fn log_tail(repo: &Repo) -> String {
    let Some(&id) = repo.run_ids().last() else {
        return "No runs recorded yet.".into();
    };
    let Some(path) = repo.output_log(id) else {
        return format!("Run #{id} has no output log.");
    };
    let text = match tail_of(&path) {
        Ok(t) => t,
        Err(e) => return format!("Cannot read {}: {e}", path.display()),
    };
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(LOG_TAIL_LINES);
    let running = if repo.control(car_core::Requester::default()).is_running() {
        " (running)"
    } else {
        ""
    };
    format!(
        "Run #{id}{running}, last lines:\n\n{}",
        lines[from..].join("\n")
    )
}

fn tail_of(path: &std::path::Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last runs, newest first.
pub(crate) fn runs(repo: &Repo) -> String {
    let ids = repo.run_ids();
    if ids.is_empty() {
        return "No runs recorded yet.".into();
    }
    ids.iter()
        .rev()
        .take(RUNS_LISTED)
        .map(|&id| match repo.run_record(id) {
            Some(r) => format!(
                "#{id} {} ({}), {:.0}s, TODO {}/{}, {}",
                r.outcome.as_str(),
                r.describe_exit(),
                r.duration_ms as f64 / 1000.0,
                r.todo_after.done,
                r.todo_after.total,
                r.finished_at
            ),
            None => format!("#{id} in progress"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last finished run's changes: its commit, the files the agent
/// changed, and the diffs of the work docs.
pub(crate) fn diff(repo: &Repo) -> String {
    let Some(rec) = repo
        .run_ids()
        .iter()
        .rev()
        .find_map(|&id| repo.run_record(id))
    else {
        return "No finished run yet.".into();
    };
    let mut out = format!("Run #{} {}", rec.id, rec.outcome.as_str());
    if let Some(c) = &rec.git_commit {
        out.push_str(&format!(", commit {c}"));
    }
    out.push('\n');
    let files = rec
        .codex
        .as_ref()
        .map(|c| c.files_changed.clone())
        .unwrap_or_default();
    if files.is_empty() && rec.docs_changed.is_empty() {
        out.push_str(if rec.worktree_changed {
            "The work tree changed (no file list recorded)."
        } else {
            "No changes."
        });
    }
    if !files.is_empty() {
        out.push_str("\nFiles:\n");
        for f in &files {
            out.push_str(&format!("  {} {}\n", f.kind, f.path));
        }
    }
    for d in &rec.docs_changed {
        out.push_str(&format!("\n--- {}\n{}\n", d.path, d.diff.trim_end()));
    }
    out
}
