//! What can go wrong starting or supervising the agent.

use std::path::PathBuf;

use crate::fs_util::PathError;

/// Errors starting or supervising the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The binary was not found.
    #[error("agent binary `{binary}` not found (config key codex.binary{hint})")]
    NotFound {
        /// The configured binary.
        binary: String,
        /// Extra context (where it was looked for).
        hint: String,
    },
    /// The process could not be started.
    #[error("cannot start agent {}", program.display())]
    Spawn {
        /// The resolved program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the run's log failed.
    #[error(transparent)]
    Log(#[from] PathError),
    /// The agent's supervisor could not start the agent.
    #[error("cannot start agent {}: {message}", program.display())]
    SupervisedSpawn {
        /// The resolved program.
        program: PathBuf,
        /// What the supervisor reported.
        message: String,
    },
}
