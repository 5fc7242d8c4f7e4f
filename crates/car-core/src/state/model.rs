//! The content of `state.json`, and how a stop is recorded in it.

use serde::{Deserialize, Serialize};

use crate::codex::TokenUsage;
use crate::stop::{PendingStop, RequestedBy, SIGNAL_STOP_DETAIL, StopCause};

use super::{Status, StopReason};

/// The content of `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The id of the last run started.
    #[serde(default)]
    pub last_run_id: Option<u64>,
    /// The coarse status.
    #[serde(default)]
    pub status: Status,
    /// The last run's exit code (negative: killed by that signal).
    #[serde(default)]
    pub last_exit_code: Option<i32>,
    /// When the last run started (UTC, second precision).
    #[serde(default)]
    pub last_run_started_at: Option<String>,
    /// When the last run finished; null while it runs.
    #[serde(default)]
    pub last_run_finished_at: Option<String>,
    /// The pid of the runner while it is running.
    #[serde(default)]
    pub runner_pid: Option<u32>,
    /// The Python program's terminal sessions registry, kept as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<serde_json::Value>,
    /// The Python program's repo-to-session map, kept as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_to_session: Option<serde_json::Value>,
    /// Version of car's fields.
    #[serde(default)]
    pub car_state_version: u32,
    /// Why the last loop stopped.
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// A sentence about the stop (the error, the limit).
    #[serde(default)]
    pub stop_detail: Option<String>,
    /// Who asked for the last stop (cli, api, bot, schedule); none when the
    /// loop stopped by itself.
    #[serde(default)]
    pub stop_requested_by: Option<RequestedBy>,
    /// Where that request came from (a terminal, an ssh session, a unit).
    #[serde(default)]
    pub stop_origin: Option<String>,
    /// A stop asked of the running loop by another process, not yet honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_request: Option<PendingStop>,
    /// The host of the runner while it runs.
    #[serde(default)]
    pub runner_host: Option<String>,
    /// What started the runner: a systemd unit, a launchd job, cron, a terminal.
    #[serde(default)]
    pub runner_started_by: Option<String>,
    /// The runner's start time (clock ticks since boot), against pid reuse.
    #[serde(default)]
    pub runner_pid_start: Option<u64>,
    /// The agent's process group while a run is in progress.
    #[serde(default)]
    pub agent_pgid: Option<u32>,
    /// The agent group leader's start time, against pid reuse.
    #[serde(default)]
    pub agent_pgid_start: Option<u64>,
    /// The run's supervisor process while a run is in progress (recorded
    /// before the agent starts; it owns the agent's whole process tree).
    #[serde(default)]
    pub agent_supervisor_pid: Option<u32>,
    /// The supervisor's start time, against pid reuse.
    #[serde(default)]
    pub agent_supervisor_start: Option<u64>,
    /// When the current (or last) loop started.
    #[serde(default)]
    pub loop_started_at: Option<String>,
    /// Runs made by the current (or last) loop.
    #[serde(default)]
    pub loop_runs: u64,
    /// Failed runs in a row.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Runs in a row that changed nothing.
    #[serde(default)]
    pub no_progress_runs: u32,
    /// The last run's outcome (`ok`, `failed`, ...).
    #[serde(default)]
    pub last_outcome: Option<String>,
    /// The last run's duration in milliseconds.
    #[serde(default)]
    pub last_run_duration_ms: Option<u64>,
    /// TODO items done after the last run.
    #[serde(default)]
    pub todo_done: Option<usize>,
    /// TODO items in all after the last run.
    #[serde(default)]
    pub todo_total: Option<usize>,
    /// Tokens used by every run so far (kept across loops; `runner.max_tokens` counts these).
    #[serde(default)]
    pub tokens: TokenUsage,
    /// Tokens used by the last run.
    #[serde(default)]
    pub last_run_tokens: Option<TokenUsage>,
    /// Tokens used by the current (or last) loop.
    #[serde(default)]
    pub loop_tokens: TokenUsage,
    /// An open question of the agent for a person.
    #[serde(default)]
    pub pending_question: Option<PendingQuestion>,
    /// A person's answer, given to the next run.
    #[serde(default)]
    pub user_reply: Option<UserReply>,
    /// When the usage window resets, while waiting for it.
    #[serde(default)]
    pub quota_reset_at: Option<String>,
    /// `codex --version`, as last checked.
    #[serde(default)]
    pub codex_version: Option<String>,
    /// Set when the last run overflowed the context window: the next prompt
    /// leaves out the previous output.
    #[serde(default)]
    pub drop_prev_output: bool,
}

