//! `car remote exec start|result|logs|cancel`: commands on a server for an
//! agent. Each prints one JSON object on stdout (`logs`: JSON lines, see
//! agent_logs.rs); an error too, as `{"error": {"code", "message",
//! "hint"?, "status"?}}`, with the exit code the other commands use (2 a
//! mistake in how car was asked, 1 the rest).

use anyhow::Result;
use car_client::{ClientError, ExecDetail};
use car_core::ExecStream;
use serde_json::{Value, json};

use super::target::Remote;
use super::{agent_logs, errors};
use crate::cli::{Global, RemoteExecCommand};
use crate::report::UsageError;

/// Runs `car remote exec ...`; returns the exit code.
pub(crate) fn run(g: &Global, cmd: RemoteExecCommand) -> Result<u8> {
    let remote = match Remote::from_global(g) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Ok(print_error(
                "no_server",
                "no server given: give --machine M or --server URL (or set $CAR_SERVER)",
                None,
                None,
                crate::EXIT_USAGE,
            ));
        }
        Err(e) => return Ok(anyhow_error(&e)),
    };
    match exec(&remote, cmd) {
        Ok(code) => Ok(code),
        Err(e) => match e.downcast_ref::<ClientError>() {
            Some(ce) => Ok(client_error(&remote, ce)),
            None => Ok(anyhow_error(&e)),
        },
    }
}

fn exec(remote: &Remote, cmd: RemoteExecCommand) -> Result<u8> {
    let client = &remote.client;
    match cmd {
        RemoteExecCommand::Start { cmd, cwd } => {
            let started = client.exec_start(&cmd, cwd.as_deref(), remote.wanted())?;
            let detail = client.exec(&started.exec_id)?;
            let rec = &detail.record;
            print(&json!({
                "exec_id": rec.id,
                "state": rec.state,
                "repo": detail.repo,
                "cmd": rec.cmd,
                "cwd": rec.cwd,
                "created_at": rec.created_at,
                "started_at": rec.started_at,
            }));
        }
        RemoteExecCommand::Result { id } => {
            let detail = client.exec(&id)?;
            let stdout_bytes = client.exec_log_size(&id, ExecStream::Stdout)?;
            let stderr_bytes = client.exec_log_size(&id, ExecStream::Stderr)?;
            let mut value = result(&detail);
            value["stdout_bytes"] = stdout_bytes.into();
            value["stderr_bytes"] = stderr_bytes.into();
            print(&value);
        }
        RemoteExecCommand::Logs {
            id,
            stream,
            tail,
            offset,
            follow,
        } => {
            return agent_logs::run(
                client,
                &agent_logs::Ask {
                    id,
                    stream,
                    tail,
                    offset,
                    follow,
                },
            );
        }
        RemoteExecCommand::Cancel { id } => {
            let before = client.exec(&id)?.record.state;
            let detail = client.exec_cancel(&id)?;
            let mut value = result(&detail);
            value["already_ended"] = before.is_done().into();
            print(&value);
        }
    }
    Ok(crate::EXIT_OK)
}

/// A command's record as the agent reads it.
fn result(detail: &ExecDetail) -> Value {
    let rec = &detail.record;
    json!({
        "exec_id": rec.id,
        "state": rec.state,
        "done": rec.state.is_done(),
        "exit_code": rec.exit_code,
        "signal": rec.signal,
        "repo": detail.repo,
        "cmd": rec.cmd,
        "cwd": rec.cwd,
        "created_at": rec.created_at,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "error": rec.error,
    })
}

/// Prints `value` as one line of JSON.
pub(super) fn print(value: &Value) {
    outln!("{value}");
}

/// Prints `{"error": ...}`; returns `code`.
fn print_error(
    code_name: &str,
    message: &str,
    hint: Option<String>,
    status: Option<u16>,
    code: u8,
) -> u8 {
    let mut error = json!({ "code": code_name, "message": message });
    if let Some(h) = hint {
        error["hint"] = h.into();
    }
    if let Some(s) = status {
        error["status"] = s.into();
    }
    print(&json!({ "error": error }));
    code
}

fn client_error(remote: &Remote, e: &ClientError) -> u8 {
    let name = match e {
        ClientError::BadUrl { .. } => "bad_url",
        ClientError::Unreachable { .. } => "unreachable",
        ClientError::Api { kind, .. } => kind.as_str(),
        ClientError::Protocol { .. } => "protocol",
        ClientError::NoRepo => "no_repo",
        ClientError::SeveralRepos { .. } => "several_repos",
        ClientError::UnknownRepo { .. } => "unknown_repo",
        _ => "error",
    };
    let message = match e {
        // The server's own words, without the status before them.
        ClientError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    };
    print_error(
        name,
        &message,
        errors::advice(remote, e),
        e.status(),
        errors::exit_code(e),
    )
}

fn anyhow_error(e: &anyhow::Error) -> u8 {
    if let Some(ce) = e.downcast_ref::<ClientError>()
        && let ClientError::BadUrl { .. } = ce
    {
        return print_error("bad_url", &ce.to_string(), None, None, crate::EXIT_USAGE);
    }
    let usage = e.chain().any(|c| c.is::<UsageError>());
    print_error(
        if usage { "usage" } else { "error" },
        &format!("{e:#}"),
        None,
        None,
        crate::report::exit_code(e),
    )
}
