//! Which commands go to the server, and what the others do with one.

use anyhow::Result;
use car_client::ClientError;

use super::target::{Remote, Source};
use super::{errors, execs, logs, starts, tasks};
use crate::cli::{Cli, Command};
use crate::report::UsageError;

/// Where a command ran.
pub(crate) enum Routed {
    /// On the server, with this exit code.
    Done(u8),
    /// Nowhere yet: it runs here.
    Local(Box<Cli>),
}

/// Runs the command on the server when one is named and the command is
/// one a server answers; a command that works on a local repository only
/// is refused with `--server`, and runs here with `$CAR_SERVER`.
pub(crate) fn route(cli: Cli) -> Result<Routed> {
    // `car remote ...` finds its server itself, and answers in JSON.
    if matches!(cli.command, Command::Remote(_)) {
        return Ok(Routed::Local(Box::new(cli)));
    }
    // A tunnel is started only for a command a server answers.
    if cli.global.machine.is_some() && !served(&cli.command) {
        return Err(UsageError(format!(
            "`car {}` works on a local repository only; --machine serves status, run, \
             once, resume, stop, kill, reply, log, events, task and exec",
            local_name(&cli.command)
        ))
        .into());
    }
    let Some(remote) = Remote::from_global(&cli.global)? else {
        return Ok(Routed::Local(Box::new(cli)));
    };
    let result = match cli.command {
        Command::Status(a) => starts::status(&remote, a.json),
        Command::Run(a) => starts::start(&remote, starts::Start::Run(a.max_runs), a.flags),
        Command::Once(flags) => starts::start(&remote, starts::Start::Once, flags),
        Command::Resume(a) => {
            if a.once || a.max_runs.is_some() {
                return Err(UsageError(
                    "`car resume --once` and `--max-runs` work on a local repository only; \
                     with --server, `car resume` continues with the server's limits"
                        .into(),
                )
                .into());
            }
            starts::start(&remote, starts::Start::Resume, a.flags)
        }
        Command::Stop => starts::stop(&remote),
        Command::Kill => starts::kill(&remote),
        Command::Reply(a) => starts::reply(&remote, &a),
        Command::Log(a) => logs::log(&remote, &a),
        Command::Events(a) => logs::events(&remote, &a),
        Command::Task(cmd) => tasks::run(&remote, cmd),
        Command::Exec(cmd) => execs::run(&remote, cmd),
        command => {
            if remote.source == Source::Env {
                return Ok(Routed::Local(Box::new(Cli {
                    global: cli.global,
                    command,
                })));
            }
            return Err(UsageError(format!(
                "`car {}` works on a local repository only; --server serves status, run, \
                 once, resume, stop, kill, reply, log, events, task and exec",
                local_name(&command)
            ))
            .into());
        }
    };
    match result {
        Ok(code) => Ok(Routed::Done(code)),
        Err(e) => match e.downcast_ref::<ClientError>() {
            Some(ce) => Ok(Routed::Done(errors::report(&remote, ce))),
            None => Err(e),
        },
    }
}

/// Whether a server answers `command`.
fn served(command: &Command) -> bool {
    matches!(
        command,
        Command::Status(_)
            | Command::Run(_)
            | Command::Once(_)
            | Command::Resume(_)
            | Command::Stop
            | Command::Kill
            | Command::Reply(_)
            | Command::Log(_)
            | Command::Events(_)
            | Command::Task(_)
            | Command::Exec(_)
    )
}

/// The name of a command that runs only here.
fn local_name(command: &Command) -> &'static str {
    match command {
        Command::Init(_) => "init",
        Command::Attach(_) => "attach",
        Command::Snapshot(_) => "snapshot",
        Command::IngestSpec(_) => "ingest-spec",
        Command::Edit(_) => "edit",
        Command::ClearDocs(_) => "clear-docs",
        Command::Doctor(_) => "doctor",
        Command::Notify(_) => "notify",
        Command::Config(_) => "config",
        Command::Service(_) => "service",
        Command::Serve(_) => "serve",
        Command::Telegram(_) => "telegram",
        Command::TaskProcess(_) => "__task",
        Command::ExecProcess(_) => "__exec",
        Command::Hub(_) => "hub",
        Command::Worktree(_) => "worktree",
        Command::Sessions(_) => "sessions",
        Command::StopSession(_) => "stop-session",
        Command::Remote(_) => "remote",
        Command::TunnelProcess(_) => "__tunnel",
        Command::Ledger(_) => "ledger",
        Command::Bridge(_) => "bridge",
        Command::Status(_)
        | Command::Run(_)
        | Command::Once(_)
        | Command::Resume(_)
        | Command::Stop
        | Command::Kill
        | Command::Reply(_)
        | Command::Log(_)
        | Command::Events(_)
        | Command::Task(_)
        | Command::Exec(_) => "this command",
    }
}
