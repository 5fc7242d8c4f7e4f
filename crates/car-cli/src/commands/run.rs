//! `car run`, `car once` and `car resume`.

use std::io::Write;

use anyhow::{Context, Result};
use car_core::{
    Event, FinishedAs, LockStatus, LoopEvent, RunKind, RunOptions, RunOutcome, StopCause,
    StopHandle, Unrecorded,
};

use crate::cli::{Global, RunFlags};

pub(crate) enum Mode {
    Once,
    Run { max_runs: Option<u64> },
    Resume { max_runs: Option<u64> },
}

pub(crate) fn run(g: &Global, mode: Mode, flags: RunFlags) -> Result<u8> {
    let (command, max_runs) = match mode {
        Mode::Once => ("once", Some(1)),
        Mode::Run { max_runs } => ("run", max_runs),
        Mode::Resume { max_runs } => ("resume", max_runs),
    };
    let repo = super::load(g, &[])?;
    crate::logging::init(Some(&repo.logs_dir()));
    // Under cron, a busy repo is the normal case: one quiet line, exit 0.
    if flags.if_idle
        && let LockStatus::Held(holder) = repo.lock_status()
    {
        outln!("{}", busy_line(holder.as_ref()));
        return Ok(crate::EXIT_OK);
    }
    if command == "resume" {
        if let Some(fixed) = repo.reconcile()?
            && !flags.quiet
        {
            outln!("car: {fixed}");
        }
        let state = repo.state()?;
        if !flags.quiet {
            match (state.last_run_id, state.stop_reason) {
                (Some(id), Some(reason)) => {
                    outln!("car: resuming after run {id} (last stop: {reason})")
                }
                (Some(id), None) => outln!("car: resuming after run {id}"),
                _ => {}
            }
        }
    }
    // One thread is plenty: the runner waits on one child and a few pipes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let opts = RunOptions {
        max_runs,
        command: Some(command.to_string()),
        path_env: std::env::var_os("PATH"),
        supervisor: crate::supervisor_program(),
        started_by: Some(crate::origin::started_by()),
    };
    let quiet = flags.quiet;
    let stop = StopHandle::new();
    // From here a signal stops the loop (recorded) instead of exiting.
    let _routed = crate::signals::route_to(stop.clone(), Some(last_resort(repo.clone())));
    let result = runtime.block_on(async {
        repo.run(opts, &stop, move |e: &Event| {
            if !quiet {
                print_event(e);
            }
        })
        .await
        .map_err(anyhow::Error::from)
    });
    match result {
        // `car once` (or a run limit) after a failed run: the limit was
        // reached, but a script must still learn that the run failed.
        Ok(summary)
            if summary.reason == car_core::StopReason::RunLimit
                && summary.last_outcome.is_some_and(|o| o != RunOutcome::Ok) =>
        {
            Ok(crate::EXIT_FAILURE)
        }
        Ok(summary) => Ok(crate::report::stop_exit_code(summary.reason)),
        // The lock was taken between the probe and the start: still idle-safe.
        Err(e) if flags.if_idle && crate::report::lock_held(&e).is_some() => {
            outln!(
                "{}",
                busy_line(crate::report::lock_held(&e).flatten().as_ref())
            );
            Ok(crate::EXIT_OK)
        }
        Err(e) => Err(e),
    }
}

pub(crate) fn busy_line(holder: Option<&car_core::LockInfo>) -> String {
    format!(
        "car: another runner is active here ({}); nothing to do",
        holder.map_or_else(
            || "holder unknown".to_string(),
            car_core::LockInfo::describe
        )
    )
}

/// The third stop signal: kill the agent's group and record the stop in the
/// state and the ledger now, whatever the loop is stuck on.
fn last_resort(repo: car_core::Repo) -> crate::signals::LastResort {
    Box::new(move |cause| match repo.abandon(cause) {
        Ok(done) => {
            if done.recorded {
                errln!(
                    "car: recorded the stop ({}){}",
                    match cause {
                        StopCause::Interrupted => "interrupted",
                        StopCause::Killed => "killed",
                    },
                    done.agent_group_killed
                        .map(|g| format!("; killed the agent group {g}"))
                        .or(done
                            .agent_supervisor_stopped
                            .map(|p| format!("; the agent's supervisor {p} ends the agent")))
                        .unwrap_or_default()
                );
            }
            if let Some(e) = &done.ledger_error {
                errln!("car: could not append the stop to the ledger: {e}");
            }
            // It holds the state lock: keep it until the process exits, so
            // the stuck loop cannot overwrite the record.
            std::mem::forget(done);
        }
        Err(e) => errln!("car: could not record the stop: {e}"),
    })
}

