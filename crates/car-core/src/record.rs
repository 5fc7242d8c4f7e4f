//! The record of one run under `.codex-autorunner/runs/<id>/`: the prompt,
//! the output log, the final output and `run.json`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use similar::TextDiff;

use crate::docs::{DocKind, Docs};
use crate::fs_util::{PathError, read_optional, write_atomic};
use crate::paths::RepoPaths;

/// File names inside a run directory.
pub(crate) const PROMPT_FILE: &str = "prompt.md";
/// The output log.
pub(crate) const OUTPUT_FILE: &str = "output.log";
/// The final output (fed to the next prompt).
pub(crate) const FINAL_OUTPUT_FILE: &str = "final_output.md";
/// The JSON record.
pub(crate) const RECORD_FILE: &str = "run.json";
/// Codex's `-o` output (its last message).
pub(crate) const LAST_MESSAGE_FILE: &str = "last_message.md";
/// The raw Codex `--json` events of the run.
pub(crate) const CODEX_EVENTS_FILE: &str = "codex-events.jsonl";
/// The schema given to `--output-schema`.
pub(crate) const VERDICT_SCHEMA_FILE: &str = "verdict-schema.json";
/// The supervisor's report on how the agent ended.
pub(crate) const SUPERVISOR_FILE: &str = "supervisor.json";

/// What kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A loop iteration working on the TODO.
    Loop,
    /// The final summary run (`final summary` in ledgers and records of
    /// car before 0.1, still read).
    #[serde(alias = "final summary")]
    Summary,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The agent exited 0.
    Ok,
    /// The agent exited non-zero or was killed by a signal it did not get from car.
    Failed,
    /// `codex.run_timeout_seconds` or `runner.max_wallclock_seconds` passed during the run.
    TimedOut,
    /// The watchdog fired: no output for `codex.idle_timeout_seconds`.
    Hung,
    /// Ctrl-C stopped it.
    Interrupted,
    /// `car kill` (SIGTERM) stopped it.
    Killed,
}

impl RunOutcome {
    /// Returns the name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Hung => "hung",
            Self::Interrupted => "interrupted",
            Self::Killed => "killed",
        }
    }
}

/// TODO counts at a point in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoCount {
    /// Checked.
    pub done: usize,
    /// All.
    pub total: usize,
}

/// One doc changed by a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocChange {
    /// Which doc.
    pub doc: DocKind,
    /// Its path relative to the root.
    pub path: String,
    /// A unified diff of the change.
    pub diff: String,
}

/// The content of `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: u64,
    /// Loop or summary.
    pub kind: RunKind,
    /// Start (UTC).
    pub started_at: String,
    /// End (UTC).
    pub finished_at: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The outcome.
    pub outcome: RunOutcome,
    /// Exit code, when the agent exited.
    pub exit_code: Option<i32>,
    /// Signal number, when the agent was killed by one.
    pub signal: Option<i32>,
    /// Whether SIGKILL was needed to stop it.
    pub killed_with_sigkill: bool,
    /// The program and arguments.
    pub command: Vec<String>,
    /// TODO counts before.
    pub todo_before: TodoCount,
    /// TODO counts after.
    pub todo_after: TodoCount,
    /// Docs changed, with diffs.
    pub docs_changed: Vec<DocChange>,
    /// Whether any file of the work tree changed (docs excluded).
    pub worktree_changed: bool,
    /// Bytes the agent wrote to stdout.
    pub stdout_bytes: u64,
    /// Bytes the agent wrote to stderr.
    pub stderr_bytes: u64,
    /// The commit made by git.auto_commit.
    pub git_commit: Option<String>,
    /// A note about a git.auto_commit failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_error: Option<String>,
    /// What the Codex `--json` events said (thread, commands, files, errors, usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex: Option<crate::codex::CodexRun>,
    /// Tokens used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<crate::codex::TokenUsage>,
    /// The failure's message (from `turn.failed` or an `error` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the failure means: usage_limit, billing, transient, context_window, other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// A question the agent asked a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The structured verdict, with `codex.structured_verdict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::codex::Verdict>,
    /// Whether the prompt carried a person's reply.
    #[serde(default)]
    pub user_reply_included: bool,
    /// Whether the previous output was left out (after a context overflow).
    #[serde(default)]
    pub prev_output_dropped: bool,
    /// Where the final output came from: last_message, agent_message or stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_output_source: Option<String>,
}

impl RunRecord {
    /// Describes how the agent ended: `exit 3`, `signal 9`.
    pub fn describe_exit(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "no exit status".into(),
        }
    }

    /// Returns whether the run changed anything (a doc or the work tree).
    pub fn made_progress(&self) -> bool {
        self.worktree_changed || !self.docs_changed.is_empty()
    }
}

