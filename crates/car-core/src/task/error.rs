//! What can go wrong with a task, as the library says it (its `kind()` and
//! `hint()` are with the other errors' in `error_kinds.rs`).

use std::path::PathBuf;

use super::TaskState;
use crate::fs_util::PathError;

/// Errors of spawning, replying to, aborting or reading a task.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// No task of that id is recorded.
    #[error("no task {id} is recorded")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The prompt (or reply) is empty.
    #[error("the {what} is empty")]
    EmptyPrompt {
        /// `prompt` or `reply`.
        what: &'static str,
    },
    /// The working directory does not exist or is not a directory.
    #[error("the working directory {} does not exist or is not a directory", cwd.display())]
    CwdMissing {
        /// The directory asked for.
        cwd: PathBuf,
    },
    /// The working directory is outside the repository and the allowed roots.
    #[error(
        "the working directory {}{} is outside the repository and the allowed roots (server.allowed_roots)",
        asked.display(),
        resolved_note(asked, cwd)
    )]
    CwdNotAllowed {
        /// The directory asked for, as asked.
        asked: PathBuf,
        /// The directory asked for, resolved (symlinks and `..`).
        cwd: PathBuf,
    },
    /// A turn of the task is still at work.
    #[error("task {id} is {state}: its turn has not ended")]
    Busy {
        /// The task.
        id: String,
        /// Queued or running.
        state: TaskState,
    },
    /// The agent never started a conversation that a reply could continue.
    #[error("task {id} has no Codex conversation to continue (no thread id was recorded)")]
    NoThread {
        /// The task.
        id: String,
    },
    /// The task's record cannot be read.
    #[error("{} cannot be read: {message}", path.display())]
    Corrupt {
        /// The record.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The task's process could not be started.
    #[error("cannot start the task's process")]
    Launch(#[source] PathError),
    /// The configuration does not run `codex exec`.
    #[error("tasks need the agent to run `codex exec` (codex.args holds no `exec`)")]
    NotCodexExec,
    /// The agent could not be started.
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// `" (resolved: ...)"` when symlinks or `..` made `asked` another path.
fn resolved_note(asked: &std::path::Path, resolved: &std::path::Path) -> String {
    if asked == resolved {
        String::new()
    } else {
        format!(" (resolved: {})", resolved.display())
    }
}

impl From<crate::codex::InvokeError> for TaskError {
    fn from(e: crate::codex::InvokeError) -> Self {
        match e {
            crate::codex::InvokeError::Agent(e) => Self::Agent(e),
            crate::codex::InvokeError::Io(e) => Self::Io(e),
        }
    }
}
