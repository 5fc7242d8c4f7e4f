//! What a terminal session runs: `codex.binary` with `codex.model`
//! injected and `codex.terminal_args`, in the repository root, with the
//! agent's environment (no car variable, no secret, no server token), a
//! terminal type, and the marker that lets a later car find and end it
//! when the server that owns it is gone.

use std::ffi::OsString;
use std::path::PathBuf;

use super::TerminalError;
use crate::config::Config;
use crate::marker::{MARKER_VAR, RunMarker};

/// The program, arguments, directory and whole environment of a session.
#[derive(Debug, Clone)]
pub struct TerminalCommand {
    /// The agent program, resolved (`codex.binary`).
    pub program: PathBuf,
    /// Its arguments: `--model M` (from `codex.model`, unless the
    /// arguments choose one) and `codex.terminal_args`.
    pub args: Vec<String>,
    /// Where it runs: the repository root.
    pub cwd: PathBuf,
    /// Its whole environment.
    pub env: Vec<(OsString, OsString)>,
}

/// The marker's run name of session `id`.
pub(crate) fn marker_name(id: &str) -> String {
    format!("terminal-{id}")
}

/// The command of session `id`, owned by this process.
pub(crate) fn command(cfg: &Config, id: &str) -> Result<TerminalCommand, TerminalError> {
    let path = std::env::var_os("PATH");
    let (program, path_env) =
        crate::agent::resolve_binary(&cfg.codex.binary, &cfg.root, path.as_ref())?;
    let args = crate::agent::apply_model(&cfg.codex.terminal_args, cfg.codex.model.as_deref());
    let mut env = crate::agent_env::for_agent(cfg, path_env);
    for (k, v) in [("TERM", "xterm-256color"), ("COLORTERM", "truecolor")] {
        if !cfg.codex.env.contains_key(k) {
            env.retain(|(name, _)| name != k);
            env.push((k.into(), v.into()));
        }
    }
    let marker = RunMarker::new(&cfg.root, &marker_name(id));
    env.push((MARKER_VAR.into(), marker.value().into()));
    Ok(TerminalCommand {
        program,
        args,
        cwd: cfg.root.clone(),
        env,
    })
}
