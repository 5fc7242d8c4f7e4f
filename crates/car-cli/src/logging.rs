//! car's own diagnostics: `tracing` to stderr (filtered by `CAR_LOG`,
//! default `warn`) and, for commands that act on a repository, to
//! `.codex-autorunner/logs/car.<date>.log` (daily rotation, level info).

use std::path::Path;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The target of events written to the log file only (never to stderr).
pub(crate) const FILE_ONLY: &str = "car_file_only";

/// Installs the subscriber.
pub(crate) fn init(logs_dir: Option<&Path>) {
    let mut stderr_filter = filter("warn");
    if let Ok(d) = format!("{FILE_ONLY}=off").parse() {
        stderr_filter = stderr_filter.add_directive(d);
    }
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .with_filter(stderr_filter);
    // The file is written directly (a few lines per run): no writer thread
    // to start and join, which would cost more than the writes.
    let file = logs_dir
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .and_then(|dir| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("car")
                .filename_suffix("log")
                .max_log_files(14)
                .build(dir)
                .ok()
        })
        .map(|appender| {
            let filter = filter("info");
            tracing_subscriber::fmt::layer()
                .with_writer(std::sync::Mutex::new(appender))
                .with_ansi(false)
                .with_filter(filter)
        });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}

/// `CAR_LOG` (else `default`), with the HTTP client held at warn: its debug
/// lines print request URLs, and a Telegram URL holds the bot token.
fn filter(default: &str) -> EnvFilter {
    let f = EnvFilter::try_from_env("CAR_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    ["ureq=warn", "rustls=warn"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(f, EnvFilter::add_directive)
}
