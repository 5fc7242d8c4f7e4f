//! One module per subcommand: arguments in, core call, output.

mod config;
mod docs;
mod events;
mod init;
mod kill;
mod log;
mod reply;
mod run;
mod service;
mod service_env;
mod status;

use std::path::PathBuf;

use anyhow::Result;
use car_core::{LoadOptions, Repo};

use crate::cli::{Cli, Command, ConfigCommand, Global};

/// Runs the parsed command; returns the exit code.
pub(crate) fn dispatch(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    // Commands that run the loop or signal it also log to the repo's
    // logs/ (they set up logging themselves); the rest log to stderr.
    match cli.command {
        Command::Once(_)
        | Command::Run(_)
        | Command::Resume(_)
        | Command::Kill
        | Command::Snapshot(_)
        | Command::IngestSpec(_) => {}
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
        Command::Config(ConfigCommand::Show(a)) => config::show(g, a.json),
        Command::Service(cmd) => service::run(g, cmd),
        Command::Notify(crate::cli::NotifyCommand::Test { provider }) => {
            notify_test(g, provider.as_deref())
        }
        Command::Snapshot(a) => docs::snapshot(g, a),
        Command::IngestSpec(a) => docs::ingest(g, a),
        Command::Edit(a) => docs::edit(g, a),
        Command::ClearDocs(a) => docs::clear(g, a),
        Command::Doctor(a) => docs::doctor(g, a.json),
    }
}

/// Returns the directory the command acts on.
pub(crate) fn start_dir(g: &Global) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match &g.repo {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => cwd.join(p),
        None => cwd,
    }
}

/// Builds the load options: the process's `CAR_*` variables plus `-c` values.
pub(crate) fn load_options(g: &Global, extra: &[(&str, String, &str)]) -> Result<LoadOptions> {
    let mut opts = LoadOptions::from_process_env();
    for s in &g.set {
        let (k, v) = car_core::parse_override(s)?;
        opts.cli.push((k, v, format!("-c {s}")));
    }
    for (k, v, flag) in extra {
        opts.cli
            .push(((*k).to_string(), v.clone(), (*flag).to_string()));
    }
    Ok(opts)
}

/// Opens the repository at or above the start dir (loading its
/// configuration) and prints the configuration's warnings.
pub(crate) fn load(g: &Global, extra: &[(&str, String, &str)]) -> Result<Repo> {
    let opts = load_options(g, extra)?;
    let repo = Repo::open_with(start_dir(g), &opts)?;
    for w in &repo.resolved_config().warnings {
        eprintln!("car: warning: {w}");
    }
    Ok(repo)
}

/// `car notify test`.
fn notify_test(g: &Global, provider: Option<&str>) -> Result<u8> {
    let repo = load(g, &[])?;
    let results = repo.notify_test(provider);
    if results.is_empty() {
        outln!(
            "car: no notification provider is configured; set CAR_NTFY_TOPIC (ntfy), CAR_TELEGRAM_BOT_TOKEN and CAR_TELEGRAM_CHAT_ID, CAR_DISCORD_WEBHOOK_URL or CAR_WEBHOOK_URL"
        );
        return Ok(crate::EXIT_FAILURE);
    }
    let mut ok = true;
    for (name, r) in &results {
        match r {
            Ok(Some(id)) => outln!("{name:<9} ok (message {id})"),
            Ok(None) => outln!("{name:<9} ok"),
            Err(e) => {
                ok = false;
                outln!("{name:<9} FAILED: {e}");
            }
        }
    }
    Ok(if ok {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}
