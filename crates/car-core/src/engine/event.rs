//! What a loop tells its caller: events as they happen, and how it ended.

use std::sync::Arc;
use std::time::Duration;

use crate::docs::TodoStatus;
use crate::record::{RunKind, RunOutcome, RunRecord};
use crate::state::StopReason;

/// Something that happened in the loop, for a printer or an embedding program.
#[derive(Debug, Clone)]
pub enum Event {
    /// The loop took the lock and starts.
    LoopStarted {
        /// Runs allowed in this invocation, if limited.
        max_runs: Option<u64>,
    },
    /// A run starts.
    RunStarted {
        /// Its id.
        run_id: u64,
        /// Loop or summary.
        kind: RunKind,
        /// The TODO before it.
        todo: TodoStatus,
    },
    /// A run ended and was recorded.
    RunFinished {
        /// The record written to `run.json`.
        record: Box<RunRecord>,
    },
    /// The loop sleeps before the next run.
    Sleeping {
        /// For how long.
        duration: Duration,
    },
    /// A transient failure: the run is retried after a pause.
    Retrying {
        /// Which retry (1-based).
        attempt: u32,
        /// Retries allowed.
        of: u32,
        /// The pause.
        delay: Duration,
        /// The agent's message.
        reason: String,
    },
    /// The agent's usage window is used up; the loop waits for it to reset.
    WaitingForQuota {
        /// The wait.
        wait: Duration,
        /// When the wait ends (UTC, RFC 3339).
        until: String,
        /// The agent's message.
        message: String,
    },
    /// The agent asked a person something.
    NeedsInput {
        /// The run that asked.
        run_id: u64,
        /// The question.
        question: String,
    },
    /// Something the user should know that does not stop the loop.
    Warning {
        /// What.
        message: String,
    },
    /// The loop stopped.
    Stopped {
        /// Why.
        reason: StopReason,
        /// Details.
        detail: Option<String>,
        /// Who asked for the stop, when someone did.
        requested_by: Option<crate::stop::RequestedBy>,
        /// Where the request came from (a terminal, a unit, ...), when known.
        origin: Option<String>,
    },
}

/// Receives loop events; called on the loop's task, so keep it quick.
pub(crate) type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// How a loop ended.
#[derive(Debug, Clone)]
pub struct LoopSummary {
    /// Why it stopped.
    pub reason: StopReason,
    /// Details (the limit, the last error).
    pub detail: Option<String>,
    /// Runs made by this invocation.
    pub runs: u64,
    /// The last run id.
    pub last_run_id: Option<u64>,
    /// How the last run of this invocation ended.
    pub last_outcome: Option<RunOutcome>,
}
