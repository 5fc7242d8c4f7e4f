//! Printing errors for people and mapping them to exit codes, in one place.

use car_core::{AgentError, EngineError, Error};

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
    let usage = e.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause.is::<car_core::ConfigError>()
            || cause.is::<car_core::PromptError>()
            || cause
                .downcast_ref::<AgentError>()
                .is_some_and(agent_not_found)
            || cause
                .downcast_ref::<EngineError>()
                .is_some_and(engine_usage)
            || cause
                .downcast_ref::<car_core::InitError>()
                .is_some_and(init_usage)
            || cause
                .downcast_ref::<car_core::IngestError>()
                .is_some_and(|e| match e {
                    car_core::IngestError::SpecMissing { .. }
                    | car_core::IngestError::SpecEmpty { .. }
                    | car_core::IngestError::NotEmpty { .. } => true,
                    car_core::IngestError::Job(j) => job_usage(j),
                    _ => false,
                })
            || cause
                .downcast_ref::<car_core::SnapshotError>()
                .is_some_and(|e| match e {
                    car_core::SnapshotError::Job(j) => job_usage(j),
                    _ => false,
                })
            || cause.downcast_ref::<Error>().is_some_and(|e| match e {
                Error::Config(_) | Error::Prompt(_) => true,
                Error::Agent(a) => agent_not_found(a),
                Error::Engine(en) => engine_usage(en),
                Error::Init(i) => init_usage(i),
                _ => false,
            })
    });
    if usage { EXIT_USAGE } else { EXIT_FAILURE }
}

fn job_usage(e: &car_core::JobError) -> bool {
    matches!(e, car_core::JobError::Engine(en) if engine_usage(en))
}

fn agent_not_found(e: &AgentError) -> bool {
    matches!(e, AgentError::NotFound { .. })
}

fn engine_usage(e: &EngineError) -> bool {
    match e {
        EngineError::Agent(a) => agent_not_found(a),
        EngineError::Prompt(_) => true,
        _ => false,
    }
}

fn init_usage(e: &car_core::InitError) -> bool {
    matches!(
        e,
        car_core::InitError::Config(_) | car_core::InitError::NoGit { .. }
    )
}

/// Returns the holder when the error says another runner holds the lock.
pub(crate) fn lock_held(e: &anyhow::Error) -> Option<Option<car_core::LockInfo>> {
    e.chain().find_map(|cause| {
        let lock = cause
            .downcast_ref::<car_core::LockError>()
            .or_else(|| match cause.downcast_ref::<EngineError>() {
                Some(EngineError::Lock(l)) => Some(l),
                _ => None,
            })
            .or_else(|| match cause.downcast_ref::<Error>() {
                Some(Error::Lock(l)) | Some(Error::Engine(EngineError::Lock(l))) => Some(l),
                _ => None,
            })?;
        match lock {
            car_core::LockError::Held { holder, .. } => Some(holder.clone()),
            car_core::LockError::Io(_) => None,
        }
    })
}

/// A mistake in how car was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);
