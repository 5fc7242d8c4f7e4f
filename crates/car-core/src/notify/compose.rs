//! Turning a loop event into the words of a notification.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Notification, Priority};
use crate::engine::Event;
use crate::paths::RepoPaths;
use crate::record::RunOutcome;
use crate::state::{StateStore, StopReason};

/// Facts a notification body needs beyond the event.
pub(crate) struct Context {
    pub(crate) repo: String,
    pub(crate) loop_started: Instant,
    pub(crate) public_url: Option<String>,
    pub(crate) summary_path: PathBuf,
    pub(crate) paths: RepoPaths,
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// Turns a loop event into a notification, when it is one.
pub(crate) fn from_event(e: &Event, cx: &Context) -> Option<Notification> {
    let (class, run_id, headline, detail, priority, tag): (
        &str,
        Option<u64>,
        String,
        String,
        Priority,
        &str,
    ) = match e {
        Event::NeedsInput { run_id, question } => (
            "needs_input",
            Some(*run_id),
            format!("car: {} needs you (run {run_id})", cx.repo),
            format!("Question: {question}\nReply to answer, then resume the loop."),
            Priority::Urgent,
            "question",
        ),
        Event::RunFinished { record } => {
            let err = record.error.clone().unwrap_or_default();
            match record.outcome {
                RunOutcome::Hung => (
                    "hung",
                    Some(record.id),
                    format!("car: run {} hung in {}", record.id, cx.repo),
                    format!("Error: {err}"),
                    Priority::High,
                    "hourglass",
                ),
                RunOutcome::Ok => (
                    "run_finished",
                    Some(record.id),
                    format!("car: run {} finished in {}", record.id, cx.repo),
                    format!(
                        "TODO {}/{}",
                        record.todo_after.done, record.todo_after.total
                    ),
                    Priority::Low,
                    "white_check_mark",
                ),
                RunOutcome::Failed | RunOutcome::TimedOut => (
                    "run_failed",
                    Some(record.id),
                    format!("car: run {} failed in {}", record.id, cx.repo),
                    format!(
                        "{} ({}) {err}",
                        record.outcome.as_str(),
                        record.describe_exit()
                    ),
                    Priority::High,
                    "warning",
                ),
                RunOutcome::Interrupted | RunOutcome::Killed => return None,
            }
        }
        Event::WaitingForQuota { until, message, .. } => (
            "waiting_for_quota",
            None,
            format!("car: {} waits for the usage limit", cx.repo),
            format!("Resumes at {until}\n{message}"),
            Priority::Low,
            "zzz",
        ),
        Event::Stopped { reason, detail, .. } => {
            let d = detail.clone().unwrap_or_default();
            let (class, prio, tag, what) = match reason {
                StopReason::Completed => ("completed", Priority::Default, "tada", "completed"),
                StopReason::Failed | StopReason::Error | StopReason::DiskFull => {
                    ("failed", Priority::High, "x", "failed")
                }
                StopReason::Stalled => ("stalled", Priority::High, "snail", "stalled"),
                StopReason::QuotaExhausted => (
                    "quota_exhausted",
                    Priority::High,
                    "money_with_wings",
                    "is out of quota",
                ),
                StopReason::Budget => (
                    "budget",
                    Priority::Default,
                    "moneybag",
                    "reached its token budget",
                ),
                StopReason::Killed | StopReason::Interrupted => {
                    ("killed", Priority::Default, "stop_sign", "was killed")
                }
                StopReason::Blocked => ("needs_input", Priority::Urgent, "no_entry", "is blocked"),
                _ => return None,
            };
            let mut detail = format!("Reason: {d}");
            if *reason == StopReason::Completed {
                let summary = std::fs::read_to_string(&cx.summary_path).unwrap_or_default();
                let lines: Vec<&str> = summary
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("<!--"))
                    .take(8)
                    .collect();
                if !lines.is_empty() {
                    detail.push_str(&format!("\nSummary:\n{}", lines.join("\n")));
                }
            }
            (
                class,
                None,
                format!("car: {} {what}", cx.repo),
                detail,
                prio,
                tag,
            )
        }
        _ => return None,
    };
    let state = StateStore::new(&cx.paths).load().ok().map(|l| l.state);
    let run_id = run_id.or(state.as_ref().and_then(|s| s.last_run_id));
    let mut body = format!("Repo: {}\n", cx.repo);
    if let Some(id) = run_id {
        body.push_str(&format!("Run: {id}\n"));
    }
    body.push_str(&detail);
    body.push_str(&format!(
        "\nLoop running for: {}",
        human(cx.loop_started.elapsed())
    ));
    if let Some(s) = &state
        && s.tokens.total() > 0
    {
        body.push_str(&format!(
            "\nTokens: {} this loop, {} in all",
            s.loop_tokens.total(),
            s.tokens.total()
        ));
    }
    Some(Notification {
        class: class.to_string(),
        title: headline,
        body,
        priority,
        tags: vec![tag.to_string()],
        click: cx
            .public_url
            .as_ref()
            .zip(run_id)
            .map(|(u, id)| format!("{}/runs/{id}", u.trim_end_matches('/'))),
        repo: cx.repo.clone(),
        run_id,
    })
}
