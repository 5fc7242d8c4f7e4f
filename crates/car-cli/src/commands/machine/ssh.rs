//! `car remote ssh NAME [--cmd CMD] [--tty]`: ssh with the machine's
//! settings, the user's own identity, and agent forwarding when configured.

use std::process::Command;

use anyhow::{Context, Result};
use car_core::machine::Machine;

use super::SSH;

/// Runs ssh in the foreground (the terminal is ssh's); returns its exit code.
pub(crate) fn ssh(machine: &Machine, cmd: Option<&str>, tty: bool) -> Result<u8> {
    let mut c = Command::new(SSH);
    if machine.forward_agent {
        c.arg("-A");
    }
    if tty {
        c.arg("-t");
    }
    c.args(machine.ssh_options_args()).arg(&machine.ssh);
    if let Some(cmd) = cmd {
        c.arg("--").arg(cmd);
    }
    let status = c.status().with_context(|| format!("cannot start {SSH}"))?;
    Ok(match status.code() {
        Some(code) => u8::try_from(code).unwrap_or(crate::EXIT_FAILURE),
        None => crate::EXIT_INTERRUPTED,
    })
}
