//! `car hub run|start|stop`: the hub's supervisor, and what should run.

use anyhow::{Context, Result};
use car_core::hub::SuperviseOptions;
use car_core::{Hub, StopHandle, StopLevel};

/// `car hub run [--until-idle]`: the supervisor, in the foreground.
/// SIGINT and SIGTERM end it; the loops keep running.
pub(crate) fn run(hub: &Hub, until_idle: bool) -> Result<u8> {
    let program = crate::supervisor_program().context("cannot find the car binary's path")?;
    let stop = StopHandle::new();
    let _routed = crate::signals::route_to_shutdown(stop.clone());
    hub.supervise(&program, &SuperviseOptions { until_idle }, &|| {
        stop.current().level != StopLevel::None
    })?;
    Ok(crate::EXIT_OK)
}

/// `car hub start [ID...|--all]`: queues loops and makes sure a
/// supervisor runs (starting one detached when none does).
pub(crate) fn start(hub: &Hub, ids: &[String], all: bool) -> Result<u8> {
    let ids = chosen(hub, ids, all)?;
    if !ids.is_empty() {
        let r = hub.request_start(&ids)?;
        for id in &r.queued {
            outln!("  queued   {id}");
        }
        for id in &r.already {
            outln!("  already  {id} (queued or running)");
        }
    }
    let program = crate::supervisor_program().context("cannot find the car binary's path")?;
    match hub.spawn_supervisor(&program)? {
        Some(pid) => outln!("hub supervisor started (pid {pid})"),
        None => outln!(
            "hub supervisor running (pid {})",
            hub.supervisor_pid()?.unwrap_or(0)
        ),
    }
    Ok(crate::EXIT_OK)
}

/// `car hub stop [ID...|--all] [--now]`: unqueues loops and stops those
/// running, after their current run (`--now`: at once).
pub(crate) fn stop(hub: &Hub, ids: &[String], all: bool, now: bool) -> Result<u8> {
    let ids = if all {
        hub.repos()?.into_iter().map(|r| r.id).collect()
    } else if ids.is_empty() {
        anyhow::bail!("name the repositories to stop (`car hub stop ID...`) or give --all");
    } else {
        ids.to_vec()
    };
    for id in &ids {
        hub.entry(id)?;
    }
    let unqueued = hub.request_stop(&ids)?;
    let mut failed = false;
    for id in &ids {
        let repo = match hub.repo(id) {
            Ok(r) => r,
            Err(e) => {
                errln!("  {id}: {e}");
                failed = true;
                continue;
            }
        };
        if !Hub::loop_running(repo.root()) {
            if unqueued.contains(id) {
                outln!("  unqueued {id}");
            }
            continue;
        }
        let control = repo.control(crate::origin::requester());
        if now {
            control.stop_now()?;
            outln!("  stopping {id} now");
        } else {
            control.stop_after_run()?;
            outln!("  stopping {id} after its current run");
        }
    }
    Ok(if failed {
        crate::EXIT_FAILURE
    } else {
        crate::EXIT_OK
    })
}

/// The ids asked for: those given, or every enabled repository with --all.
fn chosen(hub: &Hub, ids: &[String], all: bool) -> Result<Vec<String>> {
    if all {
        return Ok(hub
            .repos()?
            .into_iter()
            .filter(|r| r.enabled)
            .map(|r| r.id)
            .collect());
    }
    Ok(ids.to_vec())
}
