//! Remote machines: the `machines` config section (where each machine's
//! `car serve` is reached over SSH) and the state of the local SSH tunnels
//! to them.
//!
//! A machine is read from the user's car config
//! (`$XDG_CONFIG_HOME/car/config.yml`, default `~/.config/car/config.yml`)
//! and from a repository's root `codex-autorunner.yml` (whose entries win,
//! name by name). The engine never reads the process environment: callers
//! pass the directories.

mod config;
mod error;
mod tunnel;
mod user_file;

pub use config::{DEFAULT_REMOTE_PORT, DEFAULT_TOKEN_ENV, MACHINE_KEYS, Machine, Machines};
pub use error::MachineError;
pub use tunnel::{StartLock, TunnelPaths, TunnelState, spawn_supervisor, tunnels_dir};
pub use user_file::{add_machine, machine_files, user_config_file};
