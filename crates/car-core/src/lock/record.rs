//! The lock file the holder keeps: written when the lock is taken, written
//! again by a keeper thread whenever it is deleted or replaced.

use std::fs::File;
use std::path::Path;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use fs2::FileExt;

use crate::fs_util::{Durability, IoResultExt, PathError, write_atomic_with};

/// How often the holder checks that its lock file is still there.
const KEEP_EVERY: Duration = Duration::from_millis(500);

/// Writes the lock file (no sync: it only matters while its holder lives)
/// and returns it open and flocked, for an older car to see.
pub(super) fn write_record(path: &Path, text: &str) -> Result<File, PathError> {
    write_atomic_with(path, text.as_bytes(), Durability::None)?;
    let file = File::open(path).with_path("cannot open lock file", path)?;
    let _ = FileExt::try_lock_exclusive(&file);
    Ok(file)
}

/// The keeper thread: writes the lock file again whenever it is deleted or
/// replaced, until the lock is dropped (the channel closes).
pub(super) fn keep_record(
    stop: &mpsc::Receiver<()>,
    record: &Mutex<Option<File>>,
    path: &Path,
    text: &str,
    car_dir: &Path,
    locked: Option<File>,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(KEEP_EVERY) {
        let Ok(mut held) = record.lock() else {
            return;
        };
        if held.as_ref().is_some_and(|f| same_file(f, path)) {
            continue;
        }
        // Never recreate a deleted work directory: the lock is on the old one.
        if !locked.as_ref().is_some_and(|d| same_file(d, car_dir)) {
            continue;
        }
        match write_record(path, text) {
            Ok(f) => {
                tracing::info!(path = %path.display(), "the lock file was deleted; wrote it again");
                *held = Some(f);
            }
            Err(e) => tracing::debug!(error = %e, "cannot write the lock file again"),
        }
    }
}

#[cfg(unix)]
pub(super) fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