pub(crate) fn print_event(e: &Event) {
    let mut out = std::io::stdout().lock();
    let run_id = e.run_id.unwrap_or_default();
    let _ = match &e.event {
        LoopEvent::LoopStarted { max_runs, .. } => match max_runs {
            Some(n) => writeln!(
                out,
                "car: loop started (at most {n} run{})",
                if *n == 1 { "" } else { "s" }
            ),
            None => writeln!(out, "car: loop started"),
        },
        LoopEvent::RunStarted { kind, todo } => {
            let todo = todo.clone().unwrap_or_default();
            let what = match kind {
                RunKind::Loop => match &todo.next {
                    Some(next) => format!(
                        "TODO {}/{} done; next: {}",
                        todo.done,
                        todo.total,
                        ellipsize(next, 80)
                    ),
                    None => format!("TODO {}/{} done", todo.done, todo.total),
                },
                RunKind::Summary => "final summary (every TODO item is checked)".to_string(),
            };
            writeln!(out, "run {run_id} started: {what}")
        }
        // A run the loop could not record: the loop's error says why.
        LoopEvent::RunFinished(run) if run.outcome == FinishedAs::Unrecorded(Unrecorded::Error) => {
            Ok(())
        }
        LoopEvent::RunFinished(run) => {
            let mut changed: Vec<String> = run
                .docs_changed
                .iter()
                .map(|d| d.name().to_uppercase())
                .collect();
            if run.worktree_changed {
                changed.push("work tree".into());
            }
            let changed = if changed.is_empty() {
                "nothing".to_string()
            } else {
                changed.join(", ")
            };
            let ok = run.outcome == FinishedAs::Recorded(RunOutcome::Ok);
            let outcome = if ok {
                "ok".to_string()
            } else {
                format!("{} ({})", run.outcome.as_str(), run.describe_exit())
            };
            let tokens = run
                .tokens
                .map(|t| format!("; {} tokens", t.total()))
                .unwrap_or_default();
            let outcome = match &run.error {
                Some(e) if !ok => format!("{outcome}: {}", ellipsize(e, 160)),
                _ => outcome,
            };
            let todo = run.todo_after.unwrap_or_default();
            writeln!(
                out,
                "run {run_id} finished: {outcome} in {:.1}s; TODO {}/{}; changed: {changed}{tokens}{}",
                run.duration_ms as f64 / 1000.0,
                todo.done,
                todo.total,
                match (&run.git_commit, &run.git_error) {
                    (Some(c), _) => format!("; committed {}", &c[..c.len().min(10)]),
                    (None, Some(e)) => format!("; git commit failed: {e}"),
                    (None, None) => String::new(),
                }
            )
        }
        LoopEvent::Sleeping { duration_ms } => {
            writeln!(out, "car: next run in {:.1}s", *duration_ms as f64 / 1000.0)
        }
        LoopEvent::Retry {
            attempt,
            of,
            delay_ms,
            reason,
        } => writeln!(
            out,
            "car: transient failure ({reason}); retry {attempt}/{of} in {:.1}s",
            *delay_ms as f64 / 1000.0
        ),
        LoopEvent::WaitingForQuota {
            wait_ms,
            until,
            message,
            ..
        } => writeln!(
            out,
            "car: usage limit reached ({message}); waiting {:.0}s, until {until}",
            *wait_ms as f64 / 1000.0
        ),
        // The advice follows the stop (its hint).
        LoopEvent::NeedsInput { question } => {
            writeln!(out, "car: run {run_id} needs a person: {question}")
        }
        LoopEvent::Warning { message } => writeln!(out, "car: warning: {message}"),
        // A loop ended by an error: car prints the error itself, on stderr.
        LoopEvent::Stopped {
            reason: car_core::StopReason::Error,
            ..
        } => Ok(()),
        LoopEvent::Stopped { reason, detail, .. } => match detail {
            Some(d) => writeln!(out, "car: stopped: {reason}: {d}"),
            None => writeln!(out, "car: stopped: {reason}"),
        }
        .and_then(|()| match reason.hint() {
            Some(h) => writeln!(out, "     {}", crate::report::advice(h)),
            None => Ok(()),
        }),
        // Not the loop's own doing (replies, notifications, tasks, the
        // server's audit): not shown.
        LoopEvent::Reply { .. }
        | LoopEvent::Notification { .. }
        | LoopEvent::TaskSpawned { .. }
        | LoopEvent::TaskReply { .. }
        | LoopEvent::TaskAborted { .. }
        | LoopEvent::TaskDone { .. }
        | LoopEvent::ExecStarted { .. }
        | LoopEvent::ExecCancelled { .. }
        | LoopEvent::ExecDone { .. }
        | LoopEvent::Audit { .. }
        | LoopEvent::Unknown(_) => Ok(()),
    };
    let _ = out.flush();
}

fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}
