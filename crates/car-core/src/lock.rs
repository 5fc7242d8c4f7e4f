//! The run lock: an exclusive `flock` on the `.codex-autorunner` directory
//! itself, held for the whole invocation of `car run`/`once`/`resume`.
//!
//! The directory is what excludes because nothing that cleans ignored files
//! (`git clean -fdX`) removes it: a lock on a file in it could be deleted
//! under a live runner, letting a second one start beside it. The OS drops
//! the flock when the holder dies, so a killed runner never blocks.
//!
//! `.codex-autorunner/lock` names the holder (pid, host, start time,
//! command) for people and tools; the holder writes it when it starts,
//! writes it again if it is deleted, and removes it when it ends. It also
//! holds a flock on that file, which is all an older car looked at. Where
//! the file is missing, the holder is the runner `state.json` names, when
//! it is alive, or (Linux) the process `/proc/locks` shows holding the lock.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::fs_util::{Durability, IoResultExt, PathError, write_atomic_with};
use crate::paths::RepoPaths;
use crate::process;

/// How long `acquire` retries before reporting the lock as held. A `car
/// status` probing the lock holds it (shared) for microseconds; a short retry
/// keeps that from failing a runner that starts at the same moment.
const ACQUIRE_RETRY_FOR: Duration = Duration::from_millis(300);
const ACQUIRE_RETRY_STEP: Duration = Duration::from_millis(20);
/// How often the holder checks that its lock file is still there.
const KEEP_EVERY: Duration = Duration::from_millis(500);

/// Who holds (or held) the lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The runner's pid.
    pub pid: u32,
    /// When it started (UTC, RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// The host it runs on.
    #[serde(default)]
    pub host: Option<String>,
    /// The command (`run`, `once`, `resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The process start time in clock ticks (Linux), to detect pid reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
}

impl LockInfo {
    /// Parses lock content: car's or the Python program's JSON, or a bare pid.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Ok(pid) = t.parse::<u32>() {
            return Some(Self {
                pid,
                started_at: None,
                host: None,
                command: None,
                pid_start: None,
            });
        }
        serde_json::from_str(t).ok()
    }

    /// Describes the holder for people: `pid 12 on host since <time>`.
    pub fn describe(&self) -> String {
        let mut s = format!("pid {}", self.pid);
        if let Some(h) = &self.host {
            s.push_str(&format!(" on {h}"));
        }
        if let Some(t) = &self.started_at {
            s.push_str(&format!(" since {t}"));
        }
        s
    }

    /// Returns whether the named process is alive on this host (and is the
    /// same process, when the start time was recorded).
    pub fn is_alive_here(&self) -> bool {
        if self
            .host
            .as_deref()
            .is_some_and(|h| h != process::hostname())
        {
            return false;
        }
        if !process::is_alive(self.pid) {
            return false;
        }
        match (self.pid_start, process::start_time(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }
}

/// Errors taking the run lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another runner holds the lock.
    #[error(
        "another car runner is active in this repository ({}; lock {}); wait for it, or stop it with `car kill`",
        holder.as_ref().map_or_else(|| "holder unknown".to_string(), LockInfo::describe),
        path.display()
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, when the file could be read.
        holder: Option<LockInfo>,
    },
    /// The lock file could not be opened or written.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// The held run lock; dropping it removes the lock file and releases the
