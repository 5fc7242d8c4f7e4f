//! The agent's version: recorded once per loop, with a warning for a
//! version older than the tests cover.

use std::time::Duration;

use super::driver::{Engine, LoopOptions};
use super::error::EngineError;
use super::event::EventSink;
use crate::agent;
use crate::codex;
use crate::event::LoopEvent;

/// How long `codex --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

impl Engine {
    /// Records `codex --version` once per invocation and warns about a
    /// version older than the tests cover.
    pub(super) async fn check_agent_version(
        &self,
        opts: &LoopOptions,
        events: &EventSink,
    ) -> Result<(), EngineError> {
        let cfg = &self.config;
        if !codex::runs_exec(&cfg.codex.args) {
            return Ok(());
        }
        // A missing binary is the run's error to report, once.
        let Ok((program, path_env)) =
            agent::resolve_binary(&cfg.codex.binary, &cfg.root, opts.path_env.as_ref())
        else {
            return Ok(());
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.arg("--version")
            .env_clear()
            .envs(crate::agent_env::for_agent(cfg, path_env))
            .current_dir(&cfg.root)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(VERSION_TIMEOUT, cmd.output()).await;
        let text = match out {
            Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => String::new(),
        };
        let version = codex::parse_version(&text);
        let recorded = (!text.is_empty()).then(|| text.clone());
        self.update_transient(move |s| s.codex_version = recorded)
            .await?;
        match version {
            Some(v) if v < codex::OLDEST_TESTED_VERSION => {
                let (a, b, c) = codex::OLDEST_TESTED_VERSION;
                let message = format!(
                    "{text} is older than {a}.{b}.{c}, the oldest version car is tested with; consider upgrading it"
                );
                tracing::info!(%message);
                self.emit(events, None, LoopEvent::Warning { message })
                    .await;
            }
            Some(_) => {}
            None => tracing::info!(output = %text, "could not read the agent's version"),
        }
        Ok(())
    }
}
