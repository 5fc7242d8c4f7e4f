//! The loop's decisions, apart from any I/O: whether to stop before a run
//! (a stop request, the stop file, the time limit, the run limit, the token
//! budget, the TODO), and what to do after one (stop, wait for the usage
//! window, retry a transient failure, go on). Plain inputs in, a decision
//! out; the driver gathers the inputs and carries the decisions out.

use std::time::Duration;

use chrono::{DateTime, Local};

use crate::codex::{ErrorClass, Verdict};
use crate::config::Config;
use crate::docs::TodoStatus;
use crate::record::{RunKind, RunOutcome, RunRecord};
use crate::state::{PendingQuestion, StopReason};
use crate::stop::{StopLevel, StopRequest};

/// Shortest wait for a usage window: Codex gives reset times to the minute,
/// so a reset "now" may still be a few seconds away.
const MIN_QUOTA_WAIT: Duration = Duration::from_secs(2);

/// Why the loop stops, with the details shown to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    /// Why.
    pub(crate) reason: StopReason,
    /// Details (the limit, the last error).
    pub(crate) detail: Option<String>,
}

impl Stop {
    fn new(reason: StopReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: Some(detail.into()),
        }
    }
}

/// The limits the decisions apply (from the configuration and the command).
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    /// Runs allowed in this invocation.
    pub(crate) max_runs: Option<u64>,
    /// `runner.max_tokens`.
    pub(crate) max_tokens: Option<u64>,
    /// `runner.max_wallclock_seconds`.
    pub(crate) max_wallclock: Option<Duration>,
    /// `runner.transient_retries`.
    pub(crate) transient_retries: u32,
    /// `runner.transient_backoff_seconds`.
    pub(crate) transient_backoff: Duration,
    /// `runner.max_consecutive_failures`.
    pub(crate) max_consecutive_failures: u32,
    /// `runner.no_progress_runs` (0: off).
    pub(crate) no_progress_runs: u32,
    /// The wait for a usage window without a reset time.
    pub(crate) quota_retry: Duration,
    /// The longest wait for a usage window.
    pub(crate) quota_wait_max: Duration,
}

impl Policy {
    /// The policy of `cfg`, with `max_runs` for this invocation.
    pub(crate) fn new(cfg: &Config, max_runs: Option<u64>) -> Self {
        let r = &cfg.runner;
        Self {
            max_runs,
            max_tokens: r.max_tokens,
            max_wallclock: r.max_wallclock,
            transient_retries: r.transient_retries,
            transient_backoff: r.transient_backoff,
            max_consecutive_failures: r.max_consecutive_failures,
            no_progress_runs: r.no_progress_runs,
            quota_retry: r.quota_retry,
            quota_wait_max: r.quota_wait_max,
        }
    }

    fn wallclock_detail(&self) -> String {
        format!(
            "runner.max_wallclock_seconds ({}s) passed",
            self.max_wallclock.map_or(0, |d| d.as_secs())
        )
    }
}

/// What the loop counts across runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Runs made (a redone run counts once).
    pub(crate) runs: u64,
    /// Failed runs in a row.
    pub(crate) failures: u32,
    /// Loop runs in a row that changed nothing.
    pub(crate) no_progress: u32,
    /// Retries spent on the current transient failure.
    pub(crate) transient: u32,
}

/// What is known between runs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Between {
    /// The stop request.
    pub(crate) stop: StopRequest,
    /// Whether the stop file exists.
    pub(crate) stop_file: bool,
    /// Whether `runner.max_wallclock_seconds` passed.
    pub(crate) deadline_passed: bool,
}

/// A stop that holds before the next run, but for the budget (see
/// [`budget`]): a stop request, the stop file, the time limit, the run limit.
pub(crate) fn between_runs(p: &Policy, c: &Counters, now: &Between) -> Option<Stop> {
    if now.stop.level != StopLevel::None {
        let cause = now.stop.cause;
        return Some(Stop::new(cause.reason(), cause.detail(None)));
    }
    if now.stop_file {
        return Some(Stop::new(
            StopReason::StopRequested,
            "a stop was requested (stop file)",
        ));
    }
    if now.deadline_passed {
        return Some(Stop::new(StopReason::Wallclock, p.wallclock_detail()));
    }
    match p.max_runs {
        Some(m) if c.runs >= m => Some(Stop::new(
            StopReason::RunLimit,
            format!("run limit of {m} reached"),
        )),
        _ => None,
    }
}

/// A stop when `used` tokens reach `runner.max_tokens`.
pub(crate) fn budget(p: &Policy, used: u64) -> Option<Stop> {
    let budget = p.max_tokens?;
    (used >= budget).then(|| {
        Stop::new(
            StopReason::Budget,
            format!(
                "{used} tokens used of the runner.max_tokens budget of {budget}; raise it to continue"
            ),
        )
    })
}

