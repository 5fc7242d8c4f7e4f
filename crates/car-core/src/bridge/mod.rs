//! The GitHub comment bridge (`car bridge github`, the seed's "Option A"):
//! an `@codex ...` comment on an issue, handed over by a GitHub Actions
//! workflow on a self-hosted runner, becomes a Codex task of the
//! repository (spawn, reply, abort, status); the answer is a comment body
//! for the workflow to post.
//!
//! Only authors whose `author_association` is allowed
//! (`github_bridge.allowed_associations`) are obeyed; bots are never
//! answered (the bridge's own comments mention `@codex`). An edited issue
//! counts only when its author edited its body (the association is the
//! author's, not the editor's). `reply`, `abort` and `status` act only on
//! the tasks the bridge started for this repository's issues (a `cid` of
//! another task, from the CLI or a server user, is "no such task"), and a
//! spawn's `cwd=` must be a directory inside the repository.

pub mod command;
pub mod github;

use std::path::{Path, PathBuf};

use crate::{Repo, RequestedBy, Requester, TaskRecord, TaskRequest};

pub use command::{Command, HELP};
pub use github::GithubEvent;

/// The longest body posted (GitHub refuses comments over 65536 characters).
const MAX_BODY: usize = 60_000;

/// Errors reading the event.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The payload file could not be read.
    #[error("cannot read the event payload {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The payload is not an issue or issue comment event.
    #[error("the event payload {} {problem}", path.display())]
    Payload {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// Handles `event` for `repo`: the body to post, or `None` when there is
/// nothing to answer (no `@codex`, a bot, an action other than a new
/// comment or an opened or edited issue). `program` is the `car` binary
/// tasks run with.
pub fn handle(repo: &Repo, event: &GithubEvent, program: &Path) -> Option<String> {
    let wanted = match (event.kind, event.action.as_str()) {
        ("issue_comment", action) => action == "created",
        (_, "opened") => true,
        // Someone else's edit would borrow the author's association.
        (_, "edited") => event.body_changed && event.sender == event.author,
        _ => false,
    };
    if !wanted || event.from_bot {
        return None;
    }
    let cmd = command::parse(&event.body)?;
    let allowed = &repo.config().github_bridge.allowed_associations;
    if !allowed.contains(&event.association) {
        return Some(format!(
            "@{} your comment was not acted on: author association {} is not one of {} (github_bridge.allowed_associations).",
            event.author,
            event.association,
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ));
    }
    let place = event.repository.as_deref().unwrap_or("issue ");
    let origin = format!(
        "github @{} on {place}#{} ({})",
        event.author, event.issue, event.association
    );
    let tasks = repo.tasks(Requester::new(RequestedBy::Bot, origin));
    // A task of the bridge's, for this repository's issues; else, as if it
    // did not exist.
    let own = |cid: &str| -> Result<TaskRecord, String> {
        tasks
            .status(cid)
            .ok()
            .filter(|r| {
                r.requested_by.requested_by == RequestedBy::Bot
                    && r.requested_by.origin.as_deref().is_some_and(|o| {
                        o.starts_with("github @") && o.contains(&format!(" on {place}#"))
                    })
            })
            .ok_or_else(|| format!("⚠️ no task `{cid}` was started from this repository's issues."))
    };
    let body = match cmd {
        Command::Help { problem } => match problem {
            Some(p) => format!("⚠️ {p}\n\n{HELP}"),
            None => HELP.to_string(),
        },
        Command::Spawn { prompt, cwd } => match inside(repo.root(), cwd.as_deref()) {
            Err(e) => e,
            Ok((dir, shown)) => {
                let req = TaskRequest {
                    prompt,
                    cwd: Some(dir),
                    model: None,
                };
                match tasks.spawn(program, req) {
                    Ok(rec) => format!(
                        "🛠️ spawned: cid `{}` in `{shown}`\n\nAsk with `@codex status cid={0}`; continue with `@codex reply cid={0} \"...\"`.",
                        rec.id
                    ),
                    Err(e) => format!("⚠️ not spawned: {e}"),
                }
            }
        },
        Command::Reply { cid, message } => match own(&cid) {
            Err(e) => e,
            Ok(_) => match tasks.reply(program, &cid, &message) {
                Ok(rec) => format!(
                    "💬 reply → `{cid}`: turn {} started.",
                    rec.current_turn().map_or(1, |t| t.n)
                ),
                Err(e) => format!("⚠️ task `{cid}`: {e}"),
            },
        },
        Command::Abort { cid } => match own(&cid) {
            Err(e) => e,
            Ok(before) => match tasks.abort(&cid) {
                Ok(rec) if before.state.is_done() => {
                    format!("ℹ️ task `{cid}` had already ended ({}).", rec.state)
                }
                Ok(rec) => format!("🛑 task `{cid}` {}.", rec.state),
                Err(e) => format!("⚠️ task `{cid}`: {e}"),
            },
        },
        Command::Status { cid } => match own(&cid) {
            Ok(rec) => status_body(&rec, tasks.final_output(&cid).ok().flatten()),
            Err(e) => e,
        },
    };
    Some(cut(body))
}

/// The directory `cwd=` names, inside the repository at `root` (the
/// root itself without one), and how to show it (relative: the runner's
/// paths are not posted); else the answer saying it is not.
fn inside(root: &Path, cwd: Option<&str>) -> Result<(PathBuf, String), String> {
    let Some(asked) = cwd.map(str::trim).filter(|c| !c.is_empty() && *c != ".") else {
        return Ok((root.to_path_buf(), ".".to_string()));
    };
    let refuse = || format!("⚠️ not spawned: cwd={asked} is not a directory of the repository.");
    if Path::new(asked).is_absolute() {
        return Err(refuse());
    }
    let root = std::fs::canonicalize(root).map_err(|_| refuse())?;
    let dir = std::fs::canonicalize(root.join(asked)).map_err(|_| refuse())?;
    if !dir.starts_with(&root) || !dir.is_dir() {
        return Err(refuse());
    }
    let shown = dir
        .strip_prefix(&root)
        .map_or_else(|_| ".".into(), |p| p.display().to_string());
    Ok((dir, if shown.is_empty() { ".".into() } else { shown }))
}

fn status_body(rec: &TaskRecord, output: Option<String>) -> String {
    let mut s = format!("ℹ️ task `{}`: {}", rec.id, rec.state);
    if let Some(t) = rec.current_turn() {
        s.push_str(&format!(", turn {} ({})", t.n, t.state));
        if let Some(e) = &t.error {
            s.push_str(&format!("\n\nError: {e}"));
        }
    }
    if let Some(code) = rec.exit_code {
        s.push_str(&format!("\n\nExit code: {code}"));
    }
    if let Some(out) = output.filter(|o| !o.trim().is_empty()) {
        // Posted on GitHub: what looks like a secret is redacted.
        let out = crate::ledger_publish::redact::redact_secrets(out.trim_end());
        s.push_str(&format!("\n\nFinal output:\n\n````\n{out}\n````"));
    }
    s
}

/// `body`, cut to [`MAX_BODY`] characters.
fn cut(body: String) -> String {
    if body.chars().count() <= MAX_BODY {
        return body;
    }
    let mut s: String = body.chars().take(MAX_BODY).collect();
    s.push_str("\n\n… (cut; `car task logs` on the runner has the rest)");
    s
}