/// Returns the diffs of docs that differ between `before` and `after`.
pub(crate) fn doc_changes(
    before: &Docs,
    after: &Docs,
    paths: &crate::config::DocsConfig,
    root: &Path,
) -> Vec<DocChange> {
    DocKind::ALL
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| {
            let rel = k
                .path(paths)
                .strip_prefix(root)
                .unwrap_or(k.path(paths))
                .display()
                .to_string();
            let diff = TextDiff::from_lines(before.get(k), after.get(k))
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{rel}"), &format!("b/{rel}"))
                .to_string();
            DocChange {
                doc: k,
                path: rel,
                diff,
            }
        })
        .collect()
}

/// Returns the ids of recorded runs (car's directories and Python's logs), sorted.
pub(crate) fn run_ids(paths: &RepoPaths) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(paths.runs_dir())
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.parse::<u64>().ok().or_else(|| {
                name.strip_prefix("run-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()
            })
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Reads a run's record.
pub(crate) fn load_record(paths: &RepoPaths, id: u64) -> Option<RunRecord> {
    let bytes = std::fs::read(paths.run_dir(id).join(RECORD_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Returns the path of a run's output log (car's, or the Python program's).
pub(crate) fn output_log_path(paths: &RepoPaths, id: u64) -> Option<PathBuf> {
    let p = paths.run_dir(id).join(OUTPUT_FILE);
    if p.exists() {
        return Some(p);
    }
    let legacy = paths.legacy_run_log(id);
    legacy.exists().then_some(legacy)
}

/// Returns a run's final output: car's `final_output.md`, or for a run of
/// the Python program, what it would have fed to the next prompt.
pub(crate) fn final_output(paths: &RepoPaths, id: u64) -> Result<Option<String>, PathError> {
    if let Some(b) = read_optional(&paths.run_dir(id).join(FINAL_OUTPUT_FILE))? {
        return Ok(Some(String::from_utf8_lossy(&b).into_owned()));
    }
    Ok(read_optional(&paths.legacy_run_log(id))?
        .map(|b| legacy_final_output(&String::from_utf8_lossy(&b))))
}

/// Extracts the output of a Python-era `run-N.log`: the agent lines after the
/// first `tokens used` line (Codex prints the final message after it), or all
/// of them, without the `[ts] run=N stdout: ` prefixes.
fn legacy_final_output(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with("=== run ")).collect();
    let start = lines
        .iter()
        .position(|l| l.contains("stdout: tokens used"))
        .map_or(0, |i| i + 1);
    lines[start..]
        .iter()
        .map(|l| match (l.find("] run="), l.find("stdout: ")) {
            (Some(_), Some(i)) => &l[i + "stdout: ".len()..],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Writes a file of the run directory atomically.
pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PathError> {
    write_atomic(&dir.join(name), bytes)
}

/// Writes one file of a run directory with the given durability.
pub(crate) fn write_file_with(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sync: crate::fs_util::Durability,
) -> Result<(), PathError> {
    crate::fs_util::write_atomic_with(&dir.join(name), bytes, sync)
}

/// A cheap fingerprint of the work tree: path, size and mtime of every file
/// that is not ignored (car's own directory and `.git` excluded), plus the
/// files git touches on commit. Two equal fingerprints mean nothing changed.
pub(crate) fn worktree_fingerprint(root: &Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .filter_entry(|e| {
            let n = e.file_name();
            !(e.depth() == 1 && (n == ".git" || n == crate::paths::CAR_DIR))
        })
        .build();
    let mut entries: Vec<(PathBuf, u64, i128)> = walker
        .filter_map(Result::ok)
        .filter_map(|e| {
            let md = e.metadata().ok()?;
            md.is_file()
                .then(|| (e.into_path(), md.len(), mtime_ns(&md)))
        })
        .collect();
    entries.sort_unstable();
    entries.hash(&mut h);
    for f in [".git/HEAD", ".git/index", ".git/logs/HEAD"] {
        if let Ok(md) = std::fs::metadata(root.join(f)) {
            (f, md.len(), mtime_ns(&md)).hash(&mut h);
        }
    }
    h.finish()
}

fn mtime_ns(md: &std::fs::Metadata) -> i128 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_output_takes_lines_after_tokens_used() {
        let log = "=== run 1 start ===\n[t] run=1 stdout: thinking\n[t] run=1 stdout: tokens used\n[t] run=1 stdout: 1,234\n[t] run=1 stdout:   Agent: did one task\n=== run 1 end (code 0) ===\n";
        assert_eq!(legacy_final_output(log), "1,234\n  Agent: did one task");
    }

    #[test]
    fn fingerprint_changes_when_a_file_changes_and_ignores_car_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "1").unwrap();
        let a = worktree_fingerprint(dir.path());
        std::fs::create_dir_all(dir.path().join(".codex-autorunner")).unwrap();
        std::fs::write(dir.path().join(".codex-autorunner/state.json"), "{}").unwrap();
        assert_eq!(a, worktree_fingerprint(dir.path()));
        std::fs::write(dir.path().join("b.txt"), "2").unwrap();
        assert_ne!(a, worktree_fingerprint(dir.path()));
    }
}
