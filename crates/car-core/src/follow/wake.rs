//! What wakes a follower: file-change notifications on the directories it
//! watches (inotify on Linux, FSEvents or kqueue elsewhere), with a short
//! poll instead when watching fails, and a slow poll as a safety net when
//! it works (a missed or coalesced notification delays by that much at
//! worst). A follower's own looks (opening and reading the files it
//! follows) do not wake it: only changes do.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// How often a follower looks again when it has no notifications.
pub(crate) const FALLBACK_POLL: Duration = Duration::from_millis(100);
/// How often a follower looks again even with notifications.
pub(crate) const SAFETY_POLL: Duration = Duration::from_millis(500);

/// Whether a notification is a change worth a look. Opening a file, and
/// closing one that was only read, are not: Linux reports them, and a
/// follower opens the files it watches at every look, so each look would
/// wake the next one (a busy loop, a core per follower). Closing a file
/// written is a change.
fn wakes(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

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
        let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if ev.as_ref().is_ok_and(|ev| !wakes(&ev.kind)) {
                return;
            }
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind};

    use super::*;

    #[test]
    fn opening_and_reading_do_not_wake_but_changes_do() {
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!wakes(&open) && !wakes(&read));
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Create(CreateKind::File),
            EventKind::Other,
        ] {
            assert!(wakes(&kind), "{kind:?}");
        }
    }

    /// A follower reads what it follows at every look: reading must not
    /// end its next wait, or it never sleeps.
    #[test]
    fn a_followers_own_reads_leave_it_asleep_until_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.log");
        std::fs::write(&file, "a\n").unwrap();
        let mut wake = Wake::new();
        wake.watch(&[dir.path()]);
        assert!(wake.watcher.is_some(), "no watcher on this machine");
        wake.wait(); // what setting up may have queued
        for _ in 0..2 {
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "a\n");
            let t = Instant::now();
            wake.wait();
            assert!(
                t.elapsed() >= SAFETY_POLL - Duration::from_millis(50),
                "woken by a read after {:?}",
                t.elapsed()
            );
        }
        let writer = std::thread::spawn({
            let file = file.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                std::fs::write(&file, "a\nb\n").unwrap();
            }
        });
        let t = Instant::now();
        wake.wait();
        writer.join().unwrap();
        assert!(t.elapsed() < SAFETY_POLL, "a write did not wake it");
    }
}
