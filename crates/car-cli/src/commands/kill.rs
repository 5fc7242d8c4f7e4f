//! `car kill` and `car stop`.

use anyhow::Result;
use car_core::{KillReport, StopReport};

use crate::cli::Global;

pub(crate) fn kill(g: &Global) -> Result<u8> {
    let repo = super::load(g, &[])?;
    crate::logging::init(Some(&repo.logs_dir()));
    print_kill(&repo.control(crate::origin::requester()).kill()?);
    Ok(crate::EXIT_OK)
}

/// Prints what `car kill` found (here, or on a server).
pub(crate) fn print_kill(report: &KillReport) {
    match *report {
        KillReport::NotRunning { cleaned: None } => outln!("car: no runner is active"),
        KillReport::NotRunning {
            cleaned: Some(ref what),
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
}

pub(crate) fn stop(g: &Global) -> Result<u8> {
    let repo = super::load(g, &[])?;
    print_stop(&repo.control(crate::origin::requester()).stop_after_run()?);
    Ok(crate::EXIT_OK)
}

/// Prints what `car stop` found (here, or on a server).
pub(crate) fn print_stop(report: &StopReport) {
    match report {
        StopReport::Requested { .. } => {
            outln!(
                "car: stop requested; the runner stops after its current run (use `car kill` to stop now)"
            );
        }
        StopReport::NotRunning => outln!(
            "car: stop requested; no runner is active now (the next `car run` clears the request)"
        ),
    }
}
