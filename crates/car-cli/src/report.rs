//! Printing errors for people and mapping them to exit codes, in one place.

use car_core::Error;
use car_core::agent::AgentError;
use car_core::engine::EngineError;

use crate::{EXIT_FAILURE, EXIT_USAGE};

/// Prints the error and its causes to stderr.
pub(crate) fn print_error(e: &anyhow::Error) {
    eprintln!("car: error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// Returns the exit code for an error (see the table in lib.rs).
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<car_core::config::ConfigError>()
            || cause.is::<car_core::prompt::PromptError>()
            || matches!(
                cause.downcast_ref::<AgentError>(),
                Some(AgentError::NotFound { .. })
            )
            || cause.is::<UsageError>()
        {
            return EXIT_USAGE;
        }
        if let Some(EngineError::Agent(AgentError::NotFound { .. }) | EngineError::Prompt(_)) =
            cause.downcast_ref::<EngineError>()
        {
            return EXIT_USAGE;
        }
        if let Some(
            Error::Config(_) | Error::Prompt(_) | Error::Agent(AgentError::NotFound { .. }),
        ) = cause.downcast_ref::<Error>()
        {
            return EXIT_USAGE;
        }
        if let Some(
            car_core::control::InitError::Config(_) | car_core::control::InitError::NoGit { .. },
        ) = cause.downcast_ref::<car_core::control::InitError>()
        {
            return EXIT_USAGE;
        }
    }
    EXIT_FAILURE
}

/// A mistake in how car was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);
