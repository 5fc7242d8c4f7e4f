//! The hub's ledger (`.codex-autorunner/hub/events.jsonl`): one JSON line
//! per thing the supervisor did (started, adopted, restarted, gave up on a
//! loop), so a person (or a test) can see afterwards why a loop ran when.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::queue::hub_dir;
use crate::fs_util::{IoResultExt, open_append};
use crate::hub::{Hub, HubError};

/// One line of the hub's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubEvent {
    /// When (UTC, milliseconds).
    pub ts: String,
    /// What: `supervisor_started`, `loop_started`, `loop_adopted`,
    /// `loop_stopped`, `restart_scheduled`, `gave_up`, `notified`,
    /// `start_failed`, `supervisor_stopped`.
    pub event: String,
    /// The repository concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// A sentence or a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The runner's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl Hub {
    /// Appends one event to the hub's ledger.
    pub fn record_event(
        &self,
        event: &str,
        repo: Option<&str>,
        detail: Option<String>,
        pid: Option<u32>,
    ) -> Result<(), HubError> {
        let line = HubEvent {
            ts: crate::time::iso_millis(crate::time::now()),
            event: event.into(),
            repo: repo.map(String::from),
            detail,
            pid,
        };
        let path = hub_dir(self.root()).join("events.jsonl");
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        let mut f = open_append(&path)?;
        f.write_all(text.as_bytes())
            .with_path("cannot write", &path)?;
        Ok(())
    }

    /// Every event of the hub's ledger, oldest first (lines that cannot be
    /// read are skipped).
    pub fn hub_events(&self) -> Result<Vec<HubEvent>, HubError> {
        let path = hub_dir(self.root()).join("events.jsonl");
        let text = crate::fs_util::read_optional(&path)?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}
