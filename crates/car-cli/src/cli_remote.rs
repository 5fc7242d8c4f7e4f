//! The arguments of `car remote ...`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::JsonArg;

/// `car remote ...`: work on another machine's `car serve`.
#[derive(Debug, Subcommand)]
pub(crate) enum RemoteCommand {
    /// Add (or replace) a machine in your user config file (~/.config/car/config.yml).
    Add(RemoteAddArgs),
    /// List the machines (user config file and the repository's root file) and their tunnels.
    List(JsonArg),
    /// Check a machine: SSH reachable, `car` there and its version, its server's /health
    /// through a short-lived tunnel, latencies.
    Check {
        /// The machine.
        name: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Open the machine's tunnel (`ssh -N -L`), kept open by a supervisor that re-opens it
    /// when it drops; prints the local URL. A tunnel already up is reused.
    Up {
        /// The machine.
        name: String,
    },
    /// Close the machine's tunnel: its supervisor and ssh end.
    Down {
        /// The machine.
        name: String,
    },
    /// Run a command on the machine with your own SSH identity (agent forwarding when the
    /// machine has forward_agent); without --cmd, a login shell.
    Ssh {
        /// The machine.
        name: String,
        /// The command line (run by the remote user's shell).
        #[arg(long, value_name = "CMD")]
        cmd: Option<String>,
        /// Give the command a terminal (`ssh -t`).
        #[arg(long)]
        tty: bool,
    },
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

/// Whether the command line is `car ... remote exec ...` (an agent's
/// call, answered in JSON even when its arguments are wrong).
pub(crate) fn is_agent_call(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<_> = args.into_iter().skip(1).collect();
    args.windows(2).any(|w| w[0] == "remote" && w[1] == "exec")
}

/// Prints a command-line mistake as `{"error": {"code": "usage", ...}}`.
pub(crate) fn print_usage_error(e: &clap::Error) {
    // What clap says up to its usage line, on one line.
    let text = e.to_string();
    let message = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let value = serde_json::json!({ "error": { "code": "usage", "message": message } });
    outln!("{value}");
}

#[cfg(test)]
mod tests {
    use super::is_agent_call;

    #[test]
    fn an_agent_call_is_remote_then_exec() {
        let args = |s: &str| {
            s.split(' ')
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>()
        };
        assert!(is_agent_call(args("car remote exec result")));
        assert!(is_agent_call(args("car --server U remote exec")));
        assert!(!is_agent_call(args("car exec remote")));
        assert!(!is_agent_call(args("car remote")));
    }
}

/// `car __tunnel MACHINE_JSON`.
#[derive(Debug, Args)]
pub(crate) struct TunnelProcessArgs {
    /// The machine, as JSON.
    pub(crate) spec: String,
}

/// `car remote add NAME --ssh user@host ...`.
#[derive(Debug, Args)]
pub(crate) struct RemoteAddArgs {
    /// The machine's name.
    pub(crate) name: String,
    /// The SSH destination: user@host (or a host alias of ~/.ssh/config).
    #[arg(long, value_name = "USER@HOST")]
    pub(crate) ssh: String,
    /// The SSH port.
    #[arg(long, value_name = "P")]
    pub(crate) port: Option<u16>,
    /// The private key to log in with.
    #[arg(long, value_name = "PATH")]
    pub(crate) identity_file: Option<PathBuf>,
    /// The port the machine's `car serve` listens on (on its loopback).
    #[arg(long, value_name = "P", default_value_t = car_core::machine::DEFAULT_REMOTE_PORT)]
    pub(crate) remote_port: u16,
    /// The local variable holding the machine's server token.
    #[arg(long, value_name = "NAME", default_value = car_core::machine::DEFAULT_TOKEN_ENV)]
    pub(crate) token_env: String,
    /// Forward your SSH agent in `car remote ssh`.
    #[arg(long)]
    pub(crate) forward_agent: bool,
    /// Reach the server at this host[:port] instead of through a tunnel (e.g. a Tailscale address).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub(crate) direct_addr: Option<String>,
    /// The machine's server.base_path (e.g. /car), when its server has one.
    #[arg(long, value_name = "PATH")]
    pub(crate) base_path: Option<String>,
    /// One more argument for every ssh command to the machine, e.g.
    /// `--ssh-option=-oProxyJump=bastion` (repeatable; kept in order).
    #[arg(long = "ssh-option", value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) ssh_options: Vec<String>,
}
