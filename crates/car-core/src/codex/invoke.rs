//! One invocation of the agent, the same for a loop run and a one-off job:
//! the command (the resolved binary, the model, and for `codex exec` the
//! `--json`, `-o` and schema flags), the launch under its run marker (and
//! supervisor), and what the run came to.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::outcome::{FinalOutput, run_outcome};
use super::{CodexRun, VERDICT_SCHEMA};
use crate::agent::{self, AgentCommand, AgentError, AgentOutcome, Limits, OutputLog, Started};
use crate::config::Config;
use crate::fs_util::{Durability, PathError};
use crate::record::{self, RunOutcome};
use crate::stop::StopHandle;

/// Returns whether `args` run `codex exec` (so `--json` and `-o` apply).
pub(crate) fn runs_exec(args: &[String]) -> bool {
    args.iter().any(|a| a == "exec" || a == "e")
}

/// Errors starting an invocation or writing its files.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvokeError {
    /// The agent could not be started.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A file of the invocation could not be written.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// One run of the agent whose files (prompt, output log, events, last
/// message, supervisor status) live in `dir`.
pub(crate) struct Invocation<'a> {
    /// The configuration (binary, args, model, limits).
    pub(crate) cfg: &'a Config,
    /// The run's directory.
    pub(crate) dir: &'a Path,
    /// The name on the run's marker (a run id or a job name).
    pub(crate) marker: &'a str,
    /// The model (else the args' own).
    pub(crate) model: Option<&'a str>,
    /// PATH for the agent.
    pub(crate) path_env: Option<&'a OsString>,
    /// The program that answers `__supervise`, if any.
    pub(crate) supervisor: Option<&'a Path>,
    /// Whether to ask `codex exec` for a structured verdict.
    pub(crate) verdict_schema: bool,
}

/// What an invocation produced.
pub(crate) struct Invoked {
    /// How the process ended.
    pub(crate) out: AgentOutcome,
    /// What Codex's events said (None without events).
    pub(crate) codex: Option<CodexRun>,
    /// How the run went.
    pub(crate) outcome: RunOutcome,
    /// The agent's final message.
    pub(crate) final_output: FinalOutput,
}

