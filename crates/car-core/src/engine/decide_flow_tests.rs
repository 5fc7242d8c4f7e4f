//! Table-driven tests of the loop's decisions between stops: the order of
//! the checks between runs, the kind of run, retries of transient failures
//! with backoff, waits for a usage window, and the counters.

use std::time::Duration;

use chrono::{Local, TimeZone};

use super::tests::{failed_run, ok_run, policy, reason, verdict};
use super::*;
use crate::stop::StopCause;

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