/// lock.
#[derive(Debug)]
pub(crate) struct RunLock {
    dir: File,
    path: PathBuf,
    info: LockInfo,
    /// The lock file this holder wrote (and flocked), shared with the keeper.
    record: Arc<Mutex<Option<File>>>,
    keeper: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl RunLock {
    /// Takes the lock of the repository at `paths`, or fails at once (after a
    /// short retry) naming the holder.
    pub(crate) fn acquire(paths: &RepoPaths, command: &str) -> Result<Self, LockError> {
        Self::take(paths, command, true)
    }

    /// [`acquire`](Self::acquire); `lock_dir` false acts as on a file
    /// system that cannot flock a directory (tests).
    fn take(paths: &RepoPaths, command: &str, lock_dir: bool) -> Result<Self, LockError> {
        let path = paths.run_lock_file();
        std::fs::create_dir_all(&paths.car_dir)
            .with_path("cannot create directory", &paths.car_dir)?;
        let dir = File::open(&paths.car_dir).with_path("cannot open", &paths.car_dir)?;
        let deadline = Instant::now() + ACQUIRE_RETRY_FOR;
        let dir_locked = lock_dir
            && loop {
                match FileExt::try_lock_exclusive(&dir) {
                    Ok(()) => break true,
                    // NFS and CIFS emulate flock with byte-range locks, which
                    // a directory opened for reading cannot take.
                    Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                        tracing::warn!(dir = %paths.car_dir.display(), error = %e,
                            "cannot flock the work directory; locking only the lock file, which deleting it defeats");
                        break false;
                    }
                    Err(_) if Instant::now() < deadline => std::thread::sleep(ACQUIRE_RETRY_STEP),
                    Err(_) => {
                        return Err(LockError::Held {
                            holder: holder_of(paths, &dir, read_lock_file(&path)),
                            path,
                        });
                    }
                }
            };
        // Runners that do not lock the directory: an older car (it locks
        // the file) and the Python program (it locks nothing).
        if dir_locked && let Some(holder) = legacy_holder(paths) {
            let _ = FileExt::unlock(&dir);
            return Err(LockError::Held { holder, path });
        }
        let pid = std::process::id();
        let info = LockInfo {
            pid,
            started_at: Some(crate::time::iso_seconds(crate::time::now())),
            host: Some(process::hostname()),
            command: Some(command.to_string()),
            pid_start: process::start_time(pid),
        };
        let mut text = serde_json::to_string(&info).unwrap_or_default();
        text.push('\n');
        let file = if dir_locked {
            write_record(&path, &text)?
        } else {
            lock_file_only(paths, &path, &text, deadline)?
        };
        let record = Arc::new(Mutex::new(Some(file)));
        let keeper = {
            let (tx, rx) = mpsc::channel::<()>();
            let (record, path) = (record.clone(), path.clone());
            let car_dir = paths.car_dir.clone();
            let locked = dir.try_clone().ok();
            std::thread::Builder::new()
                .name("car-lock-keeper".into())
                .spawn(move || keep_record(&rx, &record, &path, &text, &car_dir, locked))
                .ok()
                .map(|h| (tx, h))
        };
        Ok(Self {
            dir,
            path,
            info,
            record,
            keeper,
        })
    }

    /// Returns what this lock says about its holder.
    pub(crate) fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.keeper.take() {
            drop(tx);
            let _ = handle.join();
        }
        if let Some(file) = self.record.lock().ok().and_then(|mut r| r.take()) {
            if same_file(&file, &self.path) {
                let _ = std::fs::remove_file(&self.path);
            }
            let _ = FileExt::unlock(&file);
        }
        let _ = FileExt::unlock(&self.dir);
    }
}

/// Writes the lock file (no sync: it only matters while its holder lives)
/// and returns it open and flocked, for an older car to see.
fn write_record(path: &Path, text: &str) -> Result<File, PathError> {
    write_atomic_with(path, text.as_bytes(), Durability::None)?;
    let file = File::open(path).with_path("cannot open lock file", path)?;
    let _ = FileExt::try_lock_exclusive(&file);
    Ok(file)
}

/// Takes the lock where the directory cannot be locked: a flock on the lock
/// file itself (which an older car also takes), written in place.
fn lock_file_only(
    paths: &RepoPaths,
    path: &Path,
    text: &str,
    deadline: Instant,
) -> Result<File, LockError> {
    loop {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_path("cannot open lock file", path)?;
        if FileExt::try_lock_exclusive(&file).is_err() {
            if Instant::now() < deadline {
                std::thread::sleep(ACQUIRE_RETRY_STEP);
                continue;
            }
            return Err(LockError::Held {
                holder: read_info(&mut file),
                path: path.to_path_buf(),
            });
        }
        // The holder removed the file between our open and our lock: we
        // locked an orphan inode; start over.
        if !same_file(&file, path) {
            continue;
        }
        if let Some(python) = read_info(&mut file).filter(|i| is_python_runner(paths, i)) {
            let _ = FileExt::unlock(&file);
            return Err(LockError::Held {
                holder: Some(python),
                path: path.to_path_buf(),
            });
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()));
        written.with_path("cannot write lock file", path)?;
        return Ok(file);
    }
}

