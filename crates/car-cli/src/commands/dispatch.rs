//! Which subcommand runs, and where a command logs.

use anyhow::Result;

use super::{
    attach, bridge, config, docs, events, exec, hub, init, kill, ledger, log, machine, notify,
    reply, run, serve, service, sessions, status, task, telegram, worktree,
};
use crate::cli::{Cli, Command, ConfigCommand};

/// Runs the parsed command; returns the exit code.
pub(crate) fn dispatch(cli: Cli) -> Result<u8> {
    // `--server URL` (or `$CAR_SERVER`): the command runs on a server.
    let cli = match super::remote::route(cli)? {
        super::remote::Routed::Done(code) => return Ok(code),
        super::remote::Routed::Local(cli) => *cli,
    };
    let g = &cli.global;
    // Commands that run the loop or signal it also log to the repo's
    // logs/ (they set up logging themselves); the rest log to stderr.
    match cli.command {
        Command::Once(_)
        | Command::Run(_)
        | Command::Resume(_)
        | Command::Kill
        | Command::Snapshot(_)
        | Command::IngestSpec(_)
        | Command::TaskProcess(_)
        | Command::ExecProcess(_)
        | Command::TunnelProcess(_) => {}
        _ => crate::logging::init(None),
    }
    match cli.command {
        Command::Init(args) => init::run(g, args),
        Command::Once(flags) => run::run(g, run::Mode::Once, flags),
        Command::Run(args) => run::run(
            g,
            run::Mode::Run {
                max_runs: args.max_runs,
            },
            args.flags,
        ),
        Command::Resume(args) => run::run(
            g,
            run::Mode::Resume {
                max_runs: if args.once { Some(1) } else { args.max_runs },
            },
            args.flags,
        ),
        Command::Kill => kill::kill(g),
        Command::Stop => kill::stop(g),
        Command::Status(a) => status::run(g, a.json),
        Command::Log(a) => log::run(g, a),
        Command::Reply(a) => reply::run(g, a),
        Command::Events(a) => events::run(g, a),
        Command::Attach(a) => attach::run(g, a),
        Command::Config(ConfigCommand::Show(a)) => config::show(g, a.json),
        Command::Service(cmd) => service::run(g, cmd),
        Command::Serve(a) => serve::run(g, a),
        Command::Telegram(crate::cli::TelegramCommand::Start { path }) => {
            telegram::start(g, path.as_deref())
        }
        Command::Notify(crate::cli::NotifyCommand::Test { provider }) => {
            notify::test(g, provider.as_deref())
        }
        Command::Snapshot(a) => docs::snapshot(g, a),
        Command::IngestSpec(a) => docs::ingest(g, a),
        Command::Edit(a) => docs::edit(g, a),
        Command::ClearDocs(a) => docs::clear(g, a),
        Command::Doctor(a) => docs::doctor(g, a.json),
        Command::Task(cmd) => task::run(g, cmd),
        Command::TaskProcess(a) => task::process(g, a),
        Command::Exec(cmd) => exec::run(g, cmd),
        Command::ExecProcess(a) => exec::process(g, a),
        Command::Hub(cmd) => hub::run(g, *cmd),
        Command::Worktree(cmd) => worktree::run(g, *cmd),
        Command::Remote(cmd) => machine::run(g, *cmd),
        Command::TunnelProcess(a) => machine::supervise(&a.spec),
        Command::Sessions(a) => sessions::list(g, a.json),
        Command::StopSession(a) => sessions::stop(g, &a),
        Command::Ledger(cmd) => ledger::run(g, cmd),
        Command::Bridge(cmd) => bridge::run(g, cmd),
    }
}
