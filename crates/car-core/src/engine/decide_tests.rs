//! Table-driven tests of the loop's decisions: every stop reason, each
//! from the decision point that makes it, with its detail.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::stop::StopCause;

pub(super) fn policy() -> Policy {
    Policy {
        max_runs: Some(5),
        max_tokens: Some(1000),
        max_wallclock: Some(Duration::from_secs(60)),
        transient_retries: 2,
        transient_backoff: Duration::from_secs(10),
        max_consecutive_failures: 3,
        no_progress_runs: 2,
        quota_retry: Duration::from_secs(300),
        quota_wait_max: Duration::from_secs(3600),
    }
}

pub(super) fn verdict(status: &str, summary: &str) -> Verdict {
    Verdict {
        status: status.into(),
        summary: summary.into(),
        question: String::new(),
    }
}

/// A run that went well and changed something.
pub(super) fn ok_run(class: &ErrorClass) -> RunFacts<'_> {
    RunFacts {
        run_id: 7,
        kind: RunKind::Loop,
        outcome: RunOutcome::Ok,
        class,
        error: None,
        question: None,
        verdict: None,
        todo_open_after: 2,
        made_progress: true,
        exit: "exit 0".into(),
        deadline_passed: false,
    }
}

pub(super) fn failed_run<'a>(class: &'a ErrorClass, error: &'a str) -> RunFacts<'a> {
    RunFacts {
        outcome: RunOutcome::Failed,
        error: Some(error),
        exit: "exit 1".into(),
        ..ok_run(class)
    }
}

pub(super) fn reason(s: &Option<Stop>) -> Option<StopReason> {
    s.as_ref().map(|s| s.reason)
}

fn detail(s: &Stop) -> &str {
    s.detail.as_deref().unwrap_or_default()
}

/// Every reason a stop can have; adding a variant fails to compile here
/// until the tables below decide it (or say who does).
fn every_reason() -> BTreeSet<&'static str> {
    let all = [
        StopReason::Completed,
        StopReason::RunLimit,
        StopReason::Wallclock,
        StopReason::StopRequested,
        StopReason::Interrupted,
        StopReason::Killed,
        StopReason::Failed,
        StopReason::Stalled,
        StopReason::TodoInvalid,
        StopReason::Error,
        StopReason::Crashed,
        StopReason::NeedsInput,
        StopReason::Blocked,
        StopReason::QuotaExhausted,
        StopReason::Budget,
        StopReason::DiskFull,
    ];
    for r in all {
        match r {
            StopReason::Completed
            | StopReason::RunLimit
            | StopReason::Wallclock
            | StopReason::StopRequested
            | StopReason::Interrupted
            | StopReason::Killed
            | StopReason::Failed
            | StopReason::Stalled
            | StopReason::TodoInvalid
            | StopReason::Error
            | StopReason::Crashed
            | StopReason::NeedsInput
            | StopReason::Blocked
            | StopReason::QuotaExhausted
            | StopReason::Budget
            | StopReason::DiskFull => {}
        }
    }
    all.iter().map(|r| r.as_str()).collect()
}

/// Every stop the loop decides, from each of its decision points.
fn decided_stops() -> Vec<(&'static str, Stop)> {
    let p = policy();
    let mut out: Vec<(&'static str, Stop)> = Vec::new();
    let mut push = |case: &'static str, s: Option<Stop>| {
        out.push((case, s.unwrap_or_else(|| panic!("{case}: no stop"))));
    };

    // Between runs.
    let asked = |cause| Between {
        stop: StopRequest {
            level: StopLevel::Graceful,
            cause,
        },
        ..Between::default()
    };
    let c = Counters::default();
    push(
        "ctrl-c",
        between_runs(&p, &c, &asked(StopCause::Interrupted)),
    );
    push("sigterm", between_runs(&p, &c, &asked(StopCause::Killed)));
    let file = Between {
        stop_file: true,
        ..Between::default()
    };
    push("stop file", between_runs(&p, &c, &file));
    let late = Between {
        deadline_passed: true,
        ..Between::default()
    };
    push("wallclock", between_runs(&p, &c, &late));
    let five = Counters {
        runs: 5,
        ..Counters::default()
    };
    push("run limit", between_runs(&p, &five, &Between::default()));
    push("budget", budget(&p, 1000));
    let q = PendingQuestion {
        run_id: 3,
        question: "which db?".into(),
        asked_at: String::new(),
    };
    push("open question", open_question(false, Some(&q)));

    // The TODO.
    let todo = |done, total| TodoStatus {
        done,
        total,
        next: None,
    };
    let (empty, full, half) = (todo(0, 0), todo(2, 2), todo(1, 2));
    let facts = |status, exists, placeholder, summary_final| TodoFacts {
        status,
        exists,
        placeholder,
        path: "TODO.md",
        summary_final,
    };
    push(
        "no todo",
        next_run(&facts(&empty, false, None, false)).err(),
    );
    push(
        "no checkbox",
        next_run(&facts(&empty, true, None, false)).err(),
    );
    push(
        "template item",
        next_run(&facts(&half, true, Some("Describe"), false)).err(),
    );
    push(
        "summary final",
        next_run(&facts(&full, true, None, true)).err(),
    );

    // After a run.
    let other = ErrorClass::Other;
    let billing = ErrorClass::Billing;
    let blocked = verdict("blocked", "no access");
    let after = |r: RunFacts<'_>, c: &mut Counters| match after_run(&p, c, &r, 0.0).next {
        Next::Stop(s) | Next::FinishSummary(s) => Some(s),
        _ => None,
    };
    let fresh = &mut Counters::default();
    let of = |outcome| RunFacts {
        outcome,
        ..ok_run(&other)
    };
    push("run interrupted", after(of(RunOutcome::Interrupted), fresh));
    push("run killed", after(of(RunOutcome::Killed), fresh));
    let timed_out = RunFacts {
        deadline_passed: true,
        ..of(RunOutcome::TimedOut)
    };
    push("run past the wallclock", after(timed_out, fresh));
    let asks = RunFacts {
        question: Some("which db?"),
        ..ok_run(&other)
    };
    push("run asks", after(asks, fresh));
    let is_blocked = RunFacts {
        verdict: Some(&blocked),
        ..ok_run(&other)
    };
    push("run blocked", after(is_blocked, fresh));
    push(
        "billing",
        after(failed_run(&billing, "Quota exceeded"), fresh),
    );
    let summary = RunFacts {
        kind: RunKind::Summary,
        ..ok_run(&other)
    };
    push("summary written", after(summary, fresh));
    let two_failed = &mut Counters {
        failures: 2,
        ..Counters::default()
    };
    push("failures", after(failed_run(&other, "boom"), two_failed));
    let stalled = &mut Counters {
        no_progress: 1,
        ..Counters::default()
    };
    let idle = RunFacts {
        made_progress: false,
        ..ok_run(&other)
    };
    push("no progress", after(idle, stalled));

    // An error that ended the loop.
    push(
        "disk full",
        Some(error_stop(
            true,
            "cannot write run.json: No space left".into(),
        )),
    );
    push(
        "error",
        Some(error_stop(false, "cannot start the agent".into())),
    );
    out
}