impl Invocation<'_> {
    /// Whether the agent runs `codex exec`.
    pub(crate) fn codex_mode(&self) -> bool {
        runs_exec(&self.cfg.codex.args)
    }

    fn last_message(&self) -> PathBuf {
        self.dir.join(record::LAST_MESSAGE_FILE)
    }

    /// Resolves the agent and builds its command line and environment.
    pub(crate) fn command(&self) -> Result<AgentCommand, AgentError> {
        let cfg = self.cfg;
        let (program, path_env) =
            agent::resolve_binary(&cfg.codex.binary, &cfg.root, self.path_env)?;
        let mut args = agent::apply_model(&cfg.codex.args, self.model);
        if self.codex_mode() {
            args.extend([
                "--json".to_string(),
                "-o".to_string(),
                self.last_message().display().to_string(),
            ]);
            if self.verdict_schema {
                args.extend([
                    "--output-schema".to_string(),
                    self.dir
                        .join(record::VERDICT_SCHEMA_FILE)
                        .display()
                        .to_string(),
                ]);
            }
            if args.last().map(String::as_str) != Some("-") {
                args.push("-".to_string());
            }
        }
        Ok(AgentCommand {
            program,
            args,
            cwd: cfg.root.clone(),
            env: Some(crate::agent_env::for_agent(cfg, path_env)),
        })
    }

    /// Readies the directory for the run: no last message of an earlier
    /// attempt, and the verdict schema the command names.
    pub(crate) fn prepare_dir(&self) -> Result<(), PathError> {
        if !self.codex_mode() {
            return Ok(());
        }
        let _ = std::fs::remove_file(self.last_message());
        if self.verdict_schema {
            record::write_file_with(
                self.dir,
                record::VERDICT_SCHEMA_FILE,
                VERDICT_SCHEMA.as_bytes(),
                Durability::None,
            )?;
        }
        Ok(())
    }

    /// Runs `command` on `prompt` until it ends, a limit passes or `stop`
    /// asks, with its output in `log`, and says what the run came to.
    pub(crate) async fn run(
        &self,
        command: &AgentCommand,
        prompt: Vec<u8>,
        log: &mut OutputLog,
        stop: &StopHandle,
        deadline: Option<Instant>,
        on_start: impl FnOnce(Started),
    ) -> Result<Invoked, InvokeError> {
        let cfg = self.cfg;
        if self.codex_mode() {
            log.parse_codex_events(&self.dir.join(record::CODEX_EVENTS_FILE))?;
        }
        let limits = Limits {
            deadline,
            idle_timeout: cfg.codex.idle_timeout,
            grace: cfg.runner.kill_grace,
        };
        let launch = crate::supervisor::Launch {
            marker: crate::marker::RunMarker::new(&cfg.root, self.marker),
            supervisor: self
                .supervisor
                .map(|program| crate::supervisor::Supervision {
                    program: program.to_path_buf(),
                    prompt_file: self.dir.join(record::PROMPT_FILE),
                    status_file: self.dir.join(record::SUPERVISOR_FILE),
                }),
        };
        let out = agent::run(
            command,
            &launch,
            prompt,
            log,
            stop.subscribe(),
            limits,
            on_start,
        )
        .await?;
        let codex = log.take_codex().filter(|c| c.events > 0);
        let outcome = run_outcome(out.cause, stop.current().cause, codex.as_ref(), out.exit);
        let last_message = std::fs::read_to_string(self.last_message()).ok();
        let final_output = FinalOutput::pick(last_message, codex.as_ref(), &out.stdout_tail);
        Ok(Invoked {
            out,
            codex,
            outcome,
            final_output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::RepoPaths;

    fn config(root: &Path, args: &[&str]) -> Config {
        let mut cfg = crate::config::load(&RepoPaths::new(root), &Default::default())
            .unwrap()
            .config;
        cfg.codex.binary = "/bin/sh".into();
        cfg.codex.args = args.iter().map(|a| a.to_string()).collect();
        cfg
    }

    fn args_of(cfg: &Config, dir: &Path, model: Option<&str>, verdict_schema: bool) -> Vec<String> {
        let invocation = Invocation {
            cfg,
            dir,
            marker: "1",
            model,
            path_env: None,
            supervisor: None,
            verdict_schema,
        };
        invocation.command().unwrap().args
    }

    #[test]
    fn codex_exec_gets_the_model_json_last_message_schema_and_stdin() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("runs/1");
        let at = |name: &str| dir.join(name).display().to_string();
        let exec = config(root.path(), &["exec", "--full-auto"]);
        assert_eq!(
            args_of(&exec, &dir, Some("m1"), true),
            [
                "--model".to_string(),
                "m1".into(),
                "exec".into(),
                "--full-auto".into(),
                "--json".into(),
                "-o".into(),
                at(record::LAST_MESSAGE_FILE),
                "--output-schema".into(),
                at(record::VERDICT_SCHEMA_FILE),
                "-".into(),
            ]
        );
        let stdin_given = config(root.path(), &["exec", "-"]);
        assert_eq!(
            args_of(&stdin_given, &dir, None, false),
            [
                "exec".to_string(),
                "-".into(),
                "--json".into(),
                "-o".into(),
                at(record::LAST_MESSAGE_FILE),
                "-".into()
            ],
            "a `-` that is not last is repeated at the end"
        );
        let plain = config(root.path(), &["-c", "cat"]);
        assert_eq!(
            args_of(&plain, &dir, None, true),
            ["-c".to_string(), "cat".into()],
            "a plain agent gets its args as they are"
        );
    }

    #[test]
    fn preparing_the_directory_clears_an_old_last_message_and_writes_the_schema() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("runs/1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(record::LAST_MESSAGE_FILE), "old").unwrap();
        let cfg = config(root.path(), &["exec"]);
        let invocation = Invocation {
            cfg: &cfg,
            dir: &dir,
            marker: "1",
            model: None,
            path_env: None,
            supervisor: None,
            verdict_schema: true,
        };
        invocation.prepare_dir().unwrap();
        assert!(!dir.join(record::LAST_MESSAGE_FILE).exists());
        let schema = std::fs::read_to_string(dir.join(record::VERDICT_SCHEMA_FILE)).unwrap();
        assert_eq!(schema, VERDICT_SCHEMA);
    }
}
