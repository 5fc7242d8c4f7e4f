//! What can go wrong with a terminal session's files and processes.

use std::path::PathBuf;

use thiserror::Error;

/// A terminal session could not be prepared, recorded, read or stopped.
#[derive(Debug, Error)]
pub enum TerminalError {
    /// No session with this id is recorded.
    #[error("no terminal session {id:?} is recorded in this repository")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The agent program cannot be found.
    #[error("cannot start a terminal session: {0}")]
    Agent(#[from] crate::agent::AgentError),
    /// A record could not be read, parsed or written.
    #[error("terminal session record {}: {message}", path.display())]
    Record {
        /// The record's file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl TerminalError {
    pub(crate) fn record(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        Self::Record {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}