#[test]
fn every_stop_reason_is_decided_by_the_loop_except_a_crash() {
    let decided: BTreeSet<&str> = decided_stops()
        .iter()
        .map(|(_, s)| s.reason.as_str())
        .collect();
    let mut all = every_reason();
    // A runner that died cannot decide anything: `car status` finds it.
    assert!(all.remove("crashed"));
    assert!(!decided.contains("crashed"));
    assert_eq!(decided, all);
}

#[test]
fn each_stop_has_its_reason_and_detail() {
    let want: &[(&str, StopReason, &str)] = &[
        ("ctrl-c", StopReason::Interrupted, "interrupted (Ctrl-C)"),
        ("sigterm", StopReason::Killed, "stopped by SIGTERM"),
        (
            "stop file",
            StopReason::StopRequested,
            "a stop was requested (stop file)",
        ),
        (
            "wallclock",
            StopReason::Wallclock,
            "runner.max_wallclock_seconds (60s) passed",
        ),
        ("run limit", StopReason::RunLimit, "run limit of 5 reached"),
        (
            "budget",
            StopReason::Budget,
            "1000 tokens used of the runner.max_tokens budget of 1000; raise it to continue",
        ),
        (
            "open question",
            StopReason::NeedsInput,
            "run 3's question is still open: which db?",
        ),
        ("no todo", StopReason::TodoInvalid, "TODO.md does not exist"),
        (
            "no checkbox",
            StopReason::TodoInvalid,
            "TODO.md has no checkbox items (`- [ ] task` lines)",
        ),
        (
            "template item",
            StopReason::TodoInvalid,
            "TODO.md still holds the template item \"Describe\"",
        ),
        (
            "summary final",
            StopReason::Completed,
            "every TODO item is checked and SUMMARY is final",
        ),
        (
            "run interrupted",
            StopReason::Interrupted,
            "run 7 was interrupted",
        ),
        ("run killed", StopReason::Killed, "run 7 was killed"),
        (
            "run past the wallclock",
            StopReason::Wallclock,
            "runner.max_wallclock_seconds (60s) passed",
        ),
        ("run asks", StopReason::NeedsInput, "run 7 asks: which db?"),
        (
            "run blocked",
            StopReason::Blocked,
            "run 7 is blocked: no access",
        ),
        (
            "billing",
            StopReason::QuotaExhausted,
            "the agent's plan allows no more use (Quota exceeded)",
        ),
        (
            "summary written",
            StopReason::Completed,
            "every TODO item is checked; run 7 wrote the summary",
        ),
        (
            "failures",
            StopReason::Failed,
            "3 failed runs in a row (runner.max_consecutive_failures); last: run 7 exit 1: boom",
        ),
        (
            "no progress",
            StopReason::Stalled,
            "2 runs in a row changed no doc and no file (runner.no_progress_runs)",
        ),
        (
            "disk full",
            StopReason::DiskFull,
            "cannot write run.json: No space left",
        ),
        ("error", StopReason::Error, "cannot start the agent"),
    ];
    let got = decided_stops();
    assert_eq!(got.len(), want.len());
    for ((case, stop), (wcase, wreason, wdetail)) in got.iter().zip(want) {
        assert_eq!(case, wcase);
        assert_eq!((stop.reason, detail(stop)), (*wreason, *wdetail), "{case}");
    }
}
