//! The event ledger published to a git branch of its own (`car ledger
//! publish`), for people and tools that follow progress from the git host
//! (the seed's "ledger-first flow").
//!
//! The branch's tree: for a repository, `events.jsonl` (its ledger files
//! joined, oldest first) and `status.json` (the last event per loop, task
//! and command, see [`status`]); for a hub, `status.json` and
//! `<repo id>/events.jsonl` per registered repository and worktree. Lines
//! are published as [`redact`] says. A round commits only when the tree
//! changed, then pushes when the branch moved since the last push.

mod branch;
pub mod redact;
pub mod status;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fs_util::PathError;
use crate::git::GitError;

pub use status::{LastEvent, Source, Subject, describe, last_events};

/// Errors publishing the ledger.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The directory is not in a git repository.
    #[error(
        "{} is not in a git repository: the ledger branch is written into the repository's git objects (`git init` it and add a remote)",
        .0.display()
    )]
    NotARepository(PathBuf),
    /// Not a valid branch name.
    #[error("`{0}` is not a valid branch name (see `git check-ref-format --branch`)")]
    BadBranch(String),
    /// The branch is checked out: moving it would change that checkout.
    #[error(
        "the branch {branch} is checked out in {}: the ledger needs a branch of its own (--branch NAME)",
        worktree.display()
    )]
    CheckedOut {
        /// The branch.
        branch: String,
        /// Where.
        worktree: PathBuf,
    },
    /// No such remote.
    #[error(
        "{} has no remote `{remote}`: add it (`git remote add {remote} URL`) or pass --remote NAME|URL",
        root.display()
    )]
    NoRemote {
        /// The remote asked for.
        remote: String,
        /// The repository.
        root: PathBuf,
    },
    /// The remote refused the push (its branch has commits this one lacks).
    #[error(
        "push of {branch} to {remote} rejected: {reason}{}",
        if *merge_next { " (its branch was fetched: the next round merges it and pushes again)" } else { "" }
    )]
    Rejected {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
        /// What git said.
        reason: String,
        /// Whether the remote's branch was fetched for the next round.
        merge_next: bool,
    },
    /// The push failed (the remote is unreachable, missing, refused access).
    #[error("push of {branch} to {remote} failed: {reason} (kept; pushed again next round)")]
    PushFailed {
        /// The remote.
        remote: String,
        /// The branch.
        branch: String,
        /// What git said.
        reason: String,
    },
    /// A temporary directory could not be made.
    #[error("cannot create a temporary directory")]
    Temp(#[source] std::io::Error),
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A file could not be read or written.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// How to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// The branch (`car-ledger`).
    pub branch: String,
    /// The remote's name, URL or path (`origin`).
    pub remote: String,
    /// Keep the agent's questions (and other prompts) in the lines.
    pub include_prompts: bool,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// The new commit, when the ledger changed.
    pub committed: Option<String>,
    /// Events in the published tree.
    pub events: usize,
    /// The commit pushed this round, when the remote's branch moved to it.
    pub pushed: Option<String>,
}

/// Publishes ledgers into a branch of the repository at `git_root`, one
/// round at a time.
#[derive(Debug)]
pub struct Publisher {
    branch: branch::Branch,
    /// Whether sources are named by id (a hub).
    hub: bool,
    include_prompts: bool,
    last_pushed: Option<String>,
    /// The ledger files' names, sizes and times after the last round that
    /// ended with everything pushed, and its event count: while they stay
    /// the same, a round reads nothing.
    settled: Option<(Vec<Fingerprint>, usize)>,
}

/// A ledger file as last seen: its source, path, size and change time
/// (a new task's prompt comes with its `task_spawned` line).
type Fingerprint = (Option<String>, PathBuf, u64, Option<std::time::SystemTime>);

fn fingerprint(sources: &[Source]) -> Vec<Fingerprint> {
    sources
        .iter()
        .flat_map(|s| {
            s.files.iter().map(|f| {
                let meta = std::fs::metadata(f).ok();
                (
                    s.id.clone(),
                    f.clone(),
                    meta.as_ref().map_or(0, std::fs::Metadata::len),
                    meta.and_then(|m| m.modified().ok()),
                )
            })
        })
        .collect()
}

impl Publisher {
    /// Checks the repository, branch and remote (see [`PublishError`]).
    /// With `hub`, each source's lines go to `<id>/events.jsonl`.
    pub fn new(git_root: &Path, hub: bool, opts: &PublishOptions) -> Result<Self, PublishError> {
        Ok(Self {
            branch: branch::Branch::open(git_root, &opts.branch, &opts.remote)?,
            hub,
            include_prompts: opts.include_prompts,
            last_pushed: None,
            settled: None,
        })
    }

    /// One round over the ledgers of `sources`: commit what changed, push
    /// what was not pushed. A push failure ([`PublishError::PushFailed`],
    /// [`PublishError::Rejected`]) leaves the commit on the local branch
    /// (and in `report`) for the next round.
    pub fn round(
        &mut self,
        sources: &[Source],
        report: &mut RoundReport,
    ) -> Result<(), PublishError> {
        *report = RoundReport::default();
        let seen = fingerprint(sources);
        if let Some((_, events)) = self.settled.as_ref().filter(|(f, _)| *f == seen) {
            report.events = *events;
            return Ok(());
        }
        self.settled = None;
        let mut files = Vec::new();
        let mut all = Vec::new();
        for s in sources {
            let lines = read_lines(&s.files, self.include_prompts);
            report.events += lines.len();
            let mut bytes = Vec::new();
            for l in &lines {
                bytes.extend_from_slice(l.text.as_bytes());
                bytes.push(b'\n');
            }
            let path = match (&s.id, self.hub) {
                (Some(id), true) => format!("{}/events.jsonl", safe_name(id)),
                _ => "events.jsonl".to_string(),
            };
            files.push(branch::File { path, bytes });
            let values: Vec<Value> = lines.into_iter().map(|l| l.value).collect();
            status::fold(s.id.as_deref(), &values, &s.prompts, &mut all);
        }
        let mut status = serde_json::to_vec_pretty(&all).unwrap_or_default();
        status.push(b'\n');
        files.push(branch::File {
            path: "status.json".to_string(),
            bytes: status,
        });
        let message = format!(
            "car ledger: {} events ({})",
            report.events,
            crate::time::iso_millis(crate::time::now())
        );
        report.committed = self.branch.commit(&files, &message)?;
        let tip = self.branch.tip()?;
        if tip.is_some() && tip != self.last_pushed {
            let updated = self.branch.push()?;
            self.last_pushed.clone_from(&tip);
            if updated {
                report.pushed = tip;
            }
        }
        self.settled = Some((seen, report.events));
        Ok(())
    }
}

/// A hub id as a directory name of the tree.
fn safe_name(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        format!("_{s}")
    } else {
        s
    }
}

/// One event as published: the line (the ledger's own bytes when nothing
/// was left out or redacted) and its value.
pub(crate) struct Line {
    pub(crate) text: String,
    pub(crate) value: Value,
}

/// Reads the event lines of `files` (oldest first) as published.
pub(crate) fn read_lines(files: &[PathBuf], include_prompts: bool) -> Vec<Line> {
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for l in text.lines() {
            let Some(value) = redact::redact_line(l, include_prompts) else {
                continue;
            };
            let same = serde_json::from_str::<Value>(l).is_ok_and(|orig| orig == value);
            let text = if same {
                l.to_string()
            } else {
                value.to_string()
            };
            out.push(Line { text, value });
        }
    }
    out
}
