//! The on-disk side of a stop request: the stop file (honoured between
//! runs) carries who asked, and a request to a live runner is announced in
//! `state.json` before any signal, so the runner records who asked.

use serde::{Deserialize, Serialize};

use crate::fs_util::{PathError, read_optional, write_atomic};
use crate::paths::RepoPaths;
use crate::state::{StateError, StateStore};
use crate::stop::{PendingStop, Requester, StopKind};
use crate::time;

/// The content of the stop file: when and by whom the stop was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopFileContent {
    /// When (UTC).
    pub requested_at: String,
    /// Who asked.
    #[serde(flatten)]
    pub by: Requester,
}

/// Writes the stop file: a running loop stops after its current run.
pub(crate) fn write_stop_file(paths: &RepoPaths, by: &Requester) -> Result<(), PathError> {
    let content = StopFileContent {
        requested_at: time::iso_seconds(time::now()),
        by: by.clone(),
    };
    let mut text = serde_json::to_string(&content).unwrap_or_default();
    text.push('\n');
    write_atomic(&paths.stop_file(), text.as_bytes())
}

/// Reads the stop file: `None` when there is none; a file of an older car
/// (a timestamp) or written by hand reads as a request from the command line.
pub(crate) fn read_stop_file(paths: &RepoPaths) -> Result<Option<StopFileContent>, PathError> {
    let Some(bytes) = read_optional(&paths.stop_file())? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        StopFileContent {
            requested_at: String::from_utf8_lossy(&bytes).trim().to_string(),
            by: Requester::default(),
        }
    })))
}

/// Announces a stop of the runner `pid` in `state.json`: when it stops for
/// this request, its stop records `by`. Call it before signalling.
pub(crate) fn announce(
    paths: &RepoPaths,
    pid: u32,
    kind: StopKind,
    by: &Requester,
) -> Result<(), StateError> {
    StateStore::new(paths).update(|s| {
        // A stronger request already announced for this runner stays.
        let stronger = s
            .stop_request
            .as_ref()
            .is_some_and(|p| p.runner_pid == pid && rank(p.kind) > rank(kind));
        if !stronger {
            s.stop_request = Some(PendingStop {
                by: by.clone(),
                kind,
                runner_pid: pid,
                requested_at: time::iso_seconds(time::now()),
            });
        }
    })?;
    Ok(())
}

fn rank(kind: StopKind) -> u8 {
    match kind {
        StopKind::AfterRun => 0,
        StopKind::Now => 1,
        StopKind::Kill => 2,
    }
}
