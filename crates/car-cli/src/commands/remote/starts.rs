//! `status`, `run`, `once`, `resume`, `stop`, `kill` and `reply` on a
//! server. A loop started here runs on the server: car follows its events
//! until it stops, printing and exiting as `car run` does; Ctrl-C stops
//! the following, not the loop (`car --server URL stop` does).

use std::time::Duration;

use anyhow::Result;
use car_client::{Flow, StreamItem};
use car_core::{EventEnvelope, FinishedAs, LoopEvent, ResumeReport, RunOutcome, StopReason};

use super::target::Remote;
use crate::cli::{ReplyArgs, RunFlags};

/// How long a follower waits for a restarted server before giving up.
pub(super) const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

pub(super) fn status(remote: &Remote, json: bool) -> Result<u8> {
    let report = remote.client.status(remote.repo()?)?;
    super::super::status::print(&report, json)
}

pub(super) fn stop(remote: &Remote) -> Result<u8> {
    super::super::kill::print_stop(&remote.client.stop(remote.repo()?)?);
    Ok(crate::EXIT_OK)
}

pub(super) fn kill(remote: &Remote) -> Result<u8> {
    super::super::kill::print_kill(&remote.client.kill(remote.repo()?)?);
    Ok(crate::EXIT_OK)
}

pub(super) fn reply(remote: &Remote, args: &ReplyArgs) -> Result<u8> {
    let repo = remote.repo()?;
    let text = super::super::reply::answer(args)?;
    super::super::reply::print(&remote.client.reply(repo, &text)?);
    Ok(crate::EXIT_OK)
}

/// What starts the loop.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    Run(Option<u64>),
    Once,
    Resume,
}

/// What the follower saw of the loop it started.
#[derive(Default)]
struct Seen {
    started: bool,
    last_outcome: Option<RunOutcome>,
    code: Option<u8>,
    /// Checks in a row that found no runner.
    idle_checks: u32,
}

pub(super) fn start(remote: &Remote, how: Start, flags: RunFlags) -> Result<u8> {
    let repo = remote.repo()?;
    let client = &remote.client;
    if let Start::Resume = how
        && !flags.quiet
    {
        let state = client.status(repo)?.state;
        match (state.last_run_id, state.stop_reason) {
            (Some(id), Some(reason)) => {
                outln!("car: resuming after run {id} (last stop: {reason})")
            }
            (Some(id), None) => outln!("car: resuming after run {id}"),
            _ => {}
        }
    }
    let mut seen = Seen::default();
    let mut busy: Option<u8> = None;
    // The stream is open before the loop starts: none of its events is missed.
    client.follow(
        &client.stream_path(repo, None),
        None,
        GIVE_UP_AFTER,
        |item| {
            match item {
                StreamItem::Connected { again: false } => match launch(remote, repo, how, flags)? {
                    Some(code) => {
                        busy = Some(code);
                        return Ok(Flow::Stop);
                    }
                    None => return Ok(Flow::Continue),
                },
                StreamItem::Event(e) if e.event == "event" => {
                    if let Some(env) = car_core::parse_event_line(&e.data) {
                        on_event(&env, flags.quiet, &mut seen);
                    }
                }
                StreamItem::Connected { again: true } | StreamItem::Heartbeat => {
                    // A loop that ended unseen (its runner died): say so,
                    // once two checks apart agree (its last events may be
                    // on their way).
                    seen.idle_checks = if client.status(repo)?.running {
                        0
                    } else {
                        seen.idle_checks + 1
                    };
                    if seen.idle_checks >= 2 && seen.code.is_none() {
                        errln!(
                            "car: the runner on the server is gone without recording a stop; \
                             see `{} status`",
                            remote.command()
                        );
                        seen.code = Some(crate::EXIT_FAILURE);
                    }
                }
                StreamItem::Event(_) => {}
            }
            Ok(if seen.code.is_some() {
                Flow::Stop
            } else {
                Flow::Continue
            })
        },
    )?;
    if busy.is_none() {
        wait_for_exit(remote, repo)?;
    }
    Ok(busy.or(seen.code).unwrap_or(crate::EXIT_FAILURE))
}

/// How long the runner may take to exit once it recorded its stop.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// Waits until the runner, having recorded its stop, lets its lock go: as
/// a local `car run` returns, the next command finds the repository free.
fn wait_for_exit(remote: &Remote, repo: &str) -> Result<(), car_client::ClientError> {
    let deadline = std::time::Instant::now() + EXIT_WAIT;
    while remote.client.status(repo)?.running && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Asks the server to start the loop; `Some(code)` when it did not
/// because a runner is active and `--if-idle` makes that fine.
fn launch(
    remote: &Remote,
    repo: &str,
    how: Start,
    flags: RunFlags,
) -> Result<Option<u8>, car_client::ClientError> {
    let client = &remote.client;
    let result = match how {
        Start::Run(max_runs) => client.run(repo, max_runs).map(drop),
        Start::Once => client.once(repo).map(drop),
        Start::Resume => client.resume(repo).map(|r| {
            if let ResumeReport::Started {
                reconciled: Some(fixed),
                ..
            } = &r
                && !flags.quiet
            {
                outln!("car: {fixed}");
            }
        }),
    };
    match result {
        Ok(()) => Ok(None),
        Err(e) if flags.if_idle && e.kind() == Some("busy") => {
            let holder = client.status(repo)?.lock_holder;
            outln!("{}", super::super::run::busy_line(holder.as_ref()));
            Ok(Some(crate::EXIT_OK))
        }
        Err(e) => Err(e),
    }
}

/// Prints an event of the loop as `car run` does; records its end.
fn on_event(env: &EventEnvelope, quiet: bool, seen: &mut Seen) {
    if !seen.started {
        // Events before the loop's start belong to someone else.
        if !matches!(env.event, LoopEvent::LoopStarted { .. }) {
            return;
        }
        seen.started = true;
    }
    if !quiet {
        super::super::run::print_event(env);
    }
    match &env.event {
        LoopEvent::RunFinished(run) => {
            seen.last_outcome = match run.outcome {
                FinishedAs::Recorded(o) => Some(o),
                FinishedAs::Unrecorded(_) => Some(RunOutcome::Failed),
            };
        }
        LoopEvent::Stopped { reason, detail, .. } => {
            if *reason == StopReason::Error {
                errln!(
                    "car: error: the loop on the server stopped: {}",
                    detail.as_deref().unwrap_or("an error")
                );
            }
            // As `car once`: a run limit reached after a failed run fails.
            let failed_last = seen.last_outcome.is_some_and(|o| o != RunOutcome::Ok);
            seen.code = Some(if *reason == StopReason::RunLimit && failed_last {
                crate::EXIT_FAILURE
            } else {
                crate::report::stop_exit_code(*reason)
            });
        }
        _ => {}
    }
}
