//! The engine's blocking work, off its async task: state writes (flock and
//! fsync), ledger appends (flock), git, work-tree walks, doc reads, prompt
//! writes and the last flush of notifications run on tokio's blocking
//! threads.

use std::sync::Arc;

use super::driver::Engine;
use super::error::error_chain;
use super::event::EventSink;
use crate::docs::{DocError, Docs};
use crate::event::{EventEnvelope, LoopEvent};
use crate::state::{State, StateError};

/// Blocking work that was never done: the async runtime it was handed to
/// is shutting down (or gone), so it did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the work was not done: the async runtime is shutting down")]
pub struct Cancelled;

/// Runs `f` on a blocking thread and returns its result (a panic in `f`
/// is the caller's panic); [`Cancelled`] when the runtime is shutting down
/// and `f` never ran.
pub(crate) async fn unblock<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Cancelled> {
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(v) => Ok(v),
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels a blocking task, and
            // only one that has not started.
            Err(_) => Err(Cancelled),
        },
    }
}

impl Engine {
    /// A state file operation that was not done, as the state's error.
    fn state_cancelled(&self, action: &'static str, e: Cancelled) -> StateError {
        StateError::Io(crate::fs_util::PathError {
            action,
            path: self.paths.state_file(),
            source: std::io::Error::other(e),
        })
    }

    /// Reads the state.
    pub(super) async fn load_state(&self) -> Result<State, StateError> {
        let store = self.store.clone();
        unblock(move || store.load().map(|l| l.state))
            .await
            .map_err(|e| self.state_cancelled("cannot read", e))?
    }

    /// Changes the state durably (see `StateStore::update`).
    pub(super) async fn update_state(
        &self,
        f: impl FnOnce(&mut State) + Send + 'static,
    ) -> Result<State, StateError> {
        let store = self.store.clone();
        unblock(move || store.update(f).map(|(s, ())| s))
            .await
            .map_err(|e| self.state_cancelled("cannot update", e))?
    }

    /// Changes fields that only matter while the runner lives (see
    /// `StateStore::update_transient`).
    pub(super) async fn update_transient(
        &self,
        f: impl FnOnce(&mut State) + Send + 'static,
    ) -> Result<(), StateError> {
        let store = self.store.clone();
        unblock(move || store.update_transient(f).map(|_| ()))
            .await
            .map_err(|e| self.state_cancelled("cannot update", e))?
    }

    /// Records an event in the ledger, then tells the observers (with the
    /// envelope as written). A ledger failure is logged, not fatal: the
    /// observers still hear of the event, without a `seq`.
    pub(super) async fn emit(&self, events: &EventSink, run_id: Option<u64>, event: LoopEvent) {
        let written = self.record_event(run_id, event).await;
        events(&written);
    }

    /// [`emit`](Self::emit), with `first` done under the ledger's lock
    /// just before the event is written (see `Ledger::append_after`); it
    /// is done even when the ledger cannot be written.
    pub(super) async fn emit_after(
        &self,
        events: &EventSink,
        run_id: Option<u64>,
        event: LoopEvent,
        first: impl FnOnce() + Send + 'static,
    ) {
        let written = self.record_event_after(run_id, event, first).await;
        events(&written);
    }

    /// Records an event in the ledger and returns it as written (without a
    /// `seq` when the ledger could not be written: that is logged).
    pub(super) async fn record_event(
        &self,
        run_id: Option<u64>,
        event: LoopEvent,
    ) -> EventEnvelope {
        self.record_event_after(run_id, event, || ()).await
    }

    /// [`record_event`](Self::record_event), with `first` done under the
    /// ledger's lock just before the event is written.
    async fn record_event_after(
        &self,
        run_id: Option<u64>,
        event: LoopEvent,
        first: impl FnOnce() + Send + 'static,
    ) -> EventEnvelope {
        let ledger = self.ledger.clone();
        let fallback = EventEnvelope::now(run_id, event.clone());
        // Cancelled, the closure is dropped with what `first` holds.
        match unblock(move || ledger.append_after(run_id, event, first)).await {
            Ok(Ok(written)) => written,
            Ok(Err(e)) => {
                tracing::warn!(error = %error_chain(&e), "cannot append to the event ledger");
                fallback
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot append to the event ledger");
                fallback
            }
        }
    }

    /// Reads the docs.
    pub(super) async fn load_docs(&self) -> Result<Docs, DocError> {
        let config = Arc::clone(&self.config);
        unblock(move || Docs::load(&config.docs)).await?
    }

    /// Reads the docs whatever they hold, with what could not be read
    /// cleanly (see `Docs::load_lossy`).
    pub(super) async fn load_docs_lossy(&self) -> Result<(Docs, Vec<String>), Cancelled> {
        let config = Arc::clone(&self.config);
        unblock(move || Docs::load_lossy(&config.docs)).await
    }

    /// A fingerprint of the work tree (it walks every file).
    pub(super) async fn worktree_fingerprint(&self) -> Result<u64, Cancelled> {
        let root = self.config.root.clone();
        unblock(move || crate::record::worktree_fingerprint(&root)).await
    }

    /// With `git.auto_commit`, commits the work tree after run `run_id`:
    /// the commit, or a note of why it failed.
    pub(super) async fn auto_commit(&self, run_id: u64) -> (Option<String>, Option<String>) {
        self.try_auto_commit(run_id)
            .await
            .unwrap_or_else(|e| (None, Some(e.to_string())))
    }

    async fn try_auto_commit(
        &self,
        run_id: u64,
    ) -> Result<(Option<String>, Option<String>), Cancelled> {
        let cfg = self.config.clone();
        unblock(move || {
            if !cfg.git.auto_commit || !crate::git::is_repo(&cfg.root) {
                return (None, None);
            }
            let msg = cfg
                .git
                .commit_message_template
                .replace("{run_id}", &run_id.to_string());
            match crate::git::commit_all(&cfg.root, &msg) {
                Ok(sha) => (sha, None),
                Err(e) => {
                    tracing::info!(run_id, error = %e, "git auto-commit failed");
                    (None, Some(e.to_string()))
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn work_handed_to_a_runtime_shutting_down_is_an_error_not_a_panic() {
        let gone = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let handle = gone.handle().clone();
        drop(gone);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt.block_on(async {
            let _in_gone = handle.enter();
            unblock(|| 1).await
        });
        assert_eq!(got, Err(Cancelled));
        assert_eq!(crate::Error::from(Cancelled).kind(), ErrorKind::Internal);
        // And work handed to a live runtime is done.
        assert_eq!(rt.block_on(unblock(|| 2)), Ok(2));
    }
}
