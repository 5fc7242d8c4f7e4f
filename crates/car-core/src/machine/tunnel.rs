//! A tunnel's files: its state (`<state>/car/tunnels/NAME.json`, written
//! atomically by its supervisor) and its supervisor's log (`NAME.log`: one
//! JSON line per tunnel event, and ssh's own messages).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Machine, MachineError};
use crate::fs_util::IoResultExt;

/// The directory of the tunnels' files: `$XDG_STATE_HOME/car/tunnels`,
/// else `$HOME/.local/state/car/tunnels`.
pub fn tunnels_dir(
    xdg_state_home: Option<&Path>,
    home: Option<&Path>,
) -> Result<PathBuf, MachineError> {
    let base = match (
        xdg_state_home.filter(|p| p.is_absolute()),
        home.filter(|p| !p.as_os_str().is_empty()),
    ) {
        (Some(x), _) => x.to_path_buf(),
        (None, Some(h)) => h.join(".local").join("state"),
        (None, None) => {
            return Err(MachineError::NoHome {
                what: "state",
                var: "XDG_STATE_HOME",
            });
        }
    };
    Ok(base.join("car").join("tunnels"))
}

/// What a tunnel's supervisor records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelState {
    /// The machine's name.
    pub machine: String,
    /// The local port forwarded to the machine's server.
    pub local_port: u16,
    /// `http://127.0.0.1:LOCAL_PORT/`.
    pub url: String,
    /// The supervisor's pid.
    pub supervisor_pid: u32,
    /// The running ssh's pid (none while it is re-opened).
    pub tunnel_pid: Option<u32>,
    /// Whether the forward answered the server's /health last time it was opened.
    pub open: bool,
    /// How many times the tunnel was (re-)opened after its first attempt.
    pub retry_count: u64,
    /// When this state was written (RFC 3339).
    pub updated_at: String,
}

impl TunnelState {
    /// Whether its supervisor is still running.
    pub fn supervisor_alive(&self) -> bool {
        crate::process::is_alive(self.supervisor_pid)
    }
}

/// The files of the tunnel to one machine.
#[derive(Debug, Clone)]
pub struct TunnelPaths {
    /// `NAME.json`.
    pub state: PathBuf,
    /// `NAME.log`.
    pub log: PathBuf,
    /// `NAME.lock`: held while a tunnel is looked for and started.
    pub lock: PathBuf,
}

/// Held while one process looks for a live tunnel and starts a supervisor
/// when there is none, so that two at once start one tunnel.
pub struct StartLock {
    _locked: crate::fs_util::Locked,
}

impl TunnelPaths {
    /// The files of the tunnel to `machine` under `dir` (see [`tunnels_dir`]).
    pub fn new(dir: &Path, machine: &str) -> Self {
        Self {
            state: dir.join(format!("{machine}.json")),
            log: dir.join(format!("{machine}.log")),
            lock: dir.join(format!("{machine}.lock")),
        }
    }

    /// Takes the tunnel's start lock (waiting for another holder).
    pub fn lock_start(&self) -> Result<StartLock, MachineError> {
        if let Some(dir) = self.lock.parent() {
            std::fs::create_dir_all(dir).with_path("cannot create", dir)?;
        }
        Ok(StartLock {
            _locked: crate::fs_util::lock_exclusive(&self.lock)?,
        })
    }

    /// The recorded state, if any.
    pub fn read(&self) -> Result<Option<TunnelState>, MachineError> {
        let Some(bytes) = crate::fs_util::read_optional(&self.state)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| MachineError::BadState {
                path: self.state.clone(),
                message: e.to_string(),
            })
    }

    /// Writes `state` atomically (the directory is made when missing).
    pub fn write(&self, state: &TunnelState) -> Result<(), MachineError> {
        if let Some(dir) = self.state.parent() {
            std::fs::create_dir_all(dir).with_path("cannot create", dir)?;
        }
        let mut text = serde_json::to_string_pretty(state).unwrap_or_default();
        text.push('\n');
        crate::fs_util::write_atomic_with(
            &self.state,
            text.as_bytes(),
            crate::fs_util::Durability::Consistent,
        )?;
        Ok(())
    }

    /// Removes the state file (gone already is fine).
    pub fn remove(&self) -> Result<(), MachineError> {
        match std::fs::remove_file(&self.state) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_path("cannot remove", &self.state)?
            }
            _ => Ok(()),
        }
    }
}

/// Starts `program __tunnel MACHINE_JSON` (the tunnel's supervisor) in a
/// session of its own, detached like a loop's runner; returns its pid.
pub fn spawn_supervisor(
    program: &Path,
    subcommand: &str,
    machine: &Machine,
) -> Result<u32, MachineError> {
    let spec = serde_json::to_string(machine).unwrap_or_default();
    let args: Vec<OsString> = vec![subcommand.into(), spec.into()];
    Ok(crate::launch::spawn_detached(program, args)?)
}
