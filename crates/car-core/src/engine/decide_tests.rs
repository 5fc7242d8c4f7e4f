//! Table-driven tests of the loop's decisions: every stop reason, the
//! retries of transient failures, and the waits for a usage window.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Local, TimeZone};

use super::*;

fn policy() -> Policy {
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

fn verdict(status: &str, summary: &str) -> Verdict {
    Verdict {
        status: status.into(),
        summary: summary.into(),
        question: String::new(),
    }
}

/// A run that went well and changed something.
fn ok_run(class: &ErrorClass) -> RunFacts<'_> {
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

fn failed_run<'a>(class: &'a ErrorClass, error: &'a str) -> RunFacts<'a> {
    RunFacts {
        outcome: RunOutcome::Failed,
        error: Some(error),
        exit: "exit 1".into(),
        ..ok_run(class)
    }
}

fn reason(s: &Option<Stop>) -> Option<StopReason> {
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
        (
            "sigterm",
            StopReason::Killed,
            "stopped by SIGTERM (car kill)",
        ),
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
            "run 3's question is still open: which db?; answer with `car reply`, then `car resume`",
        ),
        (
            "no todo",
            StopReason::TodoInvalid,
            "TODO.md does not exist; run `car init` or create it with `- [ ] task` items",
        ),
        (
            "no checkbox",
            StopReason::TodoInvalid,
            "TODO.md has no checkbox items; add tasks as `- [ ] task` lines, or run `car ingest-spec`",
        ),
        (
            "template item",
            StopReason::TodoInvalid,
            "TODO.md still holds the template item \"Describe\"; replace it with your own tasks (`car edit todo`), or run `car ingest-spec`",
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
            "the agent's plan allows no more use (Quota exceeded); check your plan and billing, then `car resume`",
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
            "cannot write run.json: No space left; free space on that file system, then `car resume`",
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

#[test]
fn between_runs_checks_in_order_and_the_budget_apart() {
    let p = policy();
    let everything = Between {
        stop: StopRequest {
            level: StopLevel::Immediate,
            cause: StopCause::Killed,
        },
        stop_file: true,
        deadline_passed: true,
    };
    let at_limit = Counters {
        runs: 5,
        ..Counters::default()
    };
    let cases = [
        (everything, at_limit, Some(StopReason::Killed)),
        (
            Between {
                stop: StopRequest::default(),
                ..everything
            },
            at_limit,
            Some(StopReason::StopRequested),
        ),
        (
            Between {
                stop_file: false,
                ..Between {
                    stop: StopRequest::default(),
                    ..everything
                }
            },
            at_limit,
            Some(StopReason::Wallclock),
        ),
        (Between::default(), at_limit, Some(StopReason::RunLimit)),
        (
            Between::default(),
            Counters {
                runs: 4,
                ..Counters::default()
            },
            None,
        ),
    ];
    for (i, (now, c, want)) in cases.into_iter().enumerate() {
        assert_eq!(reason(&between_runs(&p, &c, &now)), want, "case {i}");
    }
    let unlimited = Policy {
        max_runs: None,
        max_tokens: None,
        ..policy()
    };
    assert_eq!(
        between_runs(
            &unlimited,
            &Counters {
                runs: 99,
                ..Counters::default()
            },
            &Between::default()
        ),
        None
    );
    assert_eq!(budget(&unlimited, u64::MAX), None);
    assert_eq!(budget(&p, 999), None);
    assert_eq!(open_question(true, None), None);
    let q = PendingQuestion {
        run_id: 1,
        question: "q".into(),
        asked_at: String::new(),
    };
    assert_eq!(open_question(true, Some(&q)), None, "resume goes on");
}

#[test]
fn the_todo_picks_the_kind_of_run() {
    let status = |done, total| TodoStatus {
        done,
        total,
        next: None,
    };
    let (half, full) = (status(1, 3), status(3, 3));
    let facts = |s| TodoFacts {
        status: s,
        exists: true,
        placeholder: None,
        path: "TODO.md",
        summary_final: false,
    };
    assert_eq!(next_run(&facts(&half)), Ok(RunKind::Loop));
    assert_eq!(next_run(&facts(&full)), Ok(RunKind::Summary));
    let stale_final = TodoFacts {
        summary_final: true,
        ..facts(&half)
    };
    assert_eq!(
        next_run(&stale_final),
        Ok(RunKind::Loop),
        "open items: work on"
    );
}

#[test]
fn transient_failures_are_retried_with_backoff_then_count() {
    let p = policy();
    let transient = ErrorClass::Transient;
    let mut c = Counters::default();
    let run = failed_run(&transient, "stream disconnected");
    // Table: (jitter, expected next) for three failures in a row.
    let table = [
        (0.0, Some((1, Duration::from_secs(10)))),
        (
            0.999,
            Some((2, Duration::from_secs_f64(20.0 * (1.0 + 0.999 * 0.25)))),
        ),
        (0.0, None),
    ];
    for (i, (jitter, want)) in table.into_iter().enumerate() {
        let d = after_run(&p, &mut c, &run, jitter);
        match (d.next, want) {
            (
                Next::Retry {
                    attempt,
                    of,
                    delay,
                    reason,
                },
                Some((wa, wd)),
            ) => {
                assert_eq!(
                    (attempt, of, reason.as_str()),
                    (wa, 2, "stream disconnected"),
                    "case {i}"
                );
                assert_eq!(delay, wd, "case {i}");
            }
            (Next::Continue, None) => {}
            (other, want) => panic!("case {i}: {other:?}, want {want:?}"),
        }
    }
    assert_eq!(
        c,
        Counters {
            runs: 1,
            failures: 1,
            no_progress: 0,
            transient: 0
        },
        "retried runs do not count; the spent retries reset"
    );
    // A success clears the failures.
    let other = ErrorClass::Other;
    assert_eq!(
        after_run(&p, &mut c, &ok_run(&other), 0.0).next,
        Next::Continue
    );
    assert_eq!((c.runs, c.failures), (2, 0));
}

#[test]
fn backoff_doubles_and_jitters_at_most_a_quarter() {
    let base = Duration::from_secs(1);
    let table = [
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (3, 1.0, 5.0),
        (1, 0.5, 1.125),
        (40, 0.0, 65536.0),
    ];
    for (attempt, jitter, secs) in table {
        assert_eq!(
            backoff(base, attempt, jitter),
            Duration::from_secs_f64(secs),
            "{attempt} {jitter}"
        );
    }
}

#[test]
fn usage_limits_wait_for_the_reset_and_redo_the_run() {
    let p = policy();
    let now = Local.with_ymd_and_hms(2026, 3, 1, 11, 0, 0).unwrap();
    let reset = now + chrono::Duration::minutes(10);
    let class = ErrorClass::UsageLimit(Some(reset));
    let mut c = Counters::default();
    let d = after_run(&p, &mut c, &failed_run(&class, "usage limit"), 0.0);
    assert_eq!(
        d.next,
        Next::WaitForQuota {
            reset: Some(reset),
            message: "usage limit".into()
        }
    );
    assert_eq!(
        c,
        Counters::default(),
        "the run is redone; it does not count"
    );
    let hours = |h| now + chrono::Duration::hours(h);
    let table = [
        (Some(reset), Duration::from_secs(600)),
        (None, Duration::from_secs(300)),
        (Some(hours(5)), Duration::from_secs(3600)),
        (Some(now), Duration::from_secs(2)),
        (Some(hours(-1)), Duration::from_secs(2)),
    ];
    for (reset, want) in table {
        assert_eq!(quota_wait(&p, reset, now), want, "{reset:?}");
    }
}

#[test]
fn a_done_verdict_with_open_items_warns_and_goes_on() {
    let p = policy();
    let other = ErrorClass::Other;
    let done = verdict("done", "all good");
    let mut c = Counters::default();
    let run = RunFacts {
        verdict: Some(&done),
        ..ok_run(&other)
    };
    let d = after_run(&p, &mut c, &run, 0.0);
    assert_eq!(d.next, Next::Continue);
    assert_eq!(
        d.warning.as_deref(),
        Some("run 7 says it is done (all good), but the TODO has 2 open item(s); continuing")
    );
    let closed = RunFacts {
        todo_open_after: 0,
        ..run
    };
    assert_eq!(after_run(&p, &mut c, &closed, 0.0).warning, None);
}

#[test]
fn a_failed_summary_run_counts_as_a_failure() {
    let p = policy();
    let other = ErrorClass::Other;
    let mut c = Counters {
        no_progress: 1,
        ..Counters::default()
    };
    let run = RunFacts {
        kind: RunKind::Summary,
        made_progress: false,
        ..failed_run(&other, "the summary run left SUMMARY.md unchanged")
    };
    assert_eq!(after_run(&p, &mut c, &run, 0.0).next, Next::Continue);
    assert_eq!(
        (c.failures, c.no_progress),
        (1, 1),
        "summary runs do not count as stalls"
    );
}
