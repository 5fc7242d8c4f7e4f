//! `car kill` and `car stop`.

use anyhow::Result;
use car_core::{KillReport, StopReport};

use crate::cli::Global;

pub(crate) fn kill(g: &Global) -> Result<u8> {
    let repo = super::load(g, &[])?;
    crate::logging::init(Some(&repo.logs_dir()));
    match repo.control(crate::origin::requester()).kill()? {
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
    match repo.control(crate::origin::requester()).stop_after_run()? {
        StopReport::Requested { .. } => {
            outln!(
                "car: stop requested; the runner stops after its current run (use `car kill` to stop now)"
            );
        }
        StopReport::NotRunning => outln!(
            "car: stop requested; no runner is active now (the next `car run` clears the request)"
        ),
    }
    Ok(crate::EXIT_OK)
}
