//! The arguments of `car remote ...`.

use clap::Subcommand;

/// `car remote ...`: work on another machine's `car serve`.
#[derive(Debug, Subcommand)]
pub(crate) enum RemoteCommand {
    /// Commands (`sh -c CMD`) on the server, for an agent: JSON out, errors as JSON too.
    #[command(subcommand)]
    Exec(RemoteExecCommand),
}

/// `car remote exec ...`: each prints one JSON object (`logs`: one per
/// line) on stdout; an error is `{"error": {"code", "message", ...}}` on
/// stdout with a non-zero exit.
#[derive(Debug, Subcommand)]
pub(crate) enum RemoteExecCommand {
    /// Start `sh -c CMD` on the server: {"exec_id", "state", "repo", "cmd", "cwd", "created_at", ...}.
    Start {
        /// The command line (given to `sh -c` on the server).
        #[arg(long, value_name = "CMD")]
        cmd: String,
        /// Where it runs on the server: relative to the repository's root there, or absolute
        /// (under the repository or server.allowed_roots; default: the repository's root).
        #[arg(long, value_name = "DIR")]
        cwd: Option<String>,
    },
    /// A command's result: {"exec_id", "state", "done", "exit_code", "signal", times, byte counts}.
    Result {
        /// The command's id (from `start`).
        #[arg(long, value_name = "ID")]
        id: String,
    },
    /// A command's log as JSON lines: {"stream", "offset", "next", "line"}, then {"done", ...}.
    Logs {
        /// The command's id.
        #[arg(long, value_name = "ID")]
        id: String,
        /// Which stream.
        #[arg(long, value_name = "stdout|stderr", default_value = "stdout")]
        stream: car_core::ExecStream,
        /// Only the last N lines (then, with -f, what follows).
        #[arg(long, value_name = "N", conflicts_with = "offset")]
        tail: Option<usize>,
        /// Start at this byte offset (a `next` printed before): what came after it.
        #[arg(long, value_name = "BYTES")]
        offset: Option<u64>,
        /// Follow the log until the command ends, reconnecting after a dropped connection.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Cancel a command (SIGTERM, then SIGKILL, its whole process tree): its record as JSON.
    Cancel {
        /// The command's id.
        #[arg(long, value_name = "ID")]
        id: String,
    },
}
