//! `car task`: Codex tasks without a server, and `car __task`, the process
//! that runs one turn of a task.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use car_core::{Repo, StopHandle, TaskRecord, TaskRequest, TaskState, Tasks};

use crate::cli::{Global, TaskCommand, TaskProcessArgs};

pub(crate) fn run(g: &Global, cmd: TaskCommand) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let tasks = repo
        .tasks(crate::origin::requester())
        .allow_roots(repo.config().server.allowed_roots.clone());
    match cmd {
        TaskCommand::Spawn { prompt, cwd, model } => {
            // A relative --cwd is relative to where the user is.
            let cwd = match cwd {
                Some(p) if p.is_relative() => Some(
                    std::env::current_dir()
                        .context("cannot read the current directory")?
                        .join(p),
                ),
                other => other,
            };
            let rec = tasks.spawn(program()?, TaskRequest { prompt, cwd, model })?;
            outln!("{}", rec.id);
        }
        TaskCommand::Reply { id, message } => {
            let rec = tasks.reply(program()?, &id, &message)?;
            let turn = rec.current_turn().map_or(1, |t| t.n);
            outln!("car: task {id}: turn {turn} started");
        }
        TaskCommand::Abort { id } => {
            let before = tasks.status(&id)?.state;
            let rec = tasks.abort(&id)?;
            if before.is_done() {
                outln!("car: task {id} had already ended ({})", rec.state);
            } else {
                outln!("car: task {id} {}", rec.state);
            }
        }
        TaskCommand::Status { id: Some(id), json } => {
            let rec = tasks.status(&id)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rec)?);
            } else {
                print_record(&rec, tasks.final_output(&rec.id)?);
            }
        }
        TaskCommand::Status { id: None, json } => list(&tasks, json, 0, usize::MAX)?,
        TaskCommand::List {
            json,
            offset,
            limit,
        } => list(&tasks, json, offset, limit)?,
        TaskCommand::Logs { id, follow } => logs(&tasks, &id, follow)?,
    }
    Ok(crate::EXIT_OK)
}

/// The program a task's process runs: this one.
fn program() -> Result<PathBuf> {
    crate::supervisor_program().context("cannot find the car program to start the task with")
}

/// Prints a task's record and final output (here, or on a server).
pub(crate) fn print_record(rec: &TaskRecord, final_output: Option<String>) {
    outln!("Task:      {}", rec.id);
    outln!("State:     {}", rec.state);
    outln!("Cwd:       {}", rec.cwd.display());
    if let Some(m) = &rec.model {
        outln!("Model:     {m}");
    }
    if let Some(t) = &rec.thread_id {
        outln!("Thread:    {t}");
    }
    outln!(
        "Created:   {} by {}",
        rec.created_at,
        rec.requested_by.describe()
    );
    if let Some(t) = rec.current_turn() {
        outln!("Turn:      {} ({})", t.n, t.state);
        if let Some(e) = &t.error {
            outln!("Error:     {e}");
        }
    }
    if let Some(c) = rec.exit_code {
        outln!("Exit code: {c}");
    }
    if let Some(f) = &rec.finished_at {
        outln!("Finished:  {f}");
    }
    outln!("Prompt:    {}", one_line(&rec.prompt, 200));
    if let Some(out) = final_output {
        outln!("Final output:\n{}", out.trim_end());
    }
}

fn list(tasks: &Tasks<'_>, json: bool, offset: usize, limit: usize) -> Result<()> {
    print_page(&tasks.list(offset, limit), json)
}

/// Prints a page of tasks (here, or on a server).
pub(crate) fn print_page(page: &car_core::TaskPage, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(page)?);
        return Ok(());
    }
    if page.total == 0 {
        outln!("car: no tasks recorded yet");
        return Ok(());
    }
    for rec in &page.tasks {
        outln!(
            "{}  {:<9}  turn {}  {}",
            rec.id,
            rec.state.as_str(),
            rec.current_turn().map_or(1, |t| t.n),
            one_line(&rec.prompt, 60)
        );
    }
    Ok(())
}

/// The first line of `text`, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut s: String = first.chars().take(max).collect();
    if s.len() < first.len() || text.lines().nth(1).is_some() {
        s.push('…');
    }
    s
}

fn logs(tasks: &Tasks<'_>, id: &str, follow: bool) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if !follow {
        let path = tasks.output_log(id)?;
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            // The process has not written anything yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        std::io::copy(&mut file, &mut stdout)
            .with_context(|| format!("cannot read {}", path.display()))?;
        stdout.flush()?;
        return Ok(());
    }
    let mut output = tasks.follow_output(id, 0)?;
    while let Some(chunk) = output.next_blocking() {
        if stdout
            .write_all(&chunk.bytes)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break; // the reader went away (broken pipe)
        }
    }
    Ok(())
}

/// `car __task ROOT ID`: runs the latest turn of task ID; SIGTERM stops the
/// agent (SIGTERM, then SIGKILL after the grace period).
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
    let supervisor = crate::supervisor_program();
    let path_env = std::env::var_os("PATH");
    let tasks = repo
        .tasks(crate::origin::requester())
        .allow_roots(repo.config().server.allowed_roots.clone());
    let state =
        runtime.block_on(tasks.run_turn(&a.id, &stop, supervisor.as_deref(), path_env.as_ref()))?;
    Ok(match state {
        TaskState::Succeeded => crate::EXIT_OK,
        TaskState::Cancelled => crate::EXIT_INTERRUPTED,
        TaskState::Queued | TaskState::Running | TaskState::Failed => crate::EXIT_FAILURE,
    })
}
