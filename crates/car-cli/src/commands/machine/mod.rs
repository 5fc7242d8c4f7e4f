//! `car remote add|list|check|up|down|ssh` and `--machine M`: other
//! machines' `car serve`, reached through SSH tunnels that a supervisor
//! process of car's keeps open.

mod add;
mod check;
pub(crate) mod probe;
mod ssh;
mod supervise;
mod tunnel;

use std::path::PathBuf;

use anyhow::Result;
use car_core::machine::{Machine, MachineError, Machines, TunnelPaths};

use crate::cli::{Global, RemoteCommand};
use crate::report::UsageError;

pub(crate) use supervise::supervise;
pub(crate) use tunnel::ensure_up;

/// Where machines and tunnels are: the config files and the tunnels' directory.
pub(crate) struct Places {
    pub(crate) user_file: PathBuf,
    pub(crate) files: Vec<PathBuf>,
    pub(crate) tunnels: PathBuf,
}

fn var_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Places {
    /// From this process's environment (HOME, XDG_CONFIG_HOME, XDG_STATE_HOME)
    /// and the repository at `--repo` or the current directory.
    pub(crate) fn from_env(g: &Global) -> Result<Self> {
        let home = var_path("HOME");
        let user_file = car_core::machine::user_config_file(
            var_path("XDG_CONFIG_HOME").as_deref(),
            home.as_deref(),
        )
        .map_err(usage)?;
        let start = match &g.repo {
            Some(r) => r.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        let files = car_core::machine::machine_files(&user_file, &start);
        Ok(Self {
            user_file,
            files,
            tunnels: tunnels_dir()?,
        })
    }

    /// Every machine configured.
    pub(crate) fn machines(&self) -> Result<Machines> {
        Machines::load(&self.files).map_err(usage)
    }

    /// The machine named `name`.
    pub(crate) fn machine(&self, name: &str) -> Result<Machine> {
        Ok(self.machines()?.get(name).map_err(usage)?.clone())
    }

    /// The files of `name`'s tunnel.
    pub(crate) fn tunnel(&self, name: &str) -> TunnelPaths {
        TunnelPaths::new(&self.tunnels, name)
    }
}

/// The tunnels' directory (`$XDG_STATE_HOME/car/tunnels`).
pub(crate) fn tunnels_dir() -> Result<PathBuf> {
    car_core::machine::tunnels_dir(
        var_path("XDG_STATE_HOME").as_deref(),
        var_path("HOME").as_deref(),
    )
    .map_err(usage)
}

/// A config mistake: exit 2 (usage), its message naming the file and key.
fn usage(e: MachineError) -> anyhow::Error {
    match e {
        MachineError::Io(_) => e.into(),
        other => UsageError(other.to_string()).into(),
    }
}

/// Runs `car remote ...`.
pub(crate) fn run(g: &Global, cmd: RemoteCommand) -> Result<u8> {
    // Commands on the machine's server, for an agent (JSON, errors too).
    if let RemoteCommand::Exec(e) = cmd {
        return super::remote::agent(g, e);
    }
    let places = Places::from_env(g)?;
    match cmd {
        RemoteCommand::Exec(_) => unreachable!("handled above"),
        RemoteCommand::Add(a) => add::add(&places, &a),
        RemoteCommand::List(a) => add::list(&places, a.json),
        RemoteCommand::Check { name, json } => check::check(&places.machine(&name)?, json),
        RemoteCommand::Up { name } => tunnel::up(&places, &name),
        RemoteCommand::Down { name } => tunnel::down(&places, &name),
        RemoteCommand::Ssh { name, cmd, tty } => {
            ssh::ssh(&places.machine(&name)?, cmd.as_deref(), tty)
        }
    }
}

/// The ssh client car runs (found on PATH).
pub(crate) const SSH: &str = "ssh";
