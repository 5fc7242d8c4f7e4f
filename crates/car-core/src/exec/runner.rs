//! The command's own process (`car __exec <repo> <id>`): runs `sh -c CMD`
//! as the leader of its own process group, in the command's directory,
//! with its stdout and stderr written straight to `stdout.log` and
//! `stderr.log`, and records how it ended. A stop (SIGTERM to this
//! process) gives the group SIGTERM, then SIGKILL after
//! `runner.kill_grace_seconds`; whatever is left afterwards, in the group
//! or anywhere carrying the command's marker, is killed.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::ExecError;
use super::record::{self, CANCEL_FILE, ExecRecord, ExecStream};
use crate::config::Config;
use crate::event::LoopEvent;
use crate::marker::RunMarker;
use crate::paths::RepoPaths;
use crate::process;
use crate::stop::{StopHandle, StopLevel};
use crate::task::TaskState;

/// The subcommand (first argument) of a command's process.
pub const SUBCOMMAND: &str = "__exec";

/// How long what is left of the group gets after `sh` ended, before SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// The marker name of a command's processes.
pub(crate) fn marker_name(id: &str) -> String {
    format!("exec-{id}")
}

/// Runs command `id` in this process and records its end; returns the
/// state it ended in.
pub(crate) async fn run(
    cfg: &Config,
    paths: &RepoPaths,
    root: &Path,
    id: &str,
    stop: &StopHandle,
) -> Result<TaskState, ExecError> {
    let dir = record::exec_dir(paths, id)?;
    let me = std::process::id();
    let me_start = process::start_time(me);
    let (go, rec) = record::update(&dir, |r| {
        // A cancel that came before this process took the record wins.
        if r.state.is_done() || dir.join(CANCEL_FILE).exists() {
            if !r.state.is_done() {
                r.finish(TaskState::Cancelled, None, None, None);
            }
            return Ok(false);
        }
        r.state = TaskState::Running;
        r.runner_pid = Some(me);
        r.runner_start = me_start;
        r.started_at = Some(crate::time::iso_millis(crate::time::now()));
        Ok(true)
    })?;
    if !go {
        return Ok(rec.state);
    }
    let result = execute(cfg, root, &dir, &rec, stop).await;
    let cancelled = dir.join(CANCEL_FILE).exists();
    let (_, rec) = record::update(&dir, |r| {
        match &result {
            Ok((status, stopped)) => {
                let state = if cancelled || *stopped {
                    TaskState::Cancelled
                } else if status.code() == Some(0) {
                    TaskState::Succeeded
                } else {
                    TaskState::Failed
                };
                r.finish(state, status.code(), status.signal(), None);
            }
            Err(e) => r.finish(TaskState::Failed, None, None, Some(e.to_string())),
        }
        Ok(())
    })?;
    crate::task::ledger(cfg, paths).append(
        None,
        LoopEvent::ExecDone {
            exec_id: id.to_string(),
            state: rec.state,
            exit_code: rec.exit_code,
            signal: rec.signal,
        },
    )?;
    result.map(|_| rec.state)
}

/// Runs `sh -c CMD`; returns how it ended and whether a stop ended it.
async fn execute(
    cfg: &Config,
    root: &Path,
    dir: &Path,
    rec: &ExecRecord,
    stop: &StopHandle,
) -> Result<(ExitStatus, bool), ExecError> {
    let stdout = crate::fs_util::open_append(&dir.join(ExecStream::Stdout.file_name()))?;
    let stderr = crate::fs_util::open_append(&dir.join(ExecStream::Stderr.file_name()))?;
    let marker = RunMarker::new(root, &marker_name(&rec.id));
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&rec.cmd)
        .current_dir(&rec.cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        // The agent's environment: no server token, no notification secret.
        .env_clear()
        .envs(crate::agent_env::for_agent(
            cfg,
            std::env::var_os("PATH").unwrap_or_default(),
        ))
        .env(crate::marker::MARKER_VAR, marker.value())
        .spawn()
        .map_err(|source| ExecError::Spawn {
            cwd: rec.cwd.clone(),
            source,
        })?;
    let pgid = child.id().unwrap_or(0);
    let mut rx = stop.subscribe();
    let mut stopped = rx.borrow_and_update().level != StopLevel::None;
    let mut stop_open = true;
    let status = loop {
        if stopped {
            break stop_group(&mut child, pgid, cfg.runner.kill_grace).await;
        }
        tokio::select! {
            status = child.wait() => break status,
            changed = rx.changed(), if stop_open => match changed {
                Ok(()) => stopped = rx.borrow_and_update().level != StopLevel::None,
                Err(_) => stop_open = false,
            },
        }
    };
    let status = status.map_err(|source| ExecError::Spawn {
        cwd: rec.cwd.clone(),
        source,
    })?;
    end_leftovers(pgid, &marker).await;
    Ok((status, stopped))
}

/// SIGTERM to the group, then SIGKILL once `grace` has passed.
async fn stop_group(
    child: &mut tokio::process::Child,
    pgid: u32,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
    process::signal_group(pgid, Signal::SIGTERM);
    if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
        return status;
    }
    process::signal_group(pgid, Signal::SIGKILL);
    child.wait().await
}

/// Ends what `sh` left running: its group (SIGTERM, a moment, SIGKILL),
/// then every process still carrying the command's marker (one that left
/// the group or the session too).
async fn end_leftovers(pgid: u32, marker: &RunMarker) {
    if process::group_exists(pgid) {
        process::signal_group(pgid, Signal::SIGTERM);
        let until = Instant::now() + LEFTOVER_GRACE;
        while Instant::now() < until && process::group_exists(pgid) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        process::signal_group(pgid, Signal::SIGKILL);
    }
    let marker = marker.clone();
    let _ = tokio::task::spawn_blocking(move || crate::marker::kill_marked(&marker)).await;
}
