//! What one agent invocation came to, the same for loop runs and one-off
//! jobs: its outcome (the terminal event, not the exit code, says how a
//! Codex turn went), its final output, the error that explains a failure,
//! what kind of error that is, and a question the agent asked.

use chrono::{DateTime, Local};

use super::{CodexRun, ErrorClass, Terminal, Verdict, classify, need_input_question};
use crate::agent::{EndCause, ExitKind};
use crate::record::RunOutcome;
use crate::stop::StopCause;

/// Where a final output came from (written to `run.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinalSource {
    /// The file `codex exec -o` wrote.
    LastMessage,
    /// The last agent message among the events.
    AgentMessage,
    /// The end of stdout.
    Stdout,
}

impl FinalSource {
    /// The name written to `run.json`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::LastMessage => "last_message",
            Self::AgentMessage => "agent_message",
            Self::Stdout => "stdout",
        }
    }
}

/// The agent's final message: what the next prompt and a job get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FinalOutput {
    /// The text, as the agent wrote it.
    pub(crate) text: String,
    /// Where it came from.
    pub(crate) source: FinalSource,
}

impl FinalOutput {
    /// Codex's last message (`-o`), else its last agent message, else the
    /// end of stdout; a blank message does not count.
    pub(crate) fn pick(
        last_message: Option<String>,
        codex: Option<&CodexRun>,
        stdout_tail: &str,
    ) -> Self {
        let blank = |t: &str| t.trim().is_empty();
        if let Some(text) = last_message.filter(|t| !blank(t)) {
            return Self {
                text,
                source: FinalSource::LastMessage,
            };
        }
        match codex
            .and_then(|c| c.agent_messages.last())
            .filter(|m| !blank(m))
        {
            Some(m) => Self {
                text: m.clone(),
                source: FinalSource::AgentMessage,
            },
            None => Self {
                text: stdout_tail.to_string(),
                source: FinalSource::Stdout,
            },
        }
    }
}

/// How an invocation went: a stop by its cause, the limits, then (for an
/// agent that exited) the terminal event, else the exit code.
pub(crate) fn run_outcome(
    cause: EndCause,
    stop_cause: StopCause,
    codex: Option<&CodexRun>,
    exit: ExitKind,
) -> RunOutcome {
    match cause {
        EndCause::Stopped => match stop_cause {
            StopCause::Interrupted => RunOutcome::Interrupted,
            StopCause::Killed => RunOutcome::Killed,
        },
        EndCause::TimedOut => RunOutcome::TimedOut,
        EndCause::Idle => RunOutcome::Hung,
        EndCause::Exited => match codex.map(|c| &c.terminal) {
            Some(Some(Terminal::Completed)) => RunOutcome::Ok,
            Some(_) => RunOutcome::Failed,
            None if exit == ExitKind::Code(0) => RunOutcome::Ok,
            None => RunOutcome::Failed,
        },
    }
}

/// The error that explains a run's outcome (None for a run that went well).
/// `idle_secs` is `codex.idle_timeout_seconds`; `codex_mode` says the agent
/// runs `codex exec`.
pub(crate) fn run_error(
    outcome: RunOutcome,
    cause: EndCause,
    codex: Option<&CodexRun>,
    codex_mode: bool,
    idle_secs: u64,
) -> Option<String> {
    match outcome {
        RunOutcome::Ok => None,
        RunOutcome::Hung => Some(hung_message(codex, codex_mode, idle_secs)),
        _ => codex
            .and_then(|c| c.failure_message().map(str::to_string))
            .or_else(|| {
                (codex_mode && codex.is_some() && cause == EndCause::Exited).then(|| {
                    "the agent ended without finishing its turn (no turn.completed or turn.failed event)".to_string()
                })
            }),
    }
}

/// Why a run was stopped by the watchdog: no output (plain mode), no
/// progress (Codex events), and the retry notice Codex was stuck in.
fn hung_message(codex: Option<&CodexRun>, codex_mode: bool, secs: u64) -> String {
    match codex {
        // Without Codex events: a plain agent's watchdog counts any output,
        // a Codex run's only its stdout (stderr is retry chatter and logs).
        None if codex_mode => format!(
            "no progress (no event and no output on stdout) for {secs}s (codex.idle_timeout_seconds); the agent was stopped"
        ),
        None => {
            format!("no output for {secs}s (codex.idle_timeout_seconds); the agent was stopped")
        }
        Some(c) => match c.retrying() {
            Some(notice) => format!(
                "the agent could not reach its model ({notice}); no progress for {secs}s (codex.idle_timeout_seconds), the agent was stopped"
            ),
            None => format!(
                "no progress for {secs}s (codex.idle_timeout_seconds); the agent was stopped"
            ),
        },
    }
}

