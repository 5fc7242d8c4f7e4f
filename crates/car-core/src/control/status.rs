//! The status report of `car status`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::docs::{self, TodoStatus};
use crate::fs_util::read_optional;
use crate::lock::{self, LockInfo, LockStatus};
use crate::paths::RepoPaths;
use crate::record::{self, RunRecord};
use crate::state::{State, StateError, StateStore};

use super::reconcile::{Sweep, reconcile_with};
use super::request::{StopFileContent, read_stop_file};

/// Everything `car status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// The repository root.
    pub root: PathBuf,
    /// The state (after reconciliation).
    pub state: State,
    /// Whether a runner is active now.
    pub running: bool,
    /// The lock holder, when held.
    pub lock_holder: Option<LockInfo>,
    /// A stale lock file's content, when one is left.
    pub stale_lock: Option<LockInfo>,
    /// The TODO counts (None when it cannot be read).
    pub todo: Option<TodoStatus>,
    /// Why the TODO could not be read.
    pub todo_error: Option<String>,
    /// The last run's record.
    pub last_run: Option<RunRecord>,
    /// What reconciliation fixed.
    pub reconciled: Option<String>,
    /// Set when state.json was corrupt.
    pub state_warning: Option<String>,
    /// Whether a stop request is pending.
    pub stop_requested: bool,
    /// The pending stop request (the stop file): when and by whom.
    pub stop_request: Option<StopFileContent>,
}

/// Builds the status report, reconciling a dead runner's state first.
pub(crate) fn status(
    paths: &RepoPaths,
    docs_cfg: &crate::config::DocsConfig,
    sweep: Sweep,
) -> Result<StatusReport, StateError> {
    let reconciled = reconcile_with(paths, sweep)?;
    let loaded = StateStore::new(paths).load()?;
    let (lock_holder, stale_lock) = match lock::probe(paths) {
        LockStatus::Held(i) => (i, None),
        LockStatus::Stale(i) => (None, i),
        LockStatus::Free => (None, None),
    };
    let running = lock_holder.is_some() || matches!(lock::probe(paths), LockStatus::Held(_));
    let (todo, todo_error) = match read_optional(&docs_cfg.todo) {
        Ok(Some(b)) => match String::from_utf8(b) {
            Ok(t) => (Some(docs::parse_todo(&t)), None),
            Err(_) => (
                None,
                Some(format!("{} is not UTF-8 text", docs_cfg.todo.display())),
            ),
        },
        Ok(None) => (
            None,
            Some(format!("{} does not exist", docs_cfg.todo.display())),
        ),
        Err(e) => (None, Some(crate::engine::error_chain(&e))),
    };
    let last_run = loaded
        .state
        .last_run_id
        .and_then(|id| record::load_record(paths, id));
    Ok(StatusReport {
        root: paths.root.clone(),
        state: loaded.state,
        running,
        lock_holder,
        stale_lock,
        todo,
        todo_error,
        last_run,
        reconciled,
        state_warning: loaded.corrupt,
        stop_requested: paths.stop_file().exists(),
        stop_request: read_stop_file(paths).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the stop file");
            None
        }),
    })
}
