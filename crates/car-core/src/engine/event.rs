//! What a loop tells its caller: events as they happen, and how it ended.

use std::sync::Arc;

use crate::event::EventEnvelope;
use crate::record::RunOutcome;
use crate::state::StopReason;

/// What an observer of a loop receives: a [`LoopEvent`](crate::LoopEvent)
/// in its envelope, numbered as the ledger wrote it (`seq` is `None` only
/// when the ledger could not be written).
pub type Event = EventEnvelope;

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