/// What kind of failure a run's error is; a run stuck retrying (the model
/// cannot be reached) is transient.
pub(crate) fn error_class(
    outcome: RunOutcome,
    error: Option<&str>,
    codex: Option<&CodexRun>,
    now: DateTime<Local>,
) -> ErrorClass {
    match (outcome, error) {
        (RunOutcome::Failed, Some(msg)) => classify(msg, now),
        (RunOutcome::Hung, _) => codex
            .and_then(CodexRun::retrying)
            .map_or(ErrorClass::Other, |m| classify(m, now)),
        _ => ErrorClass::Other,
    }
}

/// The name of an error class, as written in `run.json`.
pub(crate) fn class_name(c: &ErrorClass) -> &'static str {
    match c {
        ErrorClass::UsageLimit(_) => "usage_limit",
        ErrorClass::Billing => "billing",
        ErrorClass::Transient => "transient",
        ErrorClass::ContextWindow => "context_window",
        ErrorClass::Other => "other",
    }
}

/// The question the agent asked a person: a `needs_input` verdict's (its
/// summary when the question is blank), else a `NEED_INPUT:` line's.
pub(crate) fn question(verdict: Option<&Verdict>, final_output: &str) -> Option<String> {
    match verdict {
        Some(v) if v.status == "needs_input" => Some(if v.question.trim().is_empty() {
            v.summary.clone()
        } else {
            v.question.clone()
        }),
        _ => need_input_question(final_output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codex(lines: &[&str]) -> CodexRun {
        let mut r = CodexRun::default();
        for l in lines {
            r.feed(l.as_bytes());
        }
        r
    }

    const COMPLETED: &str = r#"{"type":"turn.completed","usage":{}}"#;
    const FAILED: &str =
        r#"{"type":"turn.failed","error":{"message":"stream disconnected before completion"}}"#;
    const MSG: &str =
        r#"{"type":"item.completed","item":{"type":"agent_message","text":"from events"}}"#;
    const RETRY: &str = r#"{"type":"error","message":"Reconnecting... 1/2 (Connection failed: error sending request)"}"#;

    #[test]
    fn outcome_follows_the_terminal_event_then_the_exit_code() {
        let (ok, failed, none) = (codex(&[COMPLETED]), codex(&[FAILED]), codex(&[MSG]));
        let cases = [
            (
                EndCause::Stopped,
                StopCause::Interrupted,
                None,
                ExitKind::Code(0),
                RunOutcome::Interrupted,
            ),
            (
                EndCause::Stopped,
                StopCause::Killed,
                None,
                ExitKind::Code(0),
                RunOutcome::Killed,
            ),
            (
                EndCause::TimedOut,
                StopCause::Interrupted,
                Some(&ok),
                ExitKind::Signal(15),
                RunOutcome::TimedOut,
            ),
            (
                EndCause::Idle,
                StopCause::Interrupted,
                None,
                ExitKind::Signal(15),
                RunOutcome::Hung,
            ),
            (
                EndCause::Exited,
                StopCause::Interrupted,
                Some(&ok),
                ExitKind::Code(1),
                RunOutcome::Ok,
            ),
            (
                EndCause::Exited,
                StopCause::Interrupted,
                Some(&failed),
                ExitKind::Code(0),
                RunOutcome::Failed,
            ),
            (
                EndCause::Exited,
                StopCause::Interrupted,
                Some(&none),
                ExitKind::Code(0),
                RunOutcome::Failed,
            ),
            (
                EndCause::Exited,
                StopCause::Interrupted,
                None,
                ExitKind::Code(0),
                RunOutcome::Ok,
            ),
            (
                EndCause::Exited,
                StopCause::Interrupted,
                None,
                ExitKind::Code(2),
                RunOutcome::Failed,
            ),
            (
                EndCause::Exited,
                StopCause::Interrupted,
                None,
                ExitKind::Signal(9),
                RunOutcome::Failed,
            ),
        ];
        for (cause, stop, c, exit, want) in cases {
            assert_eq!(
                run_outcome(cause, stop, c, exit),
                want,
                "{cause:?} {stop:?} {exit:?}"
            );
        }
    }

    #[test]
    fn final_output_prefers_last_message_then_agent_message_then_stdout() {
        let c = codex(&[MSG]);
        let pick = |last: Option<&str>, c: Option<&CodexRun>| {
            let f = FinalOutput::pick(last.map(str::to_string), c, "tail\n");
            (f.text, f.source.as_str())
        };
        assert_eq!(
            pick(Some("last\n"), Some(&c)),
            ("last\n".into(), "last_message")
        );
        assert_eq!(
            pick(Some(" \n"), Some(&c)),
            ("from events".into(), "agent_message")
        );
        assert_eq!(
            pick(None, Some(&c)),
            ("from events".into(), "agent_message")
        );
        let blank =
            codex(&[r#"{"type":"item.completed","item":{"type":"agent_message","text":"  "}}"#]);
        assert_eq!(pick(None, Some(&blank)), ("tail\n".into(), "stdout"));
        assert_eq!(pick(None, None), ("tail\n".into(), "stdout"));
    }

    #[test]
    fn errors_explain_failures_and_hangs() {
        let failed = codex(&[FAILED]);
        let unfinished = codex(&[MSG]);
        let stuck = codex(&[RETRY]);
        assert_eq!(
            run_error(RunOutcome::Ok, EndCause::Exited, Some(&failed), true, 5),
            None
        );
        assert_eq!(
            run_error(RunOutcome::Failed, EndCause::Exited, Some(&failed), true, 5).as_deref(),
            Some("stream disconnected before completion")
        );
        assert!(
            run_error(
                RunOutcome::Failed,
                EndCause::Exited,
                Some(&unfinished),
                true,
                5
            )
            .unwrap()
            .starts_with("the agent ended without finishing its turn")
        );
        assert_eq!(
            run_error(RunOutcome::Failed, EndCause::Exited, None, false, 5),
            None
        );
        assert_eq!(
            run_error(RunOutcome::Hung, EndCause::Idle, None, false, 5).as_deref(),
            Some("no output for 5s (codex.idle_timeout_seconds); the agent was stopped")
        );
        assert!(
            run_error(RunOutcome::Hung, EndCause::Idle, None, true, 5)
                .unwrap()
                .starts_with("no progress (no event and no output on stdout) for 5s")
        );
        assert!(
            run_error(RunOutcome::Hung, EndCause::Idle, Some(&stuck), true, 7)
                .unwrap()
                .starts_with("the agent could not reach its model (Reconnecting... 1/2")
        );
        let now = Local::now();
        assert_eq!(
            error_class(RunOutcome::Hung, None, Some(&stuck), now),
            ErrorClass::Transient
        );
        assert_eq!(
            error_class(RunOutcome::Hung, None, Some(&failed), now),
            ErrorClass::Other
        );
        assert_eq!(
            error_class(RunOutcome::Failed, Some("stream disconnected"), None, now),
            ErrorClass::Transient
        );
        assert_eq!(
            error_class(RunOutcome::Killed, Some("stream disconnected"), None, now),
            ErrorClass::Other
        );
        assert_eq!(class_name(&ErrorClass::UsageLimit(None)), "usage_limit");
    }

    #[test]
    fn questions_come_from_the_verdict_else_a_need_input_line() {
        let v = |status: &str, summary: &str, question: &str| Verdict {
            status: status.into(),
            summary: summary.into(),
            question: question.into(),
        };
        let text = "NEED_INPUT: from the line?";
        assert_eq!(
            question(Some(&v("needs_input", "s", "q?")), text).as_deref(),
            Some("q?")
        );
        assert_eq!(
            question(Some(&v("needs_input", "s", " ")), text).as_deref(),
            Some("s")
        );
        assert_eq!(
            question(Some(&v("continue", "s", "")), text).as_deref(),
            Some("from the line?")
        );
        assert_eq!(question(None, "nothing asked"), None);
    }
}
