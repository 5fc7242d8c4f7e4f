//! One-off agent jobs outside the loop (`car snapshot`, `car ingest-spec`):
//! the same runner as the loop (prompt on stdin, own process group, output
//! streamed to a log, timeout, stop handling), with the job's files kept in
//! `.codex-autorunner/jobs/<name>/` (replaced by the next job of that name).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::agent::{self, ExitKind};
use crate::codex;
use crate::config::Config;
use crate::engine::EngineError;
use crate::fs_util::PathError;
use crate::paths::RepoPaths;
use crate::record::RunOutcome;
use crate::stop::StopHandle;

/// Errors of a job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The agent could not be started, or a file could not be written.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The agent ran but did not succeed.
    #[error("the agent {what}; its output is in {}", log.display())]
    Failed {
        /// What went wrong.
        what: String,
        /// The job's output log.
        log: PathBuf,
    },
}

impl From<PathError> for JobError {
    fn from(e: PathError) -> Self {
        Self::Engine(EngineError::Io(e))
    }
}

impl From<crate::agent::AgentError> for JobError {
    fn from(e: crate::agent::AgentError) -> Self {
        Self::Engine(EngineError::Agent(e))
    }
}

impl From<codex::InvokeError> for JobError {
    fn from(e: codex::InvokeError) -> Self {
        Self::Engine(e.into())
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
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|source| PathError {
        action: "cannot create directory",
        path: dir.clone(),
        source,
    })?;
    crate::fs_util::write_atomic(&dir.join("prompt.md"), prompt.as_bytes())?;
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
