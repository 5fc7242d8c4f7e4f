//! [`EventEnvelope`]: a [`LoopEvent`] with where it stands in the stream.
//! One envelope is exactly one ledger line.

use serde::{Deserialize, Serialize};

use super::LoopEvent;

/// The ledger's line format version (`v`). It changes only when a line
/// changes incompatibly; new types and new fields keep it.
pub const LEDGER_VERSION: u32 = 1;

/// A [`LoopEvent`] in its envelope: `{v, seq, ts, run_id, repo?}` and the
/// event's `type` and fields, flattened, as written to the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// The line format version ([`LEDGER_VERSION`]).
    #[serde(default = "version_one")]
    pub v: u32,
    /// The event's number in its repository: from 1, without gaps, across
    /// ledger rotations. `None` on lines written before it existed, and
    /// for an event the ledger could not record.
    #[serde(default)]
    pub seq: Option<u64>,
    /// When it happened (UTC, RFC 3339 with milliseconds).
    #[serde(default)]
    pub ts: String,
    /// The run concerned, when there is one.
    #[serde(default)]
    pub run_id: Option<u64>,
    /// The repository, when a reader merging several ledgers names it
    /// (never written to a repository's own ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub event: LoopEvent,
}

fn version_one() -> u32 {
    1
}

impl EventEnvelope {
    /// An envelope for `event` happening now, not numbered yet.
    pub fn now(run_id: Option<u64>, event: LoopEvent) -> Self {
        Self {
            v: LEDGER_VERSION,
            seq: None,
            ts: crate::time::iso_millis(crate::time::now()),
            run_id,
            repo: None,
            event,
        }
    }

    /// The line as JSON (what `car events --json` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Parses one ledger line: `None` when it is not a JSON object with a
/// `type`. A type this version does not know is [`LoopEvent::Unknown`].
pub fn parse_line(line: &str) -> Option<EventEnvelope> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if !v.get("type").is_some_and(serde_json::Value::is_string) {
        return None;
    }
    match serde_json::from_value::<EventEnvelope>(v.clone()) {
        Ok(e) => Some(e),
        // A known type with fields this version cannot read: kept whole.
        Err(_) => {
            let serde_json::Value::Object(mut map) = v else {
                return None;
            };
            let take = |map: &mut serde_json::Map<String, serde_json::Value>, k: &str| {
                map.remove(k).unwrap_or(serde_json::Value::Null)
            };
            Some(EventEnvelope {
                v: take(&mut map, "v").as_u64().map_or(1, |n| n as u32),
                seq: take(&mut map, "seq").as_u64(),
                ts: take(&mut map, "ts")
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                run_id: take(&mut map, "run_id").as_u64(),
                repo: take(&mut map, "repo").as_str().map(str::to_string),
                event: LoopEvent::Unknown(map),
            })
        }
    }
}

/// `car events --since RUN`: keeps the events of run RUN and later, and the
/// events without a run id (`loop_started`, ...) once run RUN or a later one
/// has appeared. Feed it the events in ledger order.
#[derive(Debug, Clone, Copy)]
pub struct SinceFilter {
    since: Option<u64>,
    reached: bool,
}

impl SinceFilter {
    /// A filter from run `since` on (`None`: keeps everything).
    pub fn new(since: Option<u64>) -> Self {
        Self {
            since,
            reached: since.is_none(),
        }
    }

    /// Returns whether `event` is kept.
    pub fn keep(&mut self, event: &EventEnvelope) -> bool {
        match (self.since, event.run_id) {
            (None, _) => true,
            (Some(min), Some(id)) => {
                self.reached |= id >= min;
                id >= min
            }
            (Some(_), None) => self.reached,
        }
    }
}
