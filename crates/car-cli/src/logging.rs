//! car's own diagnostics: `tracing` to stderr (filtered by `CAR_LOG`,
//! default `warn`) and, for commands that act on a repository, to
//! `.codex-autorunner/logs/car.log.<date>` (daily rotation, level info).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the subscriber. Keep the returned guard alive until exit so the
/// file log is flushed.
pub(crate) fn init(logs_dir: Option<&Path>) -> Option<WorkerGuard> {
    let stderr_filter =
        EnvFilter::try_from_env("CAR_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .with_filter(stderr_filter);
    let (file, guard) = match logs_dir.filter(|d| std::fs::create_dir_all(d).is_ok()) {
        Some(dir) => {
            let appender = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("car")
                .filename_suffix("log")
                .max_log_files(14)
                .build(dir)
                .ok();
            match appender {
                Some(a) => {
                    let (writer, guard) = tracing_appender::non_blocking(a);
                    let filter = EnvFilter::try_from_env("CAR_LOG")
                        .unwrap_or_else(|_| EnvFilter::new("info"));
                    let layer = tracing_subscriber::fmt::layer()
                        .with_writer(writer)
                        .with_ansi(false)
                        .with_filter(filter);
                    (Some(layer), Some(guard))
                }
                None => (None, None),
            }
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}
