//! One-off agent jobs outside the loop (`car snapshot`, `car ingest-spec`):
//! the same runner as the loop (prompt on stdin, own process group, output
//! streamed to a log, timeout, stop handling), with the job's files kept in
//! `.codex-autorunner/jobs/<name>/` (replaced by the next job of that name).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::agent::{self, AgentCommand, EndCause, ExitKind, Limits};
use crate::codex;
use crate::config::Config;
use crate::engine::EngineError;
use crate::fs_util::PathError;
use crate::paths::RepoPaths;
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
    let (program, path_env) = agent::resolve_binary(&cfg.codex.binary, &cfg.root, path_env)?;
    let codex_mode = codex::runs_exec(&cfg.codex.args);
    let mut args = agent::apply_model(&cfg.codex.args, model.or(cfg.codex.model.as_deref()));
    let last_message = dir.join("last_message.md");
    if codex_mode {
        args.extend([
            "--json".into(),
            "-o".into(),
            last_message.display().to_string(),
        ]);
        if args.last().map(String::as_str) != Some("-") {
            args.push("-".into());
        }
    }
    let log_path = dir.join("output.log");
    let mut log = agent::OutputLog::open(&log_path)?;
    if codex_mode {
        log.parse_codex_events(&dir.join("codex-events.jsonl"))?;
    }
    let command = AgentCommand {
        program,
        args,
        cwd: cfg.root.clone(),
        env: Some(crate::agent_env::for_agent(cfg, path_env)),
    };
    let limits = Limits {
        deadline: Some(crate::time::deadline_in(timeout)),
        idle_timeout: cfg.codex.idle_timeout,
        grace: cfg.runner.kill_grace,
    };
    let launch = crate::supervisor::Launch {
        marker: crate::marker::RunMarker::new(&cfg.root, name),
        supervisor: supervisor.map(|program| crate::supervisor::Supervision {
            program: program.to_path_buf(),
            prompt_file: dir.join("prompt.md"),
            status_file: dir.join(crate::record::SUPERVISOR_FILE),
        }),
    };
    let out = agent::run(
        &command,
        &launch,
        prompt.as_bytes().to_vec(),
        &mut log,
        stop.subscribe(),
        limits,
        |_| {},
    )
    .await?;
    let codex_run = log.take_codex().filter(|c| c.events > 0);
    log.flush()?;
    let failed = |what: String| JobError::Failed {
        what,
        log: log_path.clone(),
    };
    match out.cause {
        EndCause::Exited => {}
        EndCause::TimedOut => {
            return Err(failed(format!(
                "did not finish within {}s",
                timeout.as_secs()
            )));
        }
        EndCause::Idle => {
            return Err(failed(
                "printed nothing for codex.idle_timeout_seconds".into(),
            ));
        }
        EndCause::Stopped => return Err(failed("was stopped".into())),
    }
    match codex_run
        .as_ref()
        .map(|c| (&c.terminal, c.failure_message()))
    {
        Some((Some(codex::Terminal::Completed), _)) => {}
        Some((_, msg)) => {
            return Err(failed(format!(
                "failed: {}",
                msg.unwrap_or("the turn did not complete")
            )));
        }
        None if out.exit == ExitKind::Code(0) => {}
        None => {
            let code = match out.exit {
                ExitKind::Code(c) => format!("exited with code {c}"),
                ExitKind::Signal(s) => format!("was killed by signal {s}"),
            };
            return Err(failed(code));
        }
    }
    let text = std::fs::read_to_string(&last_message)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| codex_run.and_then(|c| c.agent_messages.last().cloned()))
        .unwrap_or(out.stdout_tail);
    Ok(JobOutput { text, dir })
}