impl State {
    /// Records that the loop stopped (by itself, or found dead or killed by
    /// another car process): the status, the reason, who asked, and no
    /// runner or agent. A pending request of another process that this
    /// stop honours names who asked; a stop by signal nobody announced is
    /// a person's (cli); a loop that stopped by itself names nobody.
    pub(crate) fn record_stop(&mut self, reason: StopReason, mut detail: Option<String>) {
        let pending = self
            .stop_request
            .take()
            .filter(|p| Some(p.runner_pid) == self.runner_pid && p.kind.explains(reason));
        let cause = match reason {
            StopReason::Killed => Some(StopCause::Killed),
            StopReason::Interrupted => Some(StopCause::Interrupted),
            _ => None,
        };
        let by = match (pending, cause) {
            (Some(p), Some(cause)) => {
                // The loop describes every SIGTERM alike: say who sent it.
                if detail.as_deref() == Some(SIGNAL_STOP_DETAIL) {
                    detail = Some(cause.detail(Some(&p.by)));
                }
                Some(p.by)
            }
            (Some(p), None) => Some(p.by),
            (None, Some(cause)) => Some(cause.unannounced()),
            (None, None) if reason == StopReason::StopRequested => {
                Some(crate::stop::Requester::default())
            }
            (None, None) => None,
        };
        self.stop_requested_by = by.as_ref().map(|b| b.requested_by);
        self.stop_origin = by.and_then(|b| b.origin);
        self.status = reason.status();
        self.stop_reason = Some(reason);
        self.stop_detail = detail;
        self.runner_pid = None;
        self.runner_host = None;
        self.agent_pgid = None;
        self.agent_supervisor_pid = None;
        self.agent_supervisor_start = None;
        self.quota_reset_at = None;
        self.last_run_finished_at
            .get_or_insert_with(|| crate::time::iso_seconds(crate::time::now()));
    }
}

/// A question the agent asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingQuestion {
    /// The run that asked.
    pub run_id: u64,
    /// The question.
    pub question: String,
    /// When (UTC).
    pub asked_at: String,
}

/// A person's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReply {
    /// The answer.
    pub text: String,
    /// When it was given (UTC).
    pub replied_at: String,
    /// The question it answers, when there was one.
    #[serde(default)]
    pub question: Option<String>,
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::state) fn pending(kind: crate::stop::StopKind, pid: u32) -> PendingStop {
        PendingStop {
            by: crate::stop::Requester::new(RequestedBy::Api, "test"),
            kind,
            runner_pid: pid,
            requested_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_pending_request_names_who_asked_for_the_stop_it_explains() {
        use crate::stop::StopKind;
        let mut s = State {
            runner_pid: Some(7),
            stop_request: Some(pending(StopKind::Now, 7)),
            ..State::default()
        };
        s.record_stop(StopReason::Killed, Some(SIGNAL_STOP_DETAIL.into()));
        assert_eq!(s.stop_requested_by, Some(RequestedBy::Api));
        assert_eq!(s.stop_origin.as_deref(), Some("test"));
        assert_eq!(
            s.stop_detail.as_deref(),
            Some("stopped at the request of api (test)")
        );
        assert_eq!(s.stop_request, None);

        // Another runner's request, or one this stop does not honour, is
        // dropped: the stop is a signal nobody announced.
        for p in [pending(StopKind::Now, 8), pending(StopKind::AfterRun, 7)] {
            let mut s = State {
                runner_pid: Some(7),
                stop_request: Some(p),
                ..State::default()
            };
            s.record_stop(StopReason::Killed, Some(SIGNAL_STOP_DETAIL.into()));
            assert_eq!(s.stop_requested_by, Some(RequestedBy::Cli));
            assert_eq!(s.stop_detail.as_deref(), Some(SIGNAL_STOP_DETAIL));
            assert_eq!(s.stop_request, None);
        }

        // A loop that stopped by itself names nobody.
        let mut s = State {
            stop_requested_by: Some(RequestedBy::Bot),
            ..State::default()
        };
        s.record_stop(StopReason::Completed, None);
        assert_eq!(s.stop_requested_by, None);
        assert_eq!(s.stop_origin, None);
    }
}
