//! Stop requests: how a signal handler, `car kill` or an embedding program
//! asks a running loop to stop.

use tokio::sync::watch;

/// How urgently to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum StopLevel {
    /// Keep going.
    #[default]
    None,
    /// Stop: terminate the agent's process group (SIGTERM, then SIGKILL after
    /// the grace period) and record the run.
    Graceful,
    /// Stop now: SIGKILL the agent's process group at once.
    Immediate,
}

/// Why the stop was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopCause {
    /// Ctrl-C (SIGINT).
    #[default]
    Interrupted,
    /// SIGTERM (`car kill`, a service manager).
    Killed,
}

/// The current stop request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopRequest {
    /// How urgently.
    pub level: StopLevel,
    /// Why.
    pub cause: StopCause,
}

/// Sends stop requests to a running loop; cheap to clone.
///
/// ```
/// use car_core::{StopCause, StopHandle, StopLevel};
///
/// let stop = StopHandle::new();
/// // First Ctrl-C: stop gracefully (SIGTERM to the agent, SIGKILL after the grace period).
/// assert_eq!(stop.escalate(StopCause::Interrupted), StopLevel::Graceful);
/// // Second: kill the agent now.
/// assert_eq!(stop.escalate(StopCause::Interrupted), StopLevel::Immediate);
/// ```
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: watch::Sender<StopRequest>,
}

impl Default for StopHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl StopHandle {
    /// Creates a handle with no stop requested.
    pub fn new() -> Self {
        Self {
            tx: watch::channel(StopRequest::default()).0,
        }
    }

    /// Requests a stop; a request never lowers the level of an earlier one.
    pub fn request(&self, level: StopLevel, cause: StopCause) {
        self.tx.send_if_modified(|cur| {
            if level > cur.level {
                *cur = StopRequest { level, cause };
                true
            } else {
                false
            }
        });
    }

    /// Escalates: the first call asks for a graceful stop, later calls for an
    /// immediate one. Returns the new level.
    pub fn escalate(&self, cause: StopCause) -> StopLevel {
        let next = match self.current().level {
            StopLevel::None => StopLevel::Graceful,
            _ => StopLevel::Immediate,
        };
        self.request(next, cause);
        next
    }

    /// Returns the current request.
    pub fn current(&self) -> StopRequest {
        *self.tx.borrow()
    }

    /// Returns a receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<StopRequest> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_goes_graceful_then_immediate_and_never_down() {
        let h = StopHandle::new();
        assert_eq!(h.escalate(StopCause::Interrupted), StopLevel::Graceful);
        assert_eq!(h.escalate(StopCause::Interrupted), StopLevel::Immediate);
        h.request(StopLevel::Graceful, StopCause::Killed);
        assert_eq!(h.current().level, StopLevel::Immediate);
    }
}
