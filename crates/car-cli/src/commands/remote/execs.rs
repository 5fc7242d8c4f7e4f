//! `exec start|status|logs [-f]|cancel|list` on a server, printed as the
//! local commands print them; `logs -f` follows the command's log across
//! dropped connections, from the byte it reached, until the command ends.

use std::io::Write;

use anyhow::{Context, Result};
use car_client::Flow;

use super::starts::GIVE_UP_AFTER;
use super::target::Remote;
use crate::cli::ExecCommand;
use crate::commands::exec::{ended_with, first_line, print_one};

pub(super) fn run(remote: &Remote, cmd: ExecCommand) -> Result<u8> {
    let client = &remote.client;
    match cmd {
        ExecCommand::Start { cmd, cwd } => {
            // A --cwd names a directory of the server's machine: relative
            // to the repository's root there, or absolute.
            let cwd = cwd.map(utf8).transpose()?;
            let started = client.exec_start(&cmd, cwd.as_deref(), remote.wanted())?;
            outln!("{}", started.exec_id);
        }
        ExecCommand::Status { id, json } => {
            let detail = client.exec(&id)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&detail.record)?);
            } else {
                print_one(&detail.record);
            }
        }
        ExecCommand::Logs {
            id,
            stream,
            tail,
            follow,
        } => {
            let piece = client.exec_logs(&id, stream, tail)?;
            if !write_out(&piece.bytes) || !follow {
                return Ok(crate::EXIT_OK);
            }
            let from = piece.offset + piece.bytes.len() as u64;
            client
                .exec_follow(&id, stream, from, GIVE_UP_AFTER, |l| {
                    let nl: &[u8] = if l.newline { b"\n" } else { b"" };
                    Ok(if write_out(&[l.line.as_bytes(), nl].concat()) {
                        Flow::Continue
                    } else {
                        Flow::Stop // the reader went away (broken pipe)
                    })
                })
                .context("following the command's log")?;
        }
        ExecCommand::Cancel { id } => {
            let before = client.exec(&id)?.record.state;
            let rec = client.exec_cancel(&id)?.record;
            if before.is_done() {
                outln!("car: command {id} had already ended ({})", rec.state);
            } else {
                outln!("car: command {id} {}", rec.state);
            }
        }
        ExecCommand::List {
            json,
            offset,
            limit,
        } => {
            let page = client.execs(offset, limit)?;
            if json {
                let records: Vec<_> = page.execs.iter().map(|d| &d.record).collect();
                let value = serde_json::json!({ "total": page.total, "execs": records });
                outln!("{}", serde_json::to_string_pretty(&value)?);
            } else if page.total == 0 {
                outln!("car: no commands recorded yet");
            } else {
                for d in &page.execs {
                    let rec = &d.record;
                    outln!(
                        "{}  {:<9}  {:<6}  {}",
                        rec.id,
                        rec.state.as_str(),
                        ended_with(rec),
                        first_line(&rec.cmd)
                    );
                }
            }
        }
    }
    Ok(crate::EXIT_OK)
}

/// `p` as UTF-8, for the API.
pub(super) fn utf8(p: std::path::PathBuf) -> Result<String> {
    p.into_os_string()
        .into_string()
        .map_err(|p| anyhow::anyhow!("--cwd {p:?} is not UTF-8"))
}

/// Writes `bytes` to stdout; false when the reader went away.
fn write_out(bytes: &[u8]) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).is_ok()
}
