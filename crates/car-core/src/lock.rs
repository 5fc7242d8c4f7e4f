//! The run lock: `.codex-autorunner/lock`, held with an OS file lock for the
//! whole invocation of `car run`/`once`/`resume`.
//!
//! The file's content (pid, host, start time) only names the holder; the
//! `flock` is what excludes. The OS drops the flock when the holder dies, so a
//! lock left by a killed runner never blocks, and a loser never deletes the
//! winner's file: only the holder removes it, while still holding the flock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::fs_util::{IoResultExt, PathError};
use crate::paths::RepoPaths;
use crate::process;

/// How long `acquire` retries before reporting the lock as held. A `car
/// status` probing the lock holds it (shared) for microseconds; a short retry
/// keeps that from failing a runner that starts at the same moment.
const ACQUIRE_RETRY_FOR: Duration = Duration::from_millis(300);
const ACQUIRE_RETRY_STEP: Duration = Duration::from_millis(20);

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

/// The held run lock; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub(crate) struct RunLock {
    file: File,
    path: PathBuf,
    info: LockInfo,
}

impl RunLock {
    /// Takes the lock of the repository at `paths`, or fails at once (after a
    /// short retry) naming the holder.
    pub(crate) fn acquire(paths: &RepoPaths, command: &str) -> Result<Self, LockError> {
        let path = paths.run_lock_file();
        std::fs::create_dir_all(&paths.car_dir)
            .with_path("cannot create directory", &paths.car_dir)?;
        let deadline = Instant::now() + ACQUIRE_RETRY_FOR;
        loop {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .with_path("cannot open lock file", &path)?;
            match FileExt::try_lock_exclusive(&file) {
                Ok(()) => {}
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(ACQUIRE_RETRY_STEP);
                    continue;
                }
                Err(_) => {
                    return Err(LockError::Held {
                        holder: read_info(&mut file),
                        path,
                    });
                }
            }
            // The previous holder may have removed the file between our open
            // and our lock; then we locked an orphan inode: start over.
            if !same_file(&file, &path) {
                continue;
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
            file.set_len(0).with_path("cannot write lock file", &path)?;
            file.seek(SeekFrom::Start(0))
                .with_path("cannot write lock file", &path)?;
            file.write_all(text.as_bytes())
                .with_path("cannot write lock file", &path)?;
            file.sync_all().with_path("cannot write lock file", &path)?;
            return Ok(Self { file, path, info });
        }
    }

    /// Returns what this lock says about its holder.
    pub(crate) fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = FileExt::unlock(&self.file);
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
    let Ok(mut file) = File::open(&path) else {
        return LockStatus::Free;
    };
    let info = read_info(&mut file);
    match FileExt::try_lock_shared(&file) {
        Err(_) => LockStatus::Held(info),
        Ok(()) => {
            let _ = FileExt::unlock(&file);
            // A Python 0.1.0 runner writes the file without any flock: trust
            // its pid when that process is alive on this host.
            match info {
                Some(i)
                    if i.command.is_none()
                        && i.is_alive_here()
                        && python_runner_recorded(paths, i.pid) =>
                {
                    LockStatus::Held(Some(i))
                }
                Some(i) => LockStatus::Stale(Some(i)),
                None if file_is_empty(&path) => LockStatus::Free,
                None => LockStatus::Stale(None),
            }
        }
    }
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
