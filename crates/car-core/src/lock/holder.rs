//! Finding who holds the run lock, and its state seen from outside.

use std::fs::File;
use std::path::Path;

use fs2::FileExt;

use super::info::{LockInfo, read_info, read_lock_file};
use crate::paths::RepoPaths;
use crate::process;

/// The state of a repository's run lock, seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// Nobody holds it and no file is left.
    Free,
    /// A live runner holds it.
    Held(Option<LockInfo>),
    /// Nobody holds it, but a file names a runner that is gone.
    Stale(Option<LockInfo>),
}

/// Inspects the run lock without taking it.
pub(crate) fn probe(paths: &RepoPaths) -> LockStatus {
    let path = paths.run_lock_file();
    let file_info = read_lock_file(&path);
    if let Ok(dir) = File::open(&paths.car_dir) {
        match FileExt::try_lock_shared(&dir) {
            Ok(()) => {
                let _ = FileExt::unlock(&dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return LockStatus::Held(holder_of(paths, &dir, file_info));
            }
            // No directory locks here: the runner locks the file (below).
            Err(_) => {}
        }
    }
    if let Some(holder) = legacy_holder(paths) {
        return LockStatus::Held(holder);
    }
    match file_info {
        Some(i) => LockStatus::Stale(Some(i)),
        None if file_is_empty(&path) => LockStatus::Free,
        None => LockStatus::Stale(None),
    }
}

/// Whether a runner holds the run lock: [`probe`] without naming the
/// holder, so without reading the lock file, `state.json` or (Linux)
/// `/proc/locks`, whose size grows with every lock on the machine. Watchers
/// that ask this of many repositories at a time (the hub, a repository
/// list, a follower) stay cheap however many loops run.
pub(crate) fn is_held(paths: &RepoPaths) -> bool {
    if let Ok(dir) = File::open(&paths.car_dir) {
        match FileExt::try_lock_shared(&dir) {
            Ok(()) => {
                let _ = FileExt::unlock(&dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => {}
        }
    }
    legacy_holder(paths).is_some()
}

/// Names the holder of the directory lock: the lock file's pid, else the
/// runner in `state.json`, each only when that process is alive here and
/// (Linux) is the one `/proc/locks` shows holding the lock; else that one.
pub(super) fn holder_of(
    paths: &RepoPaths,
    dir: &File,
    file_info: Option<LockInfo>,
) -> Option<LockInfo> {
    let locker = flock_holder(dir);
    let fits = |i: &LockInfo| i.is_alive_here() && locker.is_none_or(|p| p == i.pid);
    if let Some(i) = file_info.filter(fits) {
        return Some(i);
    }
    if let Ok(loaded) = crate::state::StateStore::new(paths).load()
        && let Some(pid) = loaded.state.runner_pid
    {
        let s = loaded.state;
        let i = LockInfo {
            pid,
            started_at: s.loop_started_at,
            host: s.runner_host,
            command: None,
            pid_start: s.runner_pid_start,
        };
        if fits(&i) {
            return Some(i);
        }
    }
    locker.map(|pid| LockInfo {
        pid,
        started_at: None,
        host: Some(process::hostname()),
        command: None,
        pid_start: process::start_time(pid),
    })
}

/// The pid `/proc/locks` shows holding an exclusive flock on `dir` (Linux).
#[cfg(target_os = "linux")]
fn flock_holder(dir: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let md = dir.metadata().ok()?;
    let dev = md.dev();
    crate::procfs::flock_holder(
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev),
        md.ino(),
    )
}

#[cfg(not(target_os = "linux"))]
fn flock_holder(_dir: &File) -> Option<u32> {
    None
}

/// A runner that does not lock the directory, if one is alive: one of an
/// older car holds a flock on the lock file; the Python program's is only
/// trusted when `state.json` names the same live pid.
pub(super) fn legacy_holder(paths: &RepoPaths) -> Option<Option<LockInfo>> {
    let path = paths.run_lock_file();
    let mut file = File::open(&path).ok()?;
    let info = read_info(&mut file);
    if FileExt::try_lock_shared(&file).is_err() {
        return Some(info);
    }
    let _ = FileExt::unlock(&file);
    info.filter(|i| is_python_runner(paths, i)).map(Some)
}

/// Whether the lock file content is a live Python 0.1.0 runner's (no
/// `command`; trusted only when `state.json` names the same pid running).
pub(super) fn is_python_runner(paths: &RepoPaths, i: &LockInfo) -> bool {
    i.command.is_none() && i.is_alive_here() && python_runner_recorded(paths, i.pid)
}

/// Returns whether `state.json` says a runner with `pid` is running: a
/// lock without a flock (the Python program's) is only trusted when the
/// state agrees, so a stray pid in a lock file never gets signalled.
fn python_runner_recorded(paths: &RepoPaths, pid: u32) -> bool {
    crate::state::StateStore::new(paths).load().is_ok_and(|l| {
        l.state.status == crate::state::Status::Running && l.state.runner_pid == Some(pid)
    })
}

fn file_is_empty(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.len() == 0)
        .unwrap_or(true)
}
