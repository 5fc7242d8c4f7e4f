//! The runner's coarse status and why a loop stopped, as written to
//! `state.json`.

use serde::{Deserialize, Serialize};

/// The runner's coarse status (the Python program used idle/running/error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not running; the last loop stopped normally (or never ran).
    #[default]
    Idle,
    /// A runner is executing the loop.
    Running,
    /// The TODO is done and the summary was written.
    Completed,
    /// The last loop stopped on a failure.
    Error,
    /// The last loop was killed or interrupted.
    Killed,
    /// The loop waits for a usage window of the agent's plan to reset.
    WaitingForQuota,
    /// The loop stopped because the agent asked a person something.
    NeedsInput,
    /// A status written by another program version.
    #[serde(other)]
    Unknown,
}

impl Status {
    /// Returns the name written to the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Error => "error",
            Self::Killed => "killed",
            Self::WaitingForQuota => "waiting_for_quota",
            Self::NeedsInput => "needs_input",
            Self::Unknown => "unknown",
        }
    }
}

/// Why a loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every TODO item is checked and the summary run succeeded.
    Completed,
    /// The run limit of this invocation was reached.
    RunLimit,
    /// `runner.max_wallclock_seconds` passed.
    Wallclock,
    /// The stop file was found between runs.
    StopRequested,
    /// Ctrl-C.
    Interrupted,
    /// SIGTERM (a kill request, a service manager).
    Killed,
    /// `runner.max_consecutive_failures` failed runs in a row.
    Failed,
    /// `runner.no_progress_runs` runs in a row changed nothing.
    Stalled,
    /// The TODO has no checkbox at all, or cannot be read.
    TodoInvalid,
    /// The agent could not be started, or another error stopped the loop.
    Error,
    /// The runner died without recording why (found by `car status`).
    Crashed,
    /// The agent asked a person a question (answer it, then resume).
    NeedsInput,
    /// The agent's verdict says it is blocked.
    Blocked,
    /// The agent's plan or billing allows no more use.
    QuotaExhausted,
    /// `runner.max_tokens` was reached.
    Budget,
    /// A file could not be written for lack of space (or quota, or the
    /// file size limit); free space, then resume.
    DiskFull,
}

impl StopReason {
    /// Returns the name written to the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::RunLimit => "run_limit",
            Self::Wallclock => "wallclock",
            Self::StopRequested => "stop_requested",
            Self::Interrupted => "interrupted",
            Self::Killed => "killed",
            Self::Failed => "failed",
            Self::Stalled => "stalled",
            Self::TodoInvalid => "todo_invalid",
            Self::Error => "error",
            Self::Crashed => "crashed",
            Self::NeedsInput => "needs_input",
            Self::Blocked => "blocked",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Budget => "budget",
            Self::DiskFull => "disk_full",
        }
    }

    /// Returns the status a loop stopped for this reason leaves behind.
    pub fn status(self) -> Status {
        match self {
            Self::Completed => Status::Completed,
            Self::RunLimit | Self::Wallclock | Self::StopRequested | Self::Budget => Status::Idle,
            Self::Interrupted | Self::Killed => Status::Killed,
            Self::NeedsInput | Self::Blocked => Status::NeedsInput,
            Self::Failed
            | Self::Stalled
            | Self::TodoInvalid
            | Self::Error
            | Self::Crashed
            | Self::QuotaExhausted
            | Self::DiskFull => Status::Error,
        }
    }

    /// Returns what would help a person after a stop for this reason, when
    /// something would (front ends say it in their own words).
    pub fn hint(self) -> Option<crate::hint::Hint> {
        use crate::hint::Hint;
        match self {
            Self::NeedsInput => Some(Hint::AnswerThenResume),
            Self::TodoInvalid => Some(Hint::WriteTodo),
            Self::QuotaExhausted => Some(Hint::CheckPlanThenResume),
            Self::DiskFull => Some(Hint::FreeSpaceThenResume),
            Self::Completed
            | Self::RunLimit
            | Self::Wallclock
            | Self::StopRequested
            | Self::Interrupted
            | Self::Killed
            | Self::Failed
            | Self::Stalled
            | Self::Error
            | Self::Crashed
            | Self::Blocked
            | Self::Budget => None,
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_from_another_version_loads() {
        let s: crate::state::State =
            serde_json::from_str(r#"{"status": "waiting_for_something"}"#).unwrap();
        assert_eq!(s.status, Status::Unknown);
    }
}
