//! One-off agent jobs outside the loop (`car snapshot`, `car ingest-spec`):
//! the same runner as the loop (prompt on stdin, own process group, output
//! streamed to a log, timeout, stop handling), with the job's files kept in
//! `.codex-autorunner/jobs/<name>/` (replaced by the next job of that name).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::{self, ExitKind};
use crate::codex;
use crate::config::Config;
use crate::engine::unblock;
use crate::fs_util::PathError;
use crate::paths::RepoPaths;
use crate::record::RunOutcome;
use crate::stop::StopHandle;

/// Errors of a job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The agent could not be started.
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
    /// A file could not be written.
    #[error(transparent)]
    Io(#[from] PathError),
    /// The agent ran but did not succeed.
    #[error("the agent {what}; its output is in {}", log.display())]
    Failed {
        /// What went wrong.
        what: String,
        /// The job's output log.
        log: PathBuf,
    },
    /// The work was not done: the async runtime is shutting down.
    #[error(transparent)]
    Cancelled(#[from] crate::engine::Cancelled),
}

impl From<codex::InvokeError> for JobError {
    fn from(e: codex::InvokeError) -> Self {
        match e {
            codex::InvokeError::Agent(e) => Self::Agent(e),
            codex::InvokeError::Io(e) => Self::Io(e),
        }
    }
}

/// What a successful job produced.
#[derive(Debug, Clone)]
pub(crate) struct JobOutput {
    /// The agent's final message (Codex's last message, else its last agent
    /// message, else all of stdout).
    pub(crate) text: String,
    /// Where the job's files are.
    pub(crate) dir: PathBuf,
}

/// What to run.
pub(crate) struct JobSpec<'a> {
    /// The job's name (its directory under `jobs/`).
    pub(crate) name: &'a str,
    /// The prompt.
    pub(crate) prompt: &'a str,
    /// A model for this job (else `codex.model`).
    pub(crate) model: Option<&'a str>,
    /// Bound on the run.
    pub(crate) timeout: Duration,
    /// PATH for the agent.
    pub(crate) path_env: Option<&'a OsString>,
    /// The program that answers `__supervise`, if any.
    pub(crate) supervisor: Option<&'a std::path::Path>,
}

/// Runs the agent once on the job's prompt, with its model and timeout.
pub(crate) async fn run_job(
    cfg: &Config,
    paths: &RepoPaths,
    job: JobSpec<'_>,
    stop: &StopHandle,
) -> Result<JobOutput, JobError> {
    let JobSpec {
        name,
        prompt,
        model,
        timeout,
        path_env,
        supervisor,
    } = job;
    let dir = paths.car_dir.join("jobs").join(name);
    let (setup_dir, setup_prompt) = (dir.clone(), prompt.to_owned());
    unblock(move || set_up_dir(&setup_dir, &setup_prompt)).await??;
    let invocation = codex::Invocation {
        cfg,
        dir: &dir,
        marker: name,
        model: model.or(cfg.codex.model.as_deref()),
        path_env,
        supervisor,
        verdict_schema: false,
    };
    let command = invocation.command()?;
    let log_path = dir.join(crate::record::OUTPUT_FILE);
    let mut log = agent::OutputLog::open(&log_path)?;
    let run = invocation
        .run(
            &command,
            prompt.as_bytes().to_vec(),
            &mut log,
            stop,
            Some(crate::time::deadline_in(timeout)),
            |_| {},
        )
        .await?;
    log.flush()?;
    match failure(&run, timeout) {
        Some(what) => Err(JobError::Failed {
            what,
            log: log_path,
        }),
        None => Ok(JobOutput {
            text: run.final_output.text,
            dir,
        }),
    }
}

/// Replaces the job's directory with a fresh one holding its prompt.
fn set_up_dir(dir: &Path, prompt: &str) -> Result<(), PathError> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|source| PathError {
        action: "cannot create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    crate::fs_util::write_atomic(&dir.join("prompt.md"), prompt.as_bytes())
}

/// What went wrong with a job's run, in the words of its error (None: it
/// went well).
fn failure(run: &codex::Invoked, timeout: Duration) -> Option<String> {
    Some(match run.outcome {
        RunOutcome::Ok => return None,
        RunOutcome::Interrupted | RunOutcome::Killed => "was stopped".into(),
        RunOutcome::TimedOut => format!("did not finish within {}s", timeout.as_secs()),
        RunOutcome::Hung => "printed nothing for codex.idle_timeout_seconds".into(),
        RunOutcome::Failed => match (&run.codex, run.out.exit) {
            (Some(c), _) => format!(
                "failed: {}",
                c.failure_message().unwrap_or("the turn did not complete")
            ),
            (None, ExitKind::Code(c)) => format!("exited with code {c}"),
            (None, ExitKind::Signal(s)) => format!("was killed by signal {s}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{AgentOutcome, EndCause};
    use crate::codex::{CodexRun, Invoked};

    fn invoked(outcome: RunOutcome, exit: ExitKind, events: &[&str]) -> Invoked {
        let mut codex = CodexRun::default();
        for e in events {
            codex.feed(e.as_bytes());
        }
        Invoked {
            out: AgentOutcome {
                exit,
                cause: EndCause::Exited,
                escalated: false,
                pgid: 1,
                stdout_bytes: 0,
                stderr_bytes: 0,
                stdout_tail: String::new(),
                duration: Duration::ZERO,
            },
            codex: (codex.events > 0).then_some(codex),
            outcome,
            final_output: codex::FinalOutput::pick(Some("text".into()), None, ""),
        }
    }

    #[test]
    fn a_failed_job_says_what_went_wrong() {
        let failed = r#"{"type":"turn.failed","error":{"message":"model overloaded"}}"#;
        let unfinished = r#"{"type":"turn.started"}"#;
        let minute = Duration::from_secs(60);
        let table: &[(RunOutcome, ExitKind, &[&str], Option<&str>)] = &[
            (RunOutcome::Ok, ExitKind::Code(0), &[], None),
            (
                RunOutcome::Interrupted,
                ExitKind::Signal(15),
                &[],
                Some("was stopped"),
            ),
            (
                RunOutcome::Killed,
                ExitKind::Signal(15),
                &[],
                Some("was stopped"),
            ),
            (
                RunOutcome::TimedOut,
                ExitKind::Signal(15),
                &[],
                Some("did not finish within 60s"),
            ),
            (
                RunOutcome::Hung,
                ExitKind::Signal(15),
                &[],
                Some("printed nothing for codex.idle_timeout_seconds"),
            ),
            (
                RunOutcome::Failed,
                ExitKind::Code(1),
                &[failed],
                Some("failed: model overloaded"),
            ),
            (
                RunOutcome::Failed,
                ExitKind::Code(0),
                &[unfinished],
                Some("failed: the turn did not complete"),
            ),
            (
                RunOutcome::Failed,
                ExitKind::Code(3),
                &[],
                Some("exited with code 3"),
            ),
            (
                RunOutcome::Failed,
                ExitKind::Signal(9),
                &[],
                Some("was killed by signal 9"),
            ),
        ];
        for (outcome, exit, events, want) in table {
            let run = invoked(*outcome, *exit, events);
            assert_eq!(
                failure(&run, minute).as_deref(),
                *want,
                "{outcome:?} {exit:?}"
            );
        }
    }
}
