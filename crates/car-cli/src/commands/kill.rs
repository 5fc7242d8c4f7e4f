//! `car kill` and `car stop`.

use anyhow::Result;
use car_core::{KillReport, LockStatus};

use crate::cli::Global;

pub(crate) fn kill(g: &Global) -> Result<u8> {
    let repo = super::load(g, &[])?;
    crate::logging::init(Some(&repo.logs_dir()));
    match repo.kill()? {
        KillReport::NotRunning { cleaned: None } => outln!("car: no runner is active"),
        KillReport::NotRunning {
            cleaned: Some(what),
        } => outln!("car: no runner is active ({what}; state fixed)"),
        KillReport::Stopped { pid, waited_ms } => {
            outln!(
                "car: runner pid {pid} stopped after SIGTERM in {:.1}s",
                waited_ms as f64 / 1000.0
            );
        }
        KillReport::ForceKilled { pid } => {
            outln!(
                "car: runner pid {pid} did not stop in time; killed it and its agent with SIGKILL"
            );
        }
    }
    Ok(crate::EXIT_OK)
}

pub(crate) fn stop(g: &Global) -> Result<u8> {
    let repo = super::load(g, &[])?;
    repo.request_stop()?;
    match repo.lock_status() {
        LockStatus::Held(_) => {
            outln!(
                "car: stop requested; the runner stops after its current run (use `car kill` to stop now)"
            );
        }
        _ => outln!(
            "car: stop requested; no runner is active now (the next `car run` clears the request)"
        ),
    }
    Ok(crate::EXIT_OK)
}