/// A stop for a question still open when the loop starts: `run` and `once`
/// stop at once (a scheduler restarting the loop must not spend runs asking
/// again); `resume` continues (the person chose to).
pub(crate) fn open_question(resuming: bool, q: Option<&PendingQuestion>) -> Option<Stop> {
    let q = q.filter(|_| !resuming)?;
    Some(Stop::new(
        StopReason::NeedsInput,
        format!("run {}'s question is still open: {}", q.run_id, q.question),
    ))
}

/// The TODO as the next run would find it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TodoFacts<'a> {
    /// Its checkboxes.
    pub(crate) status: &'a TodoStatus,
    /// Whether the file exists.
    pub(crate) exists: bool,
    /// The seed's template item, when it is still there.
    pub(crate) placeholder: Option<&'a str>,
    /// Its path as shown to people.
    pub(crate) path: &'a str,
    /// Whether SUMMARY is final for this TODO (only asked of a complete TODO).
    pub(crate) summary_final: bool,
}

/// The kind of the next run, or a stop: a TODO without checkboxes or with
/// the template item cannot be worked on; a complete one gets a summary
/// run, unless SUMMARY is already final.
pub(crate) fn next_run(todo: &TodoFacts<'_>) -> Result<RunKind, Stop> {
    let path = todo.path;
    if todo.status.total == 0 {
        return Err(Stop::new(
            StopReason::TodoInvalid,
            if todo.exists {
                format!("{path} has no checkbox items (`- [ ] task` lines)")
            } else {
                format!("{path} does not exist")
            },
        ));
    }
    if let Some(task) = todo.placeholder {
        return Err(Stop::new(
            StopReason::TodoInvalid,
            format!("{path} still holds the template item \"{task}\""),
        ));
    }
    match (todo.status.is_complete(), todo.summary_final) {
        (true, true) => Err(Stop::new(
            StopReason::Completed,
            "every TODO item is checked and SUMMARY is final",
        )),
        (true, false) => Ok(RunKind::Summary),
        (false, _) => Ok(RunKind::Loop),
    }
}

/// What a recorded run says, for the decision after it.
#[derive(Debug, Clone)]
pub(crate) struct RunFacts<'a> {
    /// Its id.
    pub(crate) run_id: u64,
    /// Loop or summary.
    pub(crate) kind: RunKind,
    /// How it went.
    pub(crate) outcome: RunOutcome,
    /// What kind of failure its error is.
    pub(crate) class: &'a ErrorClass,
    /// Its error message.
    pub(crate) error: Option<&'a str>,
    /// The question it asked.
    pub(crate) question: Option<&'a str>,
    /// Its structured verdict.
    pub(crate) verdict: Option<&'a Verdict>,
    /// Unchecked TODO items after it.
    pub(crate) todo_open_after: usize,
    /// Whether it changed a doc or the work tree.
    pub(crate) made_progress: bool,
    /// How the agent ended (`exit 3`).
    pub(crate) exit: String,
    /// Whether `runner.max_wallclock_seconds` passed.
    pub(crate) deadline_passed: bool,
}

impl<'a> RunFacts<'a> {
    /// The facts of `rec`, whose error is of `class`.
    pub(crate) fn of(rec: &'a RunRecord, class: &'a ErrorClass, deadline_passed: bool) -> Self {
        Self {
            run_id: rec.id,
            kind: rec.kind,
            outcome: rec.outcome,
            class,
            error: rec.error.as_deref(),
            question: rec.question.as_deref(),
            verdict: rec.verdict.as_ref(),
            todo_open_after: rec.todo_after.total.saturating_sub(rec.todo_after.done),
            made_progress: rec.made_progress(),
            exit: rec.describe_exit(),
            deadline_passed,
        }
    }
}

/// What to do after a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// Stop.
    Stop(Stop),
    /// The summary run wrote SUMMARY: mark it final, then stop.
    FinishSummary(Stop),
    /// Wait for the usage window, then redo the run (it does not count).
    WaitForQuota {
        /// The reset time the agent gave.
        reset: Option<DateTime<Local>>,
        /// The agent's message.
        message: String,
    },
    /// Retry a transient failure after `delay` (the run does not count).
    Retry {
        /// Which retry (1-based).
        attempt: u32,
        /// Retries allowed.
        of: u32,
        /// The pause.
        delay: Duration,
        /// The agent's message.
        reason: String,
    },
    /// Go on to the next run.
    Continue,
}

/// The decision after a run, and a warning to show first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AfterRun {
    /// What to do.
    pub(crate) next: Next,
    /// Something people should know (a verdict the TODO contradicts).
    pub(crate) warning: Option<String>,
}

impl From<Next> for AfterRun {
    fn from(next: Next) -> Self {
        Self {
            next,
            warning: None,
        }
    }
}

