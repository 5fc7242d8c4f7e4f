//! Turning a loop event into the words of a notification.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Notification, NotifyClass, Priority};
use crate::event::{EventEnvelope, FinishedAs, LoopEvent};
use crate::paths::RepoPaths;
use crate::record::RunOutcome;
use crate::state::{StateStore, StopReason};

/// Facts a notification body needs beyond the event.
pub(crate) struct Context {
    pub(crate) repo: String,
    /// The repository's id in the server's URLs.
    pub(crate) repo_id: String,
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
pub(crate) fn from_event(e: &EventEnvelope, cx: &Context) -> Option<Notification> {
    let (class, run_id, headline, detail, priority, tag): (
        NotifyClass,
        Option<u64>,
        String,
        String,
        Priority,
        &str,
    ) = match &e.event {
        LoopEvent::NeedsInput { question } => {
            let run = e
                .run_id
                .map(|id| format!(" (run {id})"))
                .unwrap_or_default();
            (
                NotifyClass::NeedsInput,
                e.run_id,
                format!("car: {} needs you{run}", cx.repo),
                format!("Question: {question}\nReply to answer, then resume the loop."),
                Priority::Urgent,
                "question",
            )
        }
        LoopEvent::RunFinished(run) => {
            let id = e.run_id?;
            let err = run.error.clone().unwrap_or_default();
            match run.outcome {
                FinishedAs::Recorded(RunOutcome::Hung) => (
                    NotifyClass::Hung,
                    Some(id),
                    format!("car: run {id} hung in {}", cx.repo),
                    format!("Error: {err}"),
                    Priority::High,
                    "hourglass",
                ),
                FinishedAs::Recorded(RunOutcome::Ok) => {
                    let todo = run.todo_after.unwrap_or_default();
                    (
                        NotifyClass::RunFinished,
                        Some(id),
                        format!("car: run {id} finished in {}", cx.repo),
                        format!("TODO {}/{}", todo.done, todo.total),
                        Priority::Low,
                        "white_check_mark",
                    )
                }
                FinishedAs::Recorded(o @ (RunOutcome::Failed | RunOutcome::TimedOut)) => (
                    NotifyClass::RunFailed,
                    Some(id),
                    format!("car: run {id} failed in {}", cx.repo),
                    format!("{} ({}) {err}", o.as_str(), run.describe_exit()),
                    Priority::High,
                    "warning",
                ),
                // Stopped by car (the stop says so), or not recorded (the
                // loop's error stop follows).
                FinishedAs::Recorded(RunOutcome::Interrupted | RunOutcome::Killed)
                | FinishedAs::Unrecorded(_) => return None,
            }
        }
        LoopEvent::WaitingForQuota { until, message, .. } => (
            NotifyClass::WaitingForQuota,
            None,
            format!("car: {} waits for the usage limit", cx.repo),
            format!("Resumes at {until}\n{message}"),
            Priority::Low,
            "zzz",
        ),
        LoopEvent::Stopped { reason, detail, .. } => {
            let d = detail.clone().unwrap_or_default();
            let (class, prio, tag, what) = match reason {
                StopReason::Completed => (
                    NotifyClass::Completed,
                    Priority::Default,
                    "tada",
                    "completed",
                ),
                StopReason::Failed | StopReason::Error | StopReason::DiskFull => {
                    (NotifyClass::Failed, Priority::High, "x", "failed")
                }
                StopReason::Stalled => (NotifyClass::Stalled, Priority::High, "snail", "stalled"),
                StopReason::QuotaExhausted => (
                    NotifyClass::QuotaExhausted,
                    Priority::High,
                    "money_with_wings",
                    "is out of quota",
                ),
                StopReason::Budget => (
                    NotifyClass::Budget,
                    Priority::Default,
                    "moneybag",
                    "reached its token budget",
                ),
                StopReason::Killed | StopReason::Interrupted => (
                    NotifyClass::Killed,
                    Priority::Default,
                    "stop_sign",
                    "was killed",
                ),
                StopReason::Blocked => (
                    NotifyClass::NeedsInput,
                    Priority::Urgent,
                    "no_entry",
                    "is blocked",
                ),
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
        class,
        title: headline,
        body,
        priority,
        tags: vec![tag.to_string()],
        click: cx
            .public_url
            .as_ref()
            .zip(run_id)
            .map(|(u, id)| format!("{}/repos/{}/runs/{id}", u.trim_end_matches('/'), cx.repo_id)),
        repo: cx.repo.clone(),
        run_id,
        actions: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RunFigures;
    use crate::record::RunKind;

    fn cx(dir: &std::path::Path) -> Context {
        Context {
            repo: "demo".into(),
            repo_id: "demo-id".into(),
            loop_started: Instant::now(),
            public_url: Some("https://car.example/".into()),
            summary_path: dir.join("SUMMARY.md"),
            paths: RepoPaths::new(dir),
        }
    }

    fn finished(outcome: RunOutcome) -> EventEnvelope {
        let mut run = RunFigures::unrecorded(RunKind::Loop, "boom".into());
        run.outcome = FinishedAs::Recorded(outcome);
        run.exit_code = Some(2);
        EventEnvelope::now(Some(4), LoopEvent::RunFinished(run))
    }

    #[test]
    fn each_event_becomes_the_class_a_person_chooses_to_hear_of() {
        let dir = tempfile::tempdir().unwrap();
        let cx = cx(dir.path());
        let class = |e: &EventEnvelope| from_event(e, &cx).map(|n| n.class);
        assert_eq!(class(&finished(RunOutcome::Hung)), Some(NotifyClass::Hung));
        assert_eq!(
            class(&finished(RunOutcome::TimedOut)),
            Some(NotifyClass::RunFailed)
        );
        assert_eq!(class(&finished(RunOutcome::Killed)), None, "car's own stop");
        let unrecorded = RunFigures::unrecorded(RunKind::Loop, "disk full".into());
        let unrecorded = EventEnvelope::now(Some(4), LoopEvent::RunFinished(unrecorded));
        assert_eq!(class(&unrecorded), None, "the error stop says it");
        let failed = from_event(&finished(RunOutcome::Failed), &cx).unwrap();
        assert_eq!(failed.run_id, Some(4));
        assert!(
            failed.body.contains("failed (exit 2) boom"),
            "{}",
            failed.body
        );
        assert_eq!(
            failed.click.as_deref(),
            Some("https://car.example/repos/demo-id/runs/4")
        );
        let asked = EventEnvelope::now(
            Some(4),
            LoopEvent::NeedsInput {
                question: "Which DB?".into(),
            },
        );
        let asked = from_event(&asked, &cx).unwrap();
        assert_eq!(asked.class, NotifyClass::NeedsInput);
        assert_eq!(asked.priority, Priority::Urgent);
        assert_eq!(asked.title, "car: demo needs you (run 4)");
        let stop = |reason| LoopEvent::Stopped {
            reason,
            detail: None,
            runs: 1,
            requested_by: None,
            origin: None,
            abandoned: false,
        };
        for (reason, want) in [
            (StopReason::Completed, Some(NotifyClass::Completed)),
            (StopReason::Stalled, Some(NotifyClass::Stalled)),
            (StopReason::Blocked, Some(NotifyClass::NeedsInput)),
            (StopReason::DiskFull, Some(NotifyClass::Failed)),
            (StopReason::RunLimit, None),
        ] {
            let e = EventEnvelope::now(Some(4), stop(reason));
            assert_eq!(class(&e), want, "{reason:?}");
        }
        let note = EventEnvelope::now(None, LoopEvent::Sleeping { duration_ms: 5 });
        assert_eq!(class(&note), None);
    }
}
