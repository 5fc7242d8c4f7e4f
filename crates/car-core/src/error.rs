//! The crate's one error type: each module's error, what kind of failure
//! it is ([`ErrorKind`]) and what would help ([`Hint`]).
//!
//! Messages describe what happened; they never advise. Front ends decide
//! how to react from [`Error::kind`] (an exit code, an HTTP status) and
//! turn [`Error::hint`] into their own words.

use thiserror::Error;

use crate::hint::Hint;
use crate::state::{StateError, StopReason};

/// What kind of failure an error is, for a front end's reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request cannot be done as asked (a missing spec, docs that
    /// would be overwritten, no git repository).
    User,
    /// The configuration, a prompt template or the agent's setup is wrong.
    Config,
    /// Another runner holds the repository.
    Busy,
    /// The agent could not be run, or its answer cannot be used.
    Agent,
    /// A file could not be read or written.
    Io,
    /// Something car does not expect went wrong.
    Internal,
}

/// Any error the library returns; each variant wraps one module's error.
#[derive(Debug, Error)]
pub enum Error {
    /// The configuration could not be loaded or is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A work doc could not be read or parsed.
    #[error(transparent)]
    Doc(#[from] crate::docs::DocError),
    /// A prompt template could not be loaded or rendered.
    #[error(transparent)]
    Prompt(#[from] crate::prompt::PromptError),
    /// The run lock could not be taken.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The agent could not be started or supervised.
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::fs_util::PathError),
    /// `init` failed.
    #[error(transparent)]
    Init(#[from] crate::control::InitError),
    /// Turning the spec into docs failed.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    /// Making the snapshot failed.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Blocking work was not done: the async runtime is shutting down.
    #[error(transparent)]
    Cancelled(#[from] crate::engine::Cancelled),
    /// A Codex task could not be spawned, continued, aborted or read.
    #[error(transparent)]
    Task(#[from] crate::task::TaskError),
    /// A command could not be started, cancelled or read.
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// The loop stopped, but `state.json` could not be written to say so.
    #[error(
        "{}the loop stopped ({reason}), but the stop could not be recorded in state.json",
        first.as_deref().map(|e| format!("{}; ", error_chain(e))).unwrap_or_default()
    )]
    StopNotRecorded {
        /// Why the loop stopped.
        reason: StopReason,
        /// The error that stopped the loop, when one did (reported first).
        first: Option<Box<Error>>,
        /// Why the state could not be written.
        #[source]
        record: StateError,
    },
}

impl Error {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(e) => e.kind(),
            Self::Doc(e) => e.kind(),
            Self::Prompt(e) => e.kind(),
            Self::Lock(e) => e.kind(),
            Self::State(e) => e.kind(),
            Self::Agent(e) => e.kind(),
            Self::Io(_) => ErrorKind::Io,
            Self::Init(e) => e.kind(),
            Self::Ingest(e) => e.kind(),
            Self::Snapshot(e) => e.kind(),
            Self::Task(e) => e.kind(),
            Self::Exec(e) => e.kind(),
            Self::StopNotRecorded { .. } => ErrorKind::Io,
            Self::Cancelled(_) => ErrorKind::Internal,
        }
    }

    /// Returns what would help, when something would.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::Config(e) => e.hint(),
            Self::Doc(_) | Self::Prompt(_) | Self::State(_) | Self::Io(_) | Self::Cancelled(_) => {
                None
            }
            Self::Lock(e) => e.hint(),
            Self::Agent(e) => e.hint(),
            Self::Init(e) => e.hint(),
            Self::Ingest(e) => e.hint(),
            Self::Snapshot(e) => e.hint(),
            Self::Task(e) => e.hint(),
            Self::Exec(e) => e.hint(),
            // The error that stopped the loop says what would help (the
            // state could not be written either: a full disk, mostly).
            Self::StopNotRecorded { first, .. } => first.as_deref().and_then(Self::hint),
        }
    }
}

impl From<crate::codex::InvokeError> for Error {
    fn from(e: crate::codex::InvokeError) -> Self {
        match e {
            crate::codex::InvokeError::Agent(e) => Self::Agent(e),
            crate::codex::InvokeError::Io(e) => Self::Io(e),
        }
    }
}

/// Formats an error and its sources on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
