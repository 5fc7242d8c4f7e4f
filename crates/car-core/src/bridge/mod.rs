//! The GitHub comment bridge (`car bridge github`, the seed's "Option A"):
//! an `@codex ...` comment on an issue, handed over by a GitHub Actions
//! workflow on a self-hosted runner, becomes a Codex task of the
//! repository (spawn, reply, abort, status); the answer is a comment body
//! for the workflow to post.
//!
//! Only authors whose `author_association` is allowed
//! (`github_bridge.allowed_associations`) are obeyed; bots are never
//! answered (the bridge's own comments mention `@codex`).

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
    let wanted = match event.kind {
        "issue_comment" => event.action == "created",
        _ => matches!(event.action.as_str(), "opened" | "edited"),
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
    let origin = format!(
        "github @{} on {}#{} ({})",
        event.author,
        event.repository.as_deref().unwrap_or("issue "),
        event.issue,
        event.association
    );
    let tasks = repo.tasks(Requester::new(RequestedBy::Bot, origin));
    let body = match cmd {
        Command::Help { problem } => match problem {
            Some(p) => format!("⚠️ {p}\n\n{HELP}"),
            None => HELP.to_string(),
        },
        Command::Spawn { prompt, cwd } => {
            let req = TaskRequest {
                prompt,
                cwd: cwd.map(PathBuf::from),
                model: None,
            };
            match tasks.spawn(program, req) {
                Ok(rec) => format!(
                    "🛠️ spawned: cid `{}` in `{}`\n\nAsk with `@codex status cid={0}`; continue with `@codex reply cid={0} \"...\"`.",
                    rec.id,
                    rec.cwd.display()
                ),
                Err(e) => format!("⚠️ not spawned: {e}"),
            }
        }
        Command::Reply { cid, message } => match tasks.reply(program, &cid, &message) {
            Ok(rec) => format!(
                "💬 reply → `{cid}`: turn {} started.",
                rec.current_turn().map_or(1, |t| t.n)
            ),
            Err(e) => format!("⚠️ task `{cid}`: {e}"),
        },
        Command::Abort { cid } => {
            let before = tasks.status(&cid).map(|r| r.state);
            match tasks.abort(&cid) {
                Ok(rec) if before.is_ok_and(|s| s.is_done()) => {
                    format!("ℹ️ task `{cid}` had already ended ({}).", rec.state)
                }
                Ok(rec) => format!("🛑 task `{cid}` {}.", rec.state),
                Err(e) => format!("⚠️ task `{cid}`: {e}"),
            }
        }
        Command::Status { cid } => match tasks.status(&cid) {
            Ok(rec) => status_body(&rec, tasks.final_output(&cid).ok().flatten()),
            Err(e) => format!("⚠️ task `{cid}`: {e}"),
        },
    };
    Some(cut(body))
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
