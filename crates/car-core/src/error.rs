//! The crate-wide error type that collects each module's own error.

use thiserror::Error;

/// Any error the engine returns; each variant wraps one module's error type.
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
    State(#[from] crate::state::StateError),
    /// The agent could not be started or supervised.
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::fs_util::PathError),
    /// The loop failed.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// `init` failed.
    #[error(transparent)]
    Init(#[from] crate::control::InitError),
}
