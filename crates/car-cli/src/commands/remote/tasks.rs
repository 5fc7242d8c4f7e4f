//! `task spawn|reply|abort|status|list|logs [-f]` on a server, printed as
//! the local commands print them.

use anyhow::{Context, Result};
use car_client::{Flow, StreamItem};

use super::logs::catch_up;
use super::starts::GIVE_UP_AFTER;
use super::target::Remote;
use crate::cli::TaskCommand;

pub(super) fn run(remote: &Remote, cmd: TaskCommand) -> Result<u8> {
    let client = &remote.client;
    let task = super::super::task::print_record;
    match cmd {
        TaskCommand::Spawn { prompt, cwd, model } => {
            // A --cwd names a directory of the server's machine: relative
            // to the repository's root there, or absolute.
            let cwd = cwd
                .map(|p| {
                    p.into_os_string()
                        .into_string()
                        .map_err(|p| anyhow::anyhow!("--cwd {p:?} is not UTF-8"))
                })
                .transpose()?;
            let started =
                client.task_spawn(remote.repo()?, &prompt, cwd.as_deref(), model.as_deref())?;
            outln!("{}", started.task_id);
        }
        TaskCommand::Reply { id, message } => {
            let started = client.task_reply(&id, &message)?;
            outln!("car: task {id}: turn {} started", started.turn);
        }
        TaskCommand::Abort { id } => {
            let before = client.task(&id)?.record.state;
            let rec = client.task_abort(&id)?;
            if before.is_done() {
                outln!("car: task {id} had already ended ({})", rec.state);
            } else {
                outln!("car: task {id} {}", rec.state);
            }
        }
        TaskCommand::Status { id: Some(id), json } => {
            let detail = client.task(&id)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&detail.record)?);
            } else {
                task(&detail.record, detail.final_output);
            }
        }
        TaskCommand::Status { id: None, json } => {
            super::super::task::print_page(&client.tasks(0, usize::MAX)?, json)?;
        }
        TaskCommand::List {
            json,
            offset,
            limit,
        } => super::super::task::print_page(&client.tasks(offset, limit)?, json)?,
        TaskCommand::Logs { id, follow } => logs(remote, &id, follow)?,
    }
    Ok(crate::EXIT_OK)
}

/// Prints task `id`'s output log; with `follow`, what its turn writes
/// until it ends.
fn logs(remote: &Remote, id: &str, follow: bool) -> Result<()> {
    let client = &remote.client;
    let fetch = |at: u64| client.task_output(id, at);
    let mut pos = 0;
    catch_up(fetch, &mut pos)?;
    if !follow {
        return Ok(());
    }
    // The stream's `log` ids are byte offsets: it starts where the
    // printing stopped and resumes after its last line when it drops.
    client
        .follow(
            &client.task_stream_path(id, pos),
            None,
            GIVE_UP_AFTER,
            |item| {
                match item {
                    StreamItem::Event(e) if e.event == "log" => {
                        let end = e.id.as_deref().and_then(|i| i.parse::<u64>().ok());
                        if end.is_none_or(|end| end > pos) {
                            catch_up(fetch, &mut pos)?;
                        }
                    }
                    StreamItem::Event(e) if e.event == "done" => {
                        catch_up(fetch, &mut pos)?;
                        return Ok(Flow::Stop);
                    }
                    StreamItem::Connected { again: true } => catch_up(fetch, &mut pos)?,
                    _ => {}
                }
                Ok(Flow::Continue)
            },
        )
        .context("following the task's output")?;
    Ok(())
}