/// The keeper thread: writes the lock file again whenever it is deleted or
/// replaced, until the lock is dropped (the channel closes).
fn keep_record(
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

/// Names the holder of the directory lock: the lock file's pid, else the
/// runner in `state.json`, each only when that process is alive here and
/// (Linux) is the one `/proc/locks` shows holding the lock; else that one.
fn holder_of(paths: &RepoPaths, dir: &File, file_info: Option<LockInfo>) -> Option<LockInfo> {
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
fn legacy_holder(paths: &RepoPaths) -> Option<Option<LockInfo>> {
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
fn is_python_runner(paths: &RepoPaths, i: &LockInfo) -> bool {
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

fn read_lock_file(path: &Path) -> Option<LockInfo> {
    File::open(path).ok().and_then(|mut f| read_info(&mut f))
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    LockInfo::parse(&s)
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_naming_holder_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        let first = RunLock::acquire(&paths, "run").unwrap();
        let err = RunLock::acquire(&paths, "once").unwrap_err();
        match &err {
            LockError::Held {
                holder: Some(h), ..
            } => assert_eq!(h.pid, std::process::id()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id()))
        );
        assert!(
            paths.run_lock_file().exists(),
            "the loser must not delete the lock"
        );
        assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
        drop(first);
        assert!(!paths.run_lock_file().exists());
        assert_eq!(probe(&paths), LockStatus::Free);
        RunLock::acquire(&paths, "run").unwrap();
    }

    #[test]
    fn deleting_every_file_neither_frees_the_lock_nor_hides_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        let lock = RunLock::acquire(&paths, "run").unwrap();
        // What `git clean -fdX` does to the ignored files.
        std::fs::remove_file(paths.run_lock_file()).unwrap();
        let me = std::process::id();
        match probe(&paths) {
            LockStatus::Held(Some(h)) if cfg!(target_os = "linux") => assert_eq!(h.pid, me),
            LockStatus::Held(_) => {}
            other => panic!("the live holder is hidden: {other:?}"),
        }
        match RunLock::acquire(&paths, "run") {
            Err(LockError::Held { .. }) => {}
            other => panic!("a second runner got the lock: {other:?}"),
        }
        let start = Instant::now();
        while !paths.run_lock_file().exists() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the holder did not write its lock file again"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        match probe(&paths) {
            LockStatus::Held(Some(h)) => {
                assert_eq!((h.pid, h.command.as_deref()), (me, Some("run")));
            }
            other => panic!("unexpected {other:?}"),
        }
        drop(lock);
        assert!(!paths.run_lock_file().exists());
        assert_eq!(probe(&paths), LockStatus::Free);
    }

    #[test]
    fn a_runner_of_an_older_car_holding_the_file_lock_is_respected() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let content = format!(
            r#"{{"pid": {}, "host": "{}", "command": "run"}}"#,
            std::process::id(),
            process::hostname()
        );
        std::fs::write(paths.run_lock_file(), content).unwrap();
        let old = File::open(paths.run_lock_file()).unwrap();
        FileExt::lock_exclusive(&old).unwrap();
        assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
        assert!(matches!(
            RunLock::acquire(&paths, "run"),
            Err(LockError::Held {
                holder: Some(_),
                ..
            })
        ));
        assert!(paths.run_lock_file().exists(), "its file is left alone");
        FileExt::unlock(&old).unwrap();
        RunLock::acquire(&paths, "run").unwrap();
    }

    #[test]
    fn without_directory_locks_the_file_lock_still_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        let first = RunLock::take(&paths, "run", false).unwrap();
        assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
        for lock_dir in [false, true] {
            match RunLock::take(&paths, "run", lock_dir) {
                Err(LockError::Held {
                    holder: Some(h), ..
                }) => assert_eq!(h.pid, std::process::id()),
                other => panic!("a second runner got the lock: {other:?}"),
            }
        }
        drop(first);
        assert_eq!(probe(&paths), LockStatus::Free);
        RunLock::take(&paths, "run", false).unwrap();
    }

    #[test]
    fn a_live_python_runner_is_respected_and_a_stray_pid_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let me = std::process::id();
        // The Python 0.1.0 lock: no flock, no `command`.
        let python = format!(
            r#"{{"pid": {me}, "started_at": "2026-11-21T11:01:56Z", "host": "{}"}}"#,
            process::hostname()
        );
        std::fs::write(paths.run_lock_file(), &python).unwrap();
        // Not trusted while the state does not name that runner.
        assert!(matches!(probe(&paths), LockStatus::Stale(Some(_))));
        crate::state::StateStore::new(&paths)
            .update(|s| {
                s.status = crate::state::Status::Running;
                s.runner_pid = Some(me);
            })
            .unwrap();
        assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
        match RunLock::acquire(&paths, "run") {
            Err(LockError::Held {
                holder: Some(h), ..
            }) => assert_eq!(h.pid, me),
            other => panic!("took the lock of a live Python runner: {other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(paths.run_lock_file()).unwrap(),
            python
        );
    }

    #[test]
    fn stale_file_of_dead_runner_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let stale = r#"{"pid": 999999, "started_at": "2026-01-01T00:00:00Z", "host": "elsewhere", "command": "run"}"#;
        std::fs::write(paths.run_lock_file(), stale).unwrap();
        assert!(matches!(probe(&paths), LockStatus::Stale(Some(_))));
        let lock = RunLock::acquire(&paths, "run").unwrap();
        assert_eq!(lock.info().pid, std::process::id());
    }

    #[test]
    fn parses_python_and_legacy_content() {
        let p =
            LockInfo::parse(r#"{"pid": 7083, "started_at": "2026-11-21T11:01:56Z", "host": "vm"}"#)
                .unwrap();
        assert_eq!((p.pid, p.host.as_deref()), (7083, Some("vm")));
        assert_eq!(LockInfo::parse("12345\n").unwrap().pid, 12345);
        assert!(LockInfo::parse("garbage").is_none());
    }
}
