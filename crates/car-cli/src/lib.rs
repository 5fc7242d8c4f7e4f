//! The `car` command line: parses arguments, calls `car-core`, prints.
//!
//! Exit codes (also in the README): 0 the loop completed or reached a limit,
//! 1 it failed or stalled (or another runner holds the lock), 2 a usage or
//! configuration error, 3 it stopped to wait for a person, 130 interrupted
//! or killed.

/// Like `println!`, but a closed stdout (`car status | head -1`) ends the
/// command quietly with exit 0 instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// Like `print!`, with the same handling of a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = write!(out, $($arg)*).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// Like `eprintln!`, but a stderr that cannot be written (a closed pipe:
/// `car run 2>&1 | tee log` after Ctrl-C ended `tee`) is ignored instead of
/// a panic, which would kill the thread that acts on signals.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod cli_hub;
mod cli_pub;
mod cli_remote;
mod cli_service;
mod cli_users;
mod commands;
mod logging;
mod origin;
mod report;
mod signals;

use std::process::ExitCode;

/// This program, as the supervisor of each agent run (`car __supervise`).
///
/// On Linux `/proc/self/exe`: the kernel resolves it at exec time to the
/// binary this process runs, even after an upgrade replaced or deleted the
/// file (where `current_exe()` would name the new binary or a path ending
/// in ` (deleted)`).
pub(crate) fn supervisor_program() -> Option<std::path::PathBuf> {
    car_core::procfs::self_exe().or_else(|| std::env::current_exe().ok())
}

use clap::Parser;

/// Exit code: the loop completed, or reached a run or time limit.
pub const EXIT_OK: u8 = 0;
/// Exit code: the loop failed or stalled, or a runtime error.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the loop stopped to wait for a person (`needs_input`, `blocked`).
pub const EXIT_NEEDS_PERSON: u8 = 3;
/// Exit code: interrupted (Ctrl-C) or killed (`car kill`).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs the `car` command line and returns the process exit code.
pub fn main() -> ExitCode {
    // `car __supervise ...`: the per-run supervisor car starts under each
    // agent (hidden; see car_core::supervisor_main). Checked before anything
    // else, so nothing of the command line's setup runs in it.
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(std::ffi::OsStr::new(car_core::SUPERVISOR_SUBCOMMAND)) {
        let code = car_core::supervisor_main(args);
        return ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILURE));
    }
    // First, before any other work: from here on SIGINT, SIGTERM and SIGHUP
    // never meet their default action (see signals.rs).
    signals::install();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            if e.use_stderr() && cli_remote::is_agent_call(std::env::args_os()) {
                // An agent reads stdout: the error as JSON there too.
                cli_remote::print_usage_error(&e);
            }
            return ExitCode::from(code);
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report::print_error(&e);
            // Also in the repository's log file (not again on stderr): a
            // runner started detached (by a server, a hub) has no terminal.
            tracing::error!(target: logging::FILE_ONLY, error = %format!("{e:#}"), "car failed");
            ExitCode::from(report::exit_code(&e))
        }
    }
}
