//! What wakes a follower: file-change notifications on the directories it
//! watches (inotify on Linux, FSEvents or kqueue elsewhere), with a short
//! poll instead when watching fails, and a slow poll as a safety net when
//! it works (a missed or coalesced notification delays by that much at
//! worst).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// How often a follower looks again when it has no notifications.
pub(crate) const FALLBACK_POLL: Duration = Duration::from_millis(100);
/// How often a follower looks again even with notifications.
pub(crate) const SAFETY_POLL: Duration = Duration::from_millis(500);

/// Wakes a follower's thread when a watched directory changes.
pub(crate) struct Wake {
    watcher: Option<RecommendedWatcher>,
    rx: Receiver<()>,
    watched: HashSet<PathBuf>,
}

impl Wake {
    /// A waker with no directory watched yet; it polls when the platform's
    /// watcher cannot be made.
    pub(crate) fn new() -> Self {
        let (tx, rx) = channel();
        let watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            let _ = tx.send(());
        })
        .map_err(|e| tracing::debug!("follow: no file watcher, polling: {e}"))
        .ok();
        Self {
            watcher,
            rx,
            watched: HashSet::new(),
        }
    }

    /// A waker that never watches: it polls every [`FALLBACK_POLL`].
    #[cfg(test)]
    pub(crate) fn polling() -> Self {
        let (_tx, rx) = channel();
        Self {
            watcher: None,
            rx,
            watched: HashSet::new(),
        }
    }

    /// Watches each directory of `dirs` that exists and is not watched yet
    /// (a directory made later is watched by a later call). A directory
    /// that cannot be watched turns this waker to polling.
    pub(crate) fn watch(&mut self, dirs: &[&Path]) {
        for dir in dirs {
            let Some(w) = self.watcher.as_mut() else {
                return;
            };
            if self.watched.contains(*dir) || !dir.is_dir() {
                continue;
            }
            match w.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir.to_path_buf());
                }
                Err(e) => {
                    tracing::debug!("follow: cannot watch {}, polling: {e}", dir.display());
                    self.watcher = None;
                }
            }
        }
    }

    /// Stops watching `dir` (a run directory followed no more).
    pub(crate) fn unwatch(&mut self, dir: &Path) {
        if self.watched.remove(dir)
            && let Some(w) = self.watcher.as_mut()
        {
            let _ = w.unwatch(dir);
        }
    }

    /// Waits for a change (or the poll interval), then swallows the
    /// notifications already queued: one look serves them all.
    pub(crate) fn wait(&self) {
        let timeout = if self.watcher.is_some() {
            SAFETY_POLL
        } else {
            FALLBACK_POLL
        };
        match self.rx.recv_timeout(timeout) {
            Ok(()) => while self.rx.try_recv().is_ok() {},
            Err(RecvTimeoutError::Timeout) => {}
            // Without a watcher no sender is left: poll.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(timeout),
        }
    }
}
