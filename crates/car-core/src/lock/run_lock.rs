//! Taking the run lock: an exclusive `flock` on the work directory (or, where
//! directories cannot be locked, on the lock file), held until dropped.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use fs2::FileExt;

use super::holder::{holder_of, is_python_runner, legacy_holder};
use super::info::{LockInfo, read_info, read_lock_file};
use super::record::{keep_record, same_file, write_record};
use crate::fs_util::{IoResultExt, PathError};
use crate::paths::RepoPaths;
use crate::process;

/// How long `acquire` retries before reporting the lock as held. A `car
/// status` probing the lock holds it (shared) for microseconds; a short retry
/// keeps that from failing a runner that starts at the same moment.
const ACQUIRE_RETRY_FOR: Duration = Duration::from_millis(300);
const ACQUIRE_RETRY_STEP: Duration = Duration::from_millis(20);

/// Errors taking the run lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another runner holds the lock.
    #[error(
        "another car runner is active in this repository ({}; lock {})",
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
    pub(super) fn take(
        paths: &RepoPaths,
        command: &str,
        lock_dir: bool,
    ) -> Result<Self, LockError> {
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
