//! The supervisor process: one per hub, holding an exclusive lock on
//! `.codex-autorunner/hub/supervisor.lock` (which names its pid) for its
//! whole life, and started detached by `car hub start` when none runs.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;

use super::queue::hub_dir;
use crate::fs_util::IoResultExt;
use crate::hub::{Hub, HubError};

/// The held supervisor lock; dropping it lets another supervisor start.
#[derive(Debug)]
pub struct SupervisorLock {
    _file: File,
}

impl Hub {
    fn supervisor_lock_path(&self) -> PathBuf {
        hub_dir(self.root()).join("supervisor.lock")
    }

    fn open_supervisor_lock(&self) -> Result<(File, PathBuf), HubError> {
        let path = self.supervisor_lock_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_path("cannot open", &path)?;
        Ok((file, path))
    }

    /// The pid of this hub's running supervisor, if one runs.
    pub fn supervisor_pid(&self) -> Result<Option<u32>, HubError> {
        let (mut file, _) = self.open_supervisor_lock()?;
        if file.try_lock_exclusive().is_ok() {
            let _ = FileExt::unlock(&file);
            return Ok(None);
        }
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        // Held: the pid is written just after the lock is taken.
        Ok(Some(text.trim().parse().unwrap_or(0)))
    }

    /// Takes the supervisor lock for this process, or says which process
    /// holds it.
    pub fn lock_supervisor(&self) -> Result<SupervisorLock, HubError> {
        let (mut file, path) = self.open_supervisor_lock()?;
        if file.try_lock_exclusive().is_err() {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(HubError::Refused(format!(
                "a hub supervisor runs already (pid {}, lock {}); `car hub start` and `car hub stop` talk to it",
                text.trim(),
                path.display()
            )));
        }
        file.set_len(0).with_path("cannot write", &path)?;
        file.rewind().with_path("cannot write", &path)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .with_path("cannot write", &path)?;
        Ok(SupervisorLock { _file: file })
    }

    /// Starts `program --repo <hub> hub run --until-idle` detached (a
    /// session of its own, standard streams on `/dev/null`), unless a
    /// supervisor runs already. Returns the pid started, or `None`.
    pub fn spawn_supervisor(&self, program: &Path) -> Result<Option<u32>, HubError> {
        // A supervisor just killed keeps its lock until its last thread is
        // gone (a few milliseconds after its pid looks dead): wait for that.
        for _ in 0..20 {
            match self.supervisor_pid()? {
                None => break,
                Some(pid) if crate::process::is_alive(pid) => return Ok(None),
                Some(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
        if self.supervisor_pid()?.is_some() {
            return Ok(None);
        }
        let args: Vec<OsString> = vec![
            "--repo".into(),
            self.root().into(),
            "hub".into(),
            "run".into(),
            "--until-idle".into(),
        ];
        Ok(Some(crate::launch::spawn_detached(program, args)?))
    }
}
