//! SUMMARY's marker: whether SUMMARY is final for the TODO as it is, and
//! marking it final once the summary run wrote it.

use super::blocking::unblock;
use super::driver::Engine;
use super::error::EngineError;
use crate::docs::Docs;
use crate::summary_marker::{self, MarkerState};

impl Engine {
    /// Returns whether SUMMARY's marker is for the TODO as it is in `docs`.
    /// A marker from before markers named their TODO (the Python program's)
    /// is final, as it was there, and is tied to this TODO from now on.
    pub(super) async fn summary_is_final(&self, docs: &Docs) -> Result<bool, EngineError> {
        let fingerprint = summary_marker::todo_fingerprint(&docs.todo);
        Ok(
            match summary_marker::state(docs.summary.as_bytes(), &fingerprint) {
                MarkerState::Current => true,
                MarkerState::Legacy => {
                    let engine = self.clone();
                    unblock(move || engine.finalize_summary(None)).await??;
                    true
                }
                MarkerState::Stale | MarkerState::Missing => false,
            },
        )
    }

    /// Marks SUMMARY final for the TODO as it is now (atomically, through
    /// a symlink): only car's marker line changes, every other byte of the
    /// file stays as it was.
    pub(super) fn finalize_summary(&self, run_id: Option<u64>) -> Result<(), EngineError> {
        let cfg = &self.config.docs;
        let todo = crate::fs_util::read_optional(&cfg.todo)?.unwrap_or_default();
        let fingerprint = summary_marker::todo_fingerprint(&String::from_utf8_lossy(&todo));
        let current = crate::fs_util::read_optional(&cfg.summary)?.unwrap_or_default();
        if summary_marker::state(&current, &fingerprint) == MarkerState::Current {
            return Ok(());
        }
        let text = summary_marker::finalize(&current, run_id, &fingerprint);
        crate::fs_util::write_atomic(&cfg.summary, &text)?;
        Ok(())
    }
}
