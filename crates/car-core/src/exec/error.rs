//! What can go wrong with a command (an exec), as the library says it.

use crate::error::ErrorKind;
use crate::fs_util::PathError;
use crate::hint::Hint;
use crate::task::TaskError;

/// Errors of starting, cancelling or reading a command.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No command of that id is recorded.
    #[error("no command {id} is recorded")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The command line is empty.
    #[error("the command is empty")]
    EmptyCommand,
    /// `sh` could not be started.
    #[error("cannot start sh -c in {}", cwd.display())]
    Spawn {
        /// Where it was to run.
        cwd: std::path::PathBuf,
        /// Why it could not.
        #[source]
        source: std::io::Error,
    },
    /// The command's own process could not be started.
    #[error("cannot start the command's process")]
    Launch(#[source] PathError),
    /// What jobs share: the working directory's rules, their records.
    #[error(transparent)]
    Job(#[from] TaskError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] PathError),
}

impl ExecError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::EmptyCommand => ErrorKind::User,
            Self::Job(e) => e.kind(),
            Self::Spawn { .. } | Self::Launch(_) | Self::Io(_) => ErrorKind::Io,
        }
    }

    /// Returns what would help, when something would.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::Job(e) => e.hint(),
            _ => None,
        }
    }
}
