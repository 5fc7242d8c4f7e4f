//! The task's own process (`car __task <repo> <id>`): runs the latest turn
//! of a task with `codex exec` (`codex exec ... resume <thread id>` for a
//! reply), under its supervisor and run marker, and records how it went.

use std::ffi::OsString;
use std::path::Path;

use super::TaskError;
use super::record::{self, ABORT_FILE, FINAL_FILE, OUTPUT_FILE, TaskRecord, TaskState, ledger};
use crate::agent::{ExitKind, OutputLog};
use crate::codex::{self, Invoked};
use crate::config::Config;
use crate::event::LoopEvent;
use crate::paths::RepoPaths;
use crate::record::RunOutcome;
use crate::stop::StopHandle;

/// The subcommand (first argument) of the task's process.
pub const SUBCOMMAND: &str = "__task";

/// The marker name of a task's processes.
pub(crate) fn marker_name(id: &str) -> String {
    format!("task-{id}")
}

/// Runs the latest turn of task `id` in this process and records its end.
/// Returns the state it ended in.
pub(crate) async fn run_turn(
    cfg: &Config,
    paths: &RepoPaths,
    id: &str,
    stop: &StopHandle,
    supervisor: Option<&Path>,
    path_env: Option<&OsString>,
) -> Result<TaskState, TaskError> {
    let dir = record::task_dir(paths, id)?;
    let me = std::process::id();
    let me_start = crate::process::start_time(me);
    let (go, rec) = record::update(&dir, |r| {
        // An abort that came before this process took the record wins.
        if r.state.is_done() || dir.join(ABORT_FILE).exists() {
            if !r.state.is_done() {
                r.finish(TaskState::Cancelled, None, Some("aborted".into()));
            }
            return Ok(false);
        }
        r.state = TaskState::Running;
        r.runner_pid = Some(me);
        r.runner_start = me_start;
        if let Some(t) = r.current_turn_mut() {
            t.state = TaskState::Running;
            t.started_at = Some(crate::time::iso_millis(crate::time::now()));
        }
        Ok(true)
    })?;
    if !go {
        return Ok(rec.state);
    }
    let n = rec.current_turn().map_or(1, |t| t.n);
    let result = invoke(cfg, &dir, &rec, n, stop, supervisor, path_env).await;
    let aborted = dir.join(ABORT_FILE).exists();
    // The final output is on disk before the record says the turn ended,
    // so a reader who sees it ended never reads the previous turn's.
    if let Ok(run) = &result {
        let text = run.final_output.text.as_bytes();
        crate::fs_util::write_atomic(&dir.join(FINAL_FILE), text)?;
        crate::fs_util::write_atomic(&record::turn_dir(&dir, n).join(FINAL_FILE), text)?;
    }
    let (_, rec) = record::update(&dir, |r| {
        match &result {
            Ok(run) => {
                if let Some(t) = run.codex.as_ref().and_then(|c| c.thread_id.clone()) {
                    r.thread_id = Some(t);
                }
                let state = if aborted {
                    TaskState::Cancelled
                } else {
                    state_of(run.outcome)
                };
                let exit = match run.out.exit {
                    ExitKind::Code(c) => Some(c),
                    ExitKind::Signal(_) => None,
                };
                r.finish(state, exit, failure(run));
            }
            Err(e) => r.finish(TaskState::Failed, None, Some(e.to_string())),
        }
        Ok(())
    })?;
    ledger(cfg, paths).append(
        None,
        LoopEvent::TaskDone {
            task_id: id.to_string(),
            turn: n,
            state: rec.state,
            exit_code: rec.exit_code,
        },
    )?;
    result.map(|_| rec.state)
}

async fn invoke(
    cfg: &Config,
    dir: &Path,
    rec: &TaskRecord,
    n: u32,
    stop: &StopHandle,
    supervisor: Option<&Path>,
    path_env: Option<&OsString>,
) -> Result<Invoked, TaskError> {
    let turn = record::turn_dir(dir, n);
    let prompt_path = turn.join(crate::record::PROMPT_FILE);
    let prompt = std::fs::read(&prompt_path).map_err(|source| crate::fs_util::PathError {
        action: "cannot read",
        path: prompt_path,
        source,
    })?;
    let marker = marker_name(&rec.id);
    let invocation = codex::Invocation {
        cfg,
        dir: &turn,
        marker: &marker,
        model: rec.model.as_deref().or(cfg.codex.model.as_deref()),
        path_env,
        supervisor,
        verdict_schema: false,
    };
    if !invocation.codex_mode() {
        return Err(TaskError::NotCodexExec);
    }
    let mut command = invocation.command()?;
    command.cwd.clone_from(&rec.cwd);
    if n > 1 {
        let thread = rec
            .thread_id
            .as_deref()
            .ok_or_else(|| TaskError::NoThread { id: rec.id.clone() })?;
        command.args = resume_args(command.args, thread);
    }
    invocation.prepare_dir()?;
    let mut log = OutputLog::open(&dir.join(OUTPUT_FILE))?;
    let deadline = cfg.codex.run_timeout.map(crate::time::deadline_in);
    let run = invocation
        .run(&command, prompt, &mut log, stop, deadline, |_| {})
        .await;
    log.flush()?;
    Ok(run?)
}

/// `codex [...] exec [...] --json -o FILE -` becomes `codex [...] exec
/// [...] --json -o FILE resume <thread> -`: the same options, the same
/// conversation, the reply on stdin.
pub(crate) fn resume_args(mut args: Vec<String>, thread: &str) -> Vec<String> {
    if args.last().map(String::as_str) == Some("-") {
        args.pop();
    }
    args.extend(["resume".to_string(), thread.to_string(), "-".to_string()]);
    args
}

/// The task's state after a turn that came to `outcome`.
fn state_of(outcome: RunOutcome) -> TaskState {
    match outcome {
        RunOutcome::Ok => TaskState::Succeeded,
        RunOutcome::Interrupted | RunOutcome::Killed => TaskState::Cancelled,
        RunOutcome::Failed | RunOutcome::TimedOut | RunOutcome::Hung => TaskState::Failed,
    }
}

/// What went wrong in a turn, when something did.
fn failure(run: &Invoked) -> Option<String> {
    match run.outcome {
        RunOutcome::Ok => None,
        RunOutcome::Failed => Some(
            run.codex
                .as_ref()
                .and_then(|c| c.failure_message())
                .map_or_else(
                    || format!("the agent ended with {:?}", run.out.exit),
                    str::to_owned,
                ),
        ),
        other => Some(other.as_str().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_resumes_the_thread_with_the_same_options_and_stdin() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(
            resume_args(args(&["--yolo", "exec", "--json", "-o", "f", "-"]), "th-1"),
            args(&["--yolo", "exec", "--json", "-o", "f", "resume", "th-1", "-"])
        );
        assert_eq!(
            resume_args(args(&["exec", "--json"]), "th-2"),
            args(&["exec", "--json", "resume", "th-2", "-"])
        );
    }

    #[test]
    fn each_outcome_maps_to_a_task_state() {
        let table = [
            (RunOutcome::Ok, TaskState::Succeeded),
            (RunOutcome::Interrupted, TaskState::Cancelled),
            (RunOutcome::Killed, TaskState::Cancelled),
            (RunOutcome::Failed, TaskState::Failed),
            (RunOutcome::TimedOut, TaskState::Failed),
            (RunOutcome::Hung, TaskState::Failed),
        ];
        for (outcome, state) in table {
            assert_eq!(state_of(outcome), state, "{outcome:?}");
        }
    }
}
