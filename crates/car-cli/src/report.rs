//! Printing errors and advice for people and mapping them to exit codes, in
//! one place: the library's errors carry a kind and a hint; this file turns
//! them into the command line's words and codes.

use car_core::{Error, ErrorKind, Hint, StopReason};

use crate::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_NEEDS_PERSON, EXIT_OK, EXIT_USAGE};

/// Prints the error, its causes and the advice for it to stderr.
pub(crate) fn print_error(e: &anyhow::Error) {
    eprintln!("car: error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(h) = library_error(e).and_then(Error::hint) {
        eprintln!("  hint: {}", advice(h));
    }
}

/// Returns the exit code for an error (see the table in lib.rs).
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|cause| cause.is::<UsageError>()) {
        return EXIT_USAGE;
    }
    match library_error(e).map(Error::kind) {
        Some(kind) => kind_exit_code(kind),
        None => EXIT_FAILURE,
    }
}

/// Returns the exit code for a kind of library error: a mistake in how car
/// was asked or configured is a usage error; the rest are failures.
pub(crate) fn kind_exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::User | ErrorKind::Config => EXIT_USAGE,
        ErrorKind::Busy | ErrorKind::Agent | ErrorKind::Io | ErrorKind::Internal => EXIT_FAILURE,
    }
}

/// Returns the exit code of a loop that stopped for `reason`.
pub(crate) fn stop_exit_code(reason: StopReason) -> u8 {
    match reason {
        StopReason::Completed
        | StopReason::RunLimit
        | StopReason::Wallclock
        | StopReason::StopRequested
        | StopReason::Budget => EXIT_OK,
        StopReason::Failed
        | StopReason::Stalled
        | StopReason::TodoInvalid
        | StopReason::Error
        | StopReason::Crashed
        | StopReason::QuotaExhausted
        | StopReason::DiskFull => EXIT_FAILURE,
        StopReason::NeedsInput | StopReason::Blocked => EXIT_NEEDS_PERSON,
        StopReason::Interrupted | StopReason::Killed => EXIT_INTERRUPTED,
    }
}

/// Returns the advice of a hint in the command line's words.
pub(crate) fn advice(h: Hint) -> &'static str {
    match h {
        Hint::AnswerThenResume => "answer with `car reply \"...\"`, then `car resume`",
        Hint::InstallCodex => {
            "install Codex (`npm install -g @openai/codex`) or set codex.binary to its path"
        }
        Hint::UpgradeCodex => "upgrade it: `npm install -g @openai/codex`",
        Hint::FreeSpaceThenResume => "free space on that file system, then `car resume`",
        Hint::WaitOrStopRunner => "wait for it, or stop it with `car kill`",
        Hint::CheckPlanThenResume => "check your plan and billing, then `car resume`",
        Hint::InitRepo => "run `car init` first",
        Hint::ReinitRepo => "run `car init` to replace it (a backup is kept)",
        Hint::InitGit => "rerun with --git-init to create one",
        Hint::WriteTodo => {
            "add your own tasks as `- [ ] task` lines (`car edit todo`), or run `car ingest-spec`"
        }
        Hint::WriteSpec => "write what must be true first (or pass --spec PATH)",
        Hint::AllowOverwrite => "rerun with --force to overwrite them (each is backed up first)",
        Hint::RepairState => "`car status` repairs it",
        Hint::WaitForTask => {
            "follow it with `car task logs ID -f`, or stop it with `car task abort ID`"
        }
    }
}

/// Returns the library error in the error's chain, when there is one.
fn library_error(e: &anyhow::Error) -> Option<&Error> {
    e.chain().find_map(|cause| cause.downcast_ref::<Error>())
}

/// Returns the holder when the error says another runner holds the lock.
pub(crate) fn lock_held(e: &anyhow::Error) -> Option<Option<car_core::LockInfo>> {
    match library_error(e)? {
        Error::Lock(car_core::LockError::Held { holder, .. }) => Some(holder.clone()),
        _ => None,
    }
}

/// A mistake in how car was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
