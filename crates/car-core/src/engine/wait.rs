//! Waiting between runs: a pause that ends early on a stop request, the
//! stop file or the time limit, and the wait for a usage window to reset.

use std::time::{Duration, Instant};

use super::decide::{self, Policy};
use super::driver::Engine;
use super::error::EngineError;
use super::event::EventSink;
use crate::event::LoopEvent;
use crate::state::Status;
use crate::stop::{StopHandle, StopLevel};
use crate::time;

/// How often the stop file is checked while sleeping between runs.
const STOP_POLL: Duration = Duration::from_millis(100);

impl Engine {
    /// Sleeps for `d`, but not past `deadline` nor a stop.
    pub(super) async fn sleep(&self, d: Duration, stop: &StopHandle, deadline: Option<Instant>) {
        let mut until = time::deadline_in(d);
        if let Some(dl) = deadline {
            until = until.min(dl);
        }
        let mut rx = stop.subscribe();
        while Instant::now() < until {
            if rx.borrow_and_update().level != StopLevel::None || self.paths.stop_file().exists() {
                return;
            }
            let step = STOP_POLL.min(until.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = rx.changed() => {}
                () = tokio::time::sleep(step) => {}
            }
        }
    }

    /// Sleeps until the usage window resets (capped), recording the wait.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; grouping would only rename the list"
    )]
    pub(super) async fn wait_for_quota(
        &self,
        run_id: u64,
        reset: Option<chrono::DateTime<chrono::Local>>,
        message: &str,
        policy: &Policy,
        stop: &StopHandle,
        events: &EventSink,
        deadline: Option<Instant>,
    ) -> Result<(), EngineError> {
        let wait = decide::quota_wait(policy, reset, chrono::Local::now());
        let until = time::iso_seconds(
            chrono::Duration::from_std(wait)
                .ok()
                .and_then(|w| time::now().checked_add_signed(w))
                .unwrap_or_else(time::now),
        );
        let reset_at = until.clone();
        self.update_transient(move |s| {
            s.status = Status::WaitingForQuota;
            s.quota_reset_at = Some(reset_at);
        })
        .await?;
        let waiting = LoopEvent::WaitingForQuota {
            until,
            wait_ms: wait.as_millis() as u64,
            reset_at: reset.map(|t| t.to_rfc3339()),
            message: message.to_string(),
        };
        self.emit(events, Some(run_id), waiting).await;
        tracing::info!(run_id, ?wait, "usage limit reached; waiting for the reset");
        self.sleep(wait, stop, deadline).await;
        self.update_transient(|s| {
            s.status = Status::Running;
            s.quota_reset_at = None;
        })
        .await?;
        Ok(())
    }
}