/// Decides what follows run `r`, counting it in `c`. `jitter` (0 to 1)
/// spreads retries of loops that failed together.
pub(crate) fn after_run(p: &Policy, c: &mut Counters, r: &RunFacts<'_>, jitter: f64) -> AfterRun {
    let id = r.run_id;
    c.runs += 1;
    match r.outcome {
        RunOutcome::Interrupted => {
            return Next::Stop(Stop::new(
                StopReason::Interrupted,
                format!("run {id} was interrupted"),
            ))
            .into();
        }
        RunOutcome::Killed => {
            return Next::Stop(Stop::new(
                StopReason::Killed,
                format!("run {id} was killed"),
            ))
            .into();
        }
        RunOutcome::TimedOut if r.deadline_passed => {
            return Next::Stop(Stop::new(StopReason::Wallclock, p.wallclock_detail())).into();
        }
        _ => {}
    }
    if let Some(q) = r.question {
        return Next::Stop(Stop::new(
            StopReason::NeedsInput,
            format!("run {id} asks: {q}"),
        ))
        .into();
    }
    if let Some(v) = r.verdict.filter(|v| v.status == "blocked") {
        return Next::Stop(Stop::new(
            StopReason::Blocked,
            format!("run {id} is blocked: {}", v.summary),
        ))
        .into();
    }
    let message = r.error.unwrap_or_default().to_string();
    if r.outcome != RunOutcome::Ok {
        match r.class {
            ErrorClass::UsageLimit(reset) => {
                c.runs -= 1;
                return Next::WaitForQuota {
                    reset: *reset,
                    message,
                }
                .into();
            }
            ErrorClass::Billing => {
                return Next::Stop(Stop::new(
                    StopReason::QuotaExhausted,
                    format!("the agent's plan allows no more use ({message})"),
                ))
                .into();
            }
            ErrorClass::Transient if c.transient < p.transient_retries => {
                c.transient += 1;
                c.runs -= 1;
                return Next::Retry {
                    attempt: c.transient,
                    of: p.transient_retries,
                    delay: backoff(p.transient_backoff, c.transient, jitter),
                    reason: message,
                }
                .into();
            }
            _ => {}
        }
    }
    // A success clears the failures; a failure's retries are spent (a
    // later transient failure gets its own).
    c.transient = 0;
    c.failures = if r.outcome == RunOutcome::Ok {
        0
    } else {
        c.failures + 1
    };
    if r.kind == RunKind::Loop {
        c.no_progress = if r.made_progress {
            0
        } else {
            c.no_progress + 1
        };
    }
    if r.kind == RunKind::Summary && r.outcome == RunOutcome::Ok {
        return Next::FinishSummary(Stop::new(
            StopReason::Completed,
            format!("every TODO item is checked; run {id} wrote the summary"),
        ))
        .into();
    }
    let warning = r
        .verdict
        .filter(|v| v.status == "done" && r.todo_open_after > 0)
        .map(|v| {
            format!(
                "run {id} says it is done ({}), but the TODO has {} open item(s); continuing",
                v.summary, r.todo_open_after
            )
        });
    let next = if c.failures >= p.max_consecutive_failures {
        Next::Stop(Stop::new(
            StopReason::Failed,
            format!(
                "{} failed runs in a row (runner.max_consecutive_failures); last: run {id} {}{}",
                c.failures,
                r.exit,
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
        ))
    } else if p.no_progress_runs > 0 && c.no_progress >= p.no_progress_runs {
        Next::Stop(Stop::new(
            StopReason::Stalled,
            format!(
                "{} runs in a row changed no doc and no file (runner.no_progress_runs)",
                c.no_progress
            ),
        ))
    } else {
        Next::Continue
    };
    AfterRun { next, warning }
}

/// How long to wait for a usage window: until its reset (or
/// `runner.quota_retry_seconds` without one), capped, and a little at least.
pub(crate) fn quota_wait(
    p: &Policy,
    reset: Option<DateTime<Local>>,
    now: DateTime<Local>,
) -> Duration {
    let wait = match reset {
        Some(t) => (t - now).to_std().unwrap_or(Duration::ZERO),
        None => p.quota_retry,
    };
    wait.min(p.quota_wait_max).max(MIN_QUOTA_WAIT)
}

/// Exponential backoff with up to 25 % jitter: `base * 2^(attempt-1)`,
/// `jitter` from 0 to 1.
pub(crate) fn backoff(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let spread = jitter.clamp(0.0, 1.0) * 0.25;
    Duration::try_from_secs_f64(exp.as_secs_f64() * (1.0 + spread)).unwrap_or(exp)
}

/// The stop for an error that ended the loop: a full disk is a stop with a
/// reason (its hint: free space, then resume); anything else is an error.
pub(crate) fn error_stop(disk_full: bool, error: String) -> Stop {
    if disk_full {
        Stop::new(StopReason::DiskFull, error)
    } else {
        Stop::new(StopReason::Error, error)
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "decide_flow_tests.rs"]
mod flow_tests;
