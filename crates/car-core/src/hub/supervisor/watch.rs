//! What wakes the supervisor: file-change notifications on the hub's
//! directory (the queue) and on each repository's `.codex-autorunner/` (its
//! lock, its state), with a slow safety poll, and the end of a wait the
//! supervisor sets itself (a restart's backoff). No busy polling.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// How often the supervisor looks even when nothing was notified.
pub(crate) const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How often it looks without a watcher.
const FALLBACK_POLL: Duration = Duration::from_millis(500);
/// How often a wait checks whether the supervisor was asked to end.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// Whether a change is worth a look. Opening, reading or closing a file
/// (the supervisor's own look opens the queue lock and probes every run
/// lock) and a change of metadata are not, nor is anything that touches
/// only the queue lock: otherwise each look would wake the next one.
fn wakes(ev: &notify::Event) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    if matches!(
        ev.kind,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_))
    ) {
        return false;
    }
    ev.paths.is_empty()
        || ev
            .paths
            .iter()
            .any(|p| p.file_name().is_none_or(|n| n != "queue.lock"))
}

pub(crate) struct Watch {
    watcher: Option<RecommendedWatcher>,
    rx: Receiver<()>,
    watched: HashSet<PathBuf>,
}

impl Watch {
    pub(crate) fn new() -> Self {
        let (tx, rx) = channel();
        let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.as_ref().is_ok_and(|ev| !wakes(ev)) {
                return;
            }
            let _ = tx.send(());
        })
        .map_err(|e| tracing::debug!("hub supervisor: no file watcher, polling: {e}"))
        .ok();
        Self {
            watcher,
            rx,
            watched: HashSet::new(),
        }
    }

    /// Watches `dir` when it exists and is not watched yet.
    pub(crate) fn watch(&mut self, dir: &Path) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        if self.watched.contains(dir) || !dir.is_dir() {
            return;
        }
        match w.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
            }
            Err(e) => {
                tracing::debug!("hub supervisor: cannot watch {}: {e}", dir.display());
            }
        }
    }

    /// Waits for a change, at most `limit` (and at most the safety poll),
    /// returning early when `stop` says so; then swallows the notifications
    /// already queued: one look serves them all.
    pub(crate) fn wait(&self, limit: Option<Duration>, stop: &dyn Fn() -> bool) {
        let poll = if self.watcher.is_some() {
            SAFETY_POLL
        } else {
            FALLBACK_POLL
        };
        let deadline = Instant::now() + limit.map_or(poll, |l| l.min(poll));
        loop {
            if stop() {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.rx.recv_timeout(left.min(STOP_CHECK)) {
                Ok(()) => {
                    // Changes come in bursts (a state write, a ledger
                    // line): let the burst end, then look once.
                    std::thread::sleep(Duration::from_millis(20));
                    while self.rx.try_recv().is_ok() {}
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(left.min(STOP_CHECK)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wakes;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, ModifyKind};
    use notify::{Event, EventKind};

    fn ev(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(path.into())
    }

    #[test]
    fn the_supervisors_own_looks_do_not_wake_it_but_changes_do() {
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let written = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let touched = EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any));
        assert!(!wakes(&ev(open, "/h/.codex-autorunner/hub/queue.json")));
        assert!(!wakes(&ev(closed, "/r/.codex-autorunner/lock")));
        assert!(!wakes(&ev(touched, "/r/.codex-autorunner/state.json")));
        assert!(!wakes(&ev(written, "/h/.codex-autorunner/hub/queue.lock")));
        assert!(wakes(&ev(written, "/h/.codex-autorunner/hub/queue.json")));
        assert!(wakes(&ev(written, "/r/.codex-autorunner/state.json")));
        assert!(wakes(&ev(
            EventKind::Create(CreateKind::File),
            "/r/.codex-autorunner/stop"
        )));
        assert!(wakes(&ev(
            EventKind::Remove(notify::event::RemoveKind::Any),
            "/r/.codex-autorunner/lock"
        )));
        assert!(wakes(&Event::new(EventKind::Other)), "a rescan");
    }
}
