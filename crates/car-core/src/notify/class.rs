//! What a notification is about: the classes a person can choose to hear
//! of (`notifications.events`), derived from loop events.

use serde::{Deserialize, Serialize};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyClass {
    /// The agent asked a person something, or the loop is blocked.
    NeedsInput,
    /// The loop completed its TODO.
    Completed,
    /// The loop stopped on a failure (or an error, or a full disk).
    Failed,
    /// The loop stopped making progress.
    Stalled,
    /// A run hung (no output for too long).
    Hung,
    /// The loop stopped: the agent's quota is used up.
    QuotaExhausted,
    /// The loop waits for the agent's usage window to reset.
    WaitingForQuota,
    /// The loop reached its token budget.
    Budget,
    /// The loop was killed or interrupted.
    Killed,
    /// A run finished well.
    RunFinished,
    /// A run failed or timed out.
    RunFailed,
    /// Notifications held during quiet hours, sent as one.
    Digest,
    /// A test message (`car notify test`).
    Test,
}

impl NotifyClass {
    /// The name used in `notifications.events` and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NeedsInput => "needs_input",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Stalled => "stalled",
            Self::Hung => "hung",
            Self::QuotaExhausted => "quota_exhausted",
            Self::WaitingForQuota => "waiting_for_quota",
            Self::Budget => "budget",
            Self::Killed => "killed",
            Self::RunFinished => "run_finished",
            Self::RunFailed => "run_failed",
            Self::Digest => "digest",
            Self::Test => "test",
        }
    }
}

impl std::fmt::Display for NotifyClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classes_a_person_chooses_by_default_are_ones_car_sends() {
        let resolved = crate::config::load(
            &crate::paths::RepoPaths::new("/nonexistent-car-test"),
            &Default::default(),
        )
        .unwrap();
        let chosen = &resolved.config.notifications.events;
        assert!(chosen.len() > 5, "{chosen:?}");
        for name in chosen {
            let class: NotifyClass = serde_json::from_value(serde_json::json!(name))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(class.as_str(), name.as_str());
            assert_eq!(serde_json::to_value(class).unwrap(), name.as_str());
        }
    }
}
