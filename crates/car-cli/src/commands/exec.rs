//! `car exec`: commands (`sh -c CMD`) run on their own without a server,
//! and `car __exec`, the process that runs one.

use std::io::Write;

use anyhow::{Context, Result};
use car_core::{ExecRecord, ExecRequest, ExecStream, Execs, Repo, StopHandle, TaskState};

use crate::cli::{ExecCommand, Global, TaskProcessArgs};

pub(crate) fn run(g: &Global, cmd: ExecCommand) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let execs = repo
        .execs(crate::origin::requester())
        .allow_roots(repo.config().server.allowed_roots.clone());
    match cmd {
        ExecCommand::Start { cmd, cwd } => {
            // A relative --cwd is relative to where the user is.
            let cwd = match cwd {
                Some(p) if p.is_relative() => Some(
                    std::env::current_dir()
                        .context("cannot read the current directory")?
                        .join(p),
                ),
                other => other,
            };
            let program = crate::supervisor_program()
                .context("cannot find the car program to start the command with")?;
            let rec = execs.start(program, ExecRequest { cmd, cwd })?;
            outln!("{}", rec.id);
        }
        ExecCommand::Status { id, json } => {
            let rec = execs.status(&id)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rec)?);
            } else {
                print_one(&rec);
            }
        }
        ExecCommand::Logs {
            id,
            stream,
            tail,
            follow,
        } => logs(&execs, &id, stream, tail, follow)?,
        ExecCommand::Cancel { id } => {
            let before = execs.status(&id)?.state;
            let rec = execs.cancel(&id)?;
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
            let page = execs.list(offset, limit);
            if json {
                outln!("{}", serde_json::to_string_pretty(&page)?);
            } else if page.total == 0 {
                outln!("car: no commands recorded yet");
            } else {
                for rec in &page.execs {
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

pub(crate) fn print_one(rec: &ExecRecord) {
    outln!("Command:   {}", rec.id);
    outln!("State:     {}", rec.state);
    outln!("Cmd:       {}", first_line(&rec.cmd));
    outln!("Cwd:       {}", rec.cwd.display());
    outln!(
        "Created:   {} by {}",
        rec.created_at,
        rec.requested_by.describe()
    );
    if let Some(t) = &rec.started_at {
        outln!("Started:   {t}");
    }
    if let Some(t) = &rec.finished_at {
        outln!("Finished:  {t}");
    }
    if let Some(c) = rec.exit_code {
        outln!("Exit code: {c}");
    }
    if let Some(s) = rec.signal {
        outln!("Signal:    {s}");
    }
    if let Some(e) = &rec.error {
        outln!("Error:     {e}");
    }
}

/// `0`, `1`, `sig 9`, or `-` while it runs.
pub(crate) fn ended_with(rec: &ExecRecord) -> String {
    match (rec.exit_code, rec.signal) {
        (Some(c), _) => c.to_string(),
        (None, Some(s)) => format!("sig {s}"),
        (None, None) => "-".into(),
    }
}

pub(crate) fn first_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut s: String = first.chars().take(80).collect();
    if s.len() < first.len() || text.lines().nth(1).is_some() {
        s.push('…');
    }
    s
}

fn logs(
    execs: &Execs<'_>,
    id: &str,
    stream: ExecStream,
    tail: Option<usize>,
    follow: bool,
) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let piece = execs.read_log(id, stream, tail)?;
    if stdout
        .write_all(&piece.bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return Ok(()); // the reader went away (broken pipe)
    }
    if !follow {
        return Ok(());
    }
    let from = piece.offset + piece.bytes.len() as u64;
    let mut output = execs.follow_log(id, stream, from)?;
    while let Some(chunk) = output.next_blocking() {
        if stdout
            .write_all(&chunk.bytes)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

/// `car __exec ROOT ID`: runs command ID; SIGTERM stops it (SIGTERM to its
/// group, then SIGKILL after the grace period).
pub(crate) fn process(g: &Global, a: TaskProcessArgs) -> Result<u8> {
    let opts = super::load_options(g, &[])?;
    let repo = Repo::open_with(&a.root, &opts)?;
    crate::logging::init(Some(&repo.logs_dir()));
    let stop = StopHandle::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let _routed = crate::signals::route_to(stop.clone(), None);
    let execs = repo
        .execs(crate::origin::requester())
        .allow_roots(repo.config().server.allowed_roots.clone());
    let state = runtime.block_on(execs.run_process(&a.id, &stop))?;
    Ok(match state {
        TaskState::Succeeded => crate::EXIT_OK,
        TaskState::Cancelled => crate::EXIT_INTERRUPTED,
        TaskState::Queued | TaskState::Running | TaskState::Failed => crate::EXIT_FAILURE,
    })
}
