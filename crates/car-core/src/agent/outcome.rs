//! What one agent process was given as limits, and how it ended.

use std::time::{Duration, Instant};

/// The process that was started for a run, as given to `on_start`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    /// Its pid (the agent's process group when not supervised).
    pub pid: u32,
    /// Whether it is the run's supervisor (else the agent itself).
    pub supervised: bool,
}

/// Why the agent's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndCause {
    /// It exited by itself.
    Exited,
    /// The deadline (wall-clock limit) passed and it was stopped.
    TimedOut,
    /// No progress for the idle timeout; it was stopped.
    Idle,
    /// A stop was requested and it was stopped.
    Stopped,
}

/// How the process ended: exit code or signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// Exited with a code.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl ExitKind {
    /// Returns the Python program's convention: the code, or minus the signal.
    pub(crate) fn as_code(self) -> i32 {
        match self {
            Self::Code(c) => c,
            Self::Signal(s) => -s,
        }
    }
}

/// Limits applied while the agent runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Stop the agent at this instant.
    pub deadline: Option<Instant>,
    /// Stop the agent when it makes no progress for this long (see
    /// [`OutputLog::take_progress`]).
    pub idle_timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// What happened to one agent process.
#[derive(Debug, Clone)]
pub(crate) struct AgentOutcome {
    /// Exit code or signal.
    pub exit: ExitKind,
    /// Why it ended.
    pub cause: EndCause,
    /// Whether SIGKILL was needed.
    pub escalated: bool,
    /// The group id (= pid) the agent ran under.
    pub pgid: u32,
    /// Bytes read from stdout.
    pub stdout_bytes: u64,
    /// Bytes read from stderr.
    pub stderr_bytes: u64,
    /// The last bytes of stdout, decoded lossily.
    pub stdout_tail: String,
    /// How long it ran.
    pub duration: Duration,
}
