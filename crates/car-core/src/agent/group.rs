//! Ending what is left of a run: the agent's process group, and how a
//! supervised agent ended according to its supervisor.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{AgentCommand, AgentError, ExitKind, OutputLog};
use crate::process;
use crate::supervisor;

/// Grace given to leftover group members after the agent itself exited.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// How a supervised agent ended, from its supervisor's report (or, when the
/// supervisor left none, from how the supervisor itself ended).
pub(super) fn supervised_exit(
    cmd: &AgentCommand,
    sup: &supervisor::Supervision,
    supervisor_exit: ExitKind,
    log: &mut OutputLog,
) -> Result<ExitKind, AgentError> {
    let Some(report) = supervisor::read_report(&sup.status_file) else {
        log.note(&format!(
            "the agent's supervisor ended without a report ({}); its processes are stopped by their marker",
            match supervisor_exit {
                ExitKind::Code(c) => format!("exit code {c}"),
                ExitKind::Signal(s) => format!("signal {s}"),
            }
        ))?;
        return Ok(supervisor_exit);
    };
    if let Some(message) = report.spawn_error {
        return Err(if report.not_found {
            AgentError::NotFound {
                binary: cmd.program.display().to_string(),
                hint: String::new(),
            }
        } else {
            AgentError::SupervisedSpawn {
                program: cmd.program.clone(),
                message,
            }
        });
    }
    if report.leftovers > 0 {
        tracing::info!(
            leftovers = report.leftovers,
            "the supervisor stopped processes the agent left running"
        );
    }
    Ok(match (report.exit_code, report.signal) {
        (Some(c), _) => ExitKind::Code(c),
        (None, Some(s)) => ExitKind::Signal(s),
        (None, None) => supervisor_exit,
    })
}

pub(super) async fn stop_leftovers(pgid: u32) {
    process::signal_group(pgid, Signal::SIGTERM);
    let until = Instant::now() + LEFTOVER_GRACE;
    while Instant::now() < until && process::group_exists(pgid) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    process::signal_group(pgid, Signal::SIGKILL);
}

/// Kills the agent's whole group if the supervisor is dropped mid-run
/// (`kill_on_drop` alone would reach only the leader).
pub(super) struct GroupGuard {
    pub(super) pgid: u32,
    pub(super) armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed && process::group_exists(self.pgid) {
            process::signal_group(self.pgid, Signal::SIGKILL);
        }
    }
}
