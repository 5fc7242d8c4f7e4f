//! Stop requests: how a signal handler, `car kill` or an embedding program
//! asks a running loop to stop, and who asked.

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::state::StopReason;

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

/// The stop detail of a loop stopped by SIGTERM from a person's shell or
/// `car kill` (unchanged for requests made from the command line).
pub(crate) const SIGNAL_STOP_DETAIL: &str = "stopped by SIGTERM";

/// The stop detail of a loop stopped by Ctrl-C.
pub(crate) const INTERRUPT_STOP_DETAIL: &str = "interrupted (Ctrl-C)";

impl StopCause {
    /// Returns the stop reason recorded for this cause.
    pub fn reason(self) -> StopReason {
        match self {
            Self::Interrupted => StopReason::Interrupted,
            Self::Killed => StopReason::Killed,
        }
    }

    /// Returns the stop detail to record when `by` asked for this stop
    /// (`None`: a signal nobody announced, taken as a person's from a shell).
    pub fn detail(self, by: Option<&Requester>) -> String {
        match (self, by) {
            (Self::Interrupted, _) => INTERRUPT_STOP_DETAIL.to_string(),
            (Self::Killed, None) => SIGNAL_STOP_DETAIL.to_string(),
            (Self::Killed, Some(r)) if r.requested_by == RequestedBy::Cli => {
                SIGNAL_STOP_DETAIL.to_string()
            }
            (Self::Killed, Some(r)) => format!("stopped at the request of {}", r.describe()),
        }
    }

    /// Returns who asked for a stop of this cause when no request was
    /// announced: a signal from a person (a shell, a terminal's Ctrl-C).
    pub fn unannounced(self) -> Requester {
        Requester {
            requested_by: RequestedBy::Cli,
            origin: Some(match self {
                Self::Interrupted => "Ctrl-C (SIGINT)".to_string(),
                Self::Killed => "a signal (SIGTERM or SIGHUP)".to_string(),
            }),
            user: None,
        }
    }
}

/// Which kind of front end asked for a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestedBy {
    /// A person at the command line (`car stop`, `car kill`, a signal).
    #[default]
    Cli,
    /// A program using this library (a server, a web UI).
    Api,
    /// A chat bot acting for a person.
    Bot,
    /// A scheduler (a time window, a budget policy).
    Schedule,
}

impl RequestedBy {
    /// Returns the name written to `state.json` and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Api => "api",
            Self::Bot => "bot",
            Self::Schedule => "schedule",
        }
    }
}

impl std::fmt::Display for RequestedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asks a loop to stop (or answers it): a kind of front end and a
/// free-text origin (a terminal, an ssh session, a systemd unit, a chat).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Requester {
    /// The kind of front end.
    pub requested_by: RequestedBy,
    /// Where the request came from, in words.
    #[serde(default)]
    pub origin: Option<String>,
    /// The server user it came as (a user token's, see `users`); none
    /// from the command line, the server's own token or a browser session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Requester {
    /// A requester of kind `by` with a free-text origin.
    pub fn new(by: RequestedBy, origin: impl Into<String>) -> Self {
        Self {
            requested_by: by,
            origin: Some(origin.into()).filter(|o: &String| !o.is_empty()),
            user: None,
        }
    }

    /// This requester, as the server user `user`.
    #[must_use]
    pub fn as_user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }

    /// A requester of kind `by` whose origin is what started this process
    /// (a systemd unit, a launchd job, cron, a terminal).
    pub fn this_process(by: RequestedBy) -> Self {
        Self::new(by, crate::control::started_by())
    }

    /// Describes the requester in words: `api (systemd unit car-web.service)`.
    pub fn describe(&self) -> String {
        let who = match &self.user {
            Some(u) => format!("{} user {u}", self.requested_by),
            None => self.requested_by.to_string(),
        };
        match &self.origin {
            Some(o) => format!("{who} ({o})"),
            None => who,
        }
    }
}

/// What a stop request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// Stop after the current run (the stop file).
    AfterRun,
    /// Stop now: the agent gets SIGTERM, then SIGKILL after the grace period.
    Now,
    /// Stop now and make sure: SIGKILL the runner if it does not stop in time.
    Kill,
}

impl StopKind {
    /// Whether a loop that stopped for `reason` honoured a request of this kind.
    pub(crate) fn explains(self, reason: StopReason) -> bool {
        match self {
            Self::AfterRun => reason == StopReason::StopRequested,
            Self::Now | Self::Kill => reason == StopReason::Killed,
        }
    }
}

/// A stop asked of a running loop by another process and not yet honoured
/// (kept in `state.json` so the runner can record who asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingStop {
    /// Who asked.
    #[serde(flatten)]
    pub by: Requester,
    /// What was asked for.
    pub kind: StopKind,
    /// The runner asked to stop.
    pub runner_pid: u32,
    /// When (UTC).
    pub requested_at: String,
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

    #[test]
    fn a_stop_asked_through_the_api_is_not_described_as_car_kill() {
        let api = Requester::new(RequestedBy::Api, "web ui");
        let detail = StopCause::Killed.detail(Some(&api));
        assert_eq!(detail, "stopped at the request of api (web ui)");
        let cli = Requester::new(RequestedBy::Cli, "bash on /dev/pts/1");
        assert_eq!(StopCause::Killed.detail(Some(&cli)), SIGNAL_STOP_DETAIL);
        assert_eq!(StopCause::Killed.detail(None), SIGNAL_STOP_DETAIL);
        assert_eq!(StopCause::Interrupted.detail(None), INTERRUPT_STOP_DETAIL);
        assert_eq!(StopCause::Killed.reason(), StopReason::Killed);
        assert_eq!(
            StopCause::Interrupted.unannounced().requested_by,
            RequestedBy::Cli
        );
    }

    #[test]
    fn requested_by_is_written_in_snake_case() {
        for (by, name) in [
            (RequestedBy::Cli, "\"cli\""),
            (RequestedBy::Api, "\"api\""),
            (RequestedBy::Bot, "\"bot\""),
            (RequestedBy::Schedule, "\"schedule\""),
        ] {
            assert_eq!(serde_json::to_string(&by).unwrap(), name);
            assert_eq!(serde_json::from_str::<RequestedBy>(name).unwrap(), by);
        }
    }
}
