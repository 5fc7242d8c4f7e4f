//! Errors that end a loop before a stop condition does.

use crate::agent::AgentError;
use crate::codex::InvokeError;
use crate::docs::DocError;
use crate::fs_util::PathError;
use crate::lock::LockError;
use crate::prompt::PromptError;
use crate::state::{StateError, StopReason};

/// Errors that end a loop before a stop condition does.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Another runner holds the lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The state could not be written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A doc could not be read.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// The prompt template is broken.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The agent could not be started.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A run file could not be written.
    #[error(transparent)]
    Io(#[from] PathError),
    /// The loop stopped, but `state.json` could not be written to say so.
    #[error(
        "{}the loop stopped ({reason}), but the stop could not be recorded in state.json",
        first.as_deref().map(|e| format!("{}; ", error_chain(e))).unwrap_or_default()
    )]
    StopNotRecorded {
        /// Why the loop stopped.
        reason: StopReason,
        /// The error that stopped the loop, when one did (reported first).
        first: Option<Box<EngineError>>,
        /// Why the state could not be written.
        #[source]
        record: StateError,
    },
}

impl From<InvokeError> for EngineError {
    fn from(e: InvokeError) -> Self {
        match e {
            InvokeError::Agent(e) => Self::Agent(e),
            InvokeError::Io(e) => Self::Io(e),
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
