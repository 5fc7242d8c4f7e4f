//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub(crate) use crate::cli_hub::{HubCommand, WorktreeCommand};
pub(crate) use crate::cli_pub::{BridgeCommand, LedgerCommand};
pub(crate) use crate::cli_remote::{
    RemoteAddArgs, RemoteCommand, RemoteExecCommand, TunnelProcessArgs,
};
pub(crate) use crate::cli_service::{
    InstallKind, K8sArgs, ServiceCommand, ServiceKind, ServiceWhat,
};

/// codex-autorunner: runs the Codex CLI in a loop over a repository's work docs.
#[derive(Debug, Parser)]
#[command(name = "car", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Repository to act on (default: the current directory; parents are searched).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) repo: Option<PathBuf>,
    /// Override a config key for this invocation, e.g. `-c runner.sleep_seconds=0` (repeatable).
    #[arg(short = 'c', long = "set", global = true, value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
    /// Talk to the `car serve` at URL instead of a local repository: status, run, once,
    /// resume, stop, kill, reply, log, events, task and exec (default: $CAR_SERVER, unless --repo
    /// is given). The token is read from $CAR_SERVER_TOKEN, never from the command line.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// With --server: the repository's id on the server (default: $CAR_SERVER_REPO, or the
    /// only one it serves).
    #[arg(long, global = true, value_name = "ID")]
    pub(crate) server_repo: Option<String>,
    /// With --server: the variable holding the server's token.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "CAR_SERVER_TOKEN"
    )]
    pub(crate) server_token_env: String,
    /// Talk to the `car serve` of machine M (from the `machines` config): through its SSH
    /// tunnel (started when none is up) or its direct_addr, with the token from its token_env.
    #[arg(long, global = true, value_name = "M")]
    pub(crate) machine: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create .codex-autorunner/ with config, work docs and .gitignore.
    Init(InitArgs),
    /// Run one iteration (one agent run), then stop.
    Once(RunFlags),
    /// Run the loop until the TODO is done, a limit is hit, or a stop is requested.
    Run(RunArgs),
    /// Continue after a stop: clear the stop request and a dead runner's state, then run.
    Resume(ResumeArgs),
    /// Stop the active runner now (SIGTERM, then SIGKILL after runner.kill_grace_seconds).
    Kill,
    /// Ask the active runner to stop after its current run.
    Stop,
    /// Show the state, last run, TODO progress and lock holder.
    Status(JsonArg),
    /// Print a run's output log.
    Log(LogArgs),
    /// Answer the agent's question; the next run's prompt carries the answer.
    Reply(ReplyArgs),
    /// Print the event ledger (.codex-autorunner/events.jsonl).
    Events(EventsArgs),
    /// Follow the loop's output and events here; answer its question from the keyboard.
    ///
    /// Ctrl-C detaches (exit 130); the loop keeps running.
    Attach(AttachArgs),
    /// Write .codex-autorunner/SNAPSHOT.md: a briefing of the repo made by the agent.
    Snapshot(SnapshotArgs),
    /// Turn SPEC into TODO, PROGRESS and OPINIONS with the agent.
    IngestSpec(IngestArgs),
    /// Open a work doc in $VISUAL or $EDITOR.
    Edit(EditArgs),
    /// Reset TODO, PROGRESS and OPINIONS to their templates (with backups).
    ClearDocs(ClearArgs),
    /// Check the setup: agent, config, docs, git, lock, state, disk.
    Doctor(JsonArg),
    /// Notifications: send a test message to each provider.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the loop, the Telegram bot or the server from launchd, systemd or cron: print or install a unit.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Codex tasks: one-shot `codex exec` conversations that run on their own.
    #[command(subcommand)]
    Task(TaskCommand),
    /// The process of one Codex task (started by `car task spawn` and `reply`).
    #[command(name = "__task", hide = true)]
    TaskProcess(TaskProcessArgs),
    /// Serve the HTTP API (loop control, docs, runs, events, live stream) for this repository.
    Serve(ServeArgs),
    /// The Telegram bot: answer the agent's questions and steer loops from your phone.
    #[command(subcommand)]
    Telegram(TelegramCommand),
    /// Commands: `sh -c CMD` run on its own, stdout and stderr kept apart.
    #[command(subcommand)]
    Exec(ExecCommand),
    /// The process of one command (started by `car exec start`).
    #[command(name = "__exec", hide = true)]
    ExecProcess(TaskProcessArgs),
    /// The hub (a directory of repositories): register, list and remove repositories.
    #[command(subcommand)]
    Hub(Box<HubCommand>),
    /// Git worktrees of a hub's repositories, one per job.
    #[command(subcommand)]
    Worktree(Box<WorktreeCommand>),
    /// Remote machines: their `car serve` over SSH tunnels (`machines` config), and commands
    /// run there as JSON for an agent (`remote exec`).
    #[command(subcommand)]
    Remote(Box<RemoteCommand>),
    /// The supervisor of one machine's SSH tunnel (started by `car remote up`).
    #[command(name = "__tunnel", hide = true)]
    TunnelProcess(TunnelProcessArgs),
    /// List this repository's terminal sessions (PTYs `car serve` runs the agent in).
    Sessions(JsonArg),
    /// Stop a terminal session: its process group gets SIGTERM, then SIGKILL after 2 s.
    StopSession(StopSessionArgs),
    /// The event ledger published to a git branch of its own, and its last events.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Bridges to the repository's tasks: `@codex` comments on GitHub issues.
    #[command(subcommand)]
    Bridge(BridgeCommand),
}

/// `car stop-session ID`.
#[derive(Debug, Args)]
pub(crate) struct StopSessionArgs {
    /// The session's id (from `car sessions`).
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    /// Print the session as JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExecCommand {
    /// Run CMD with `sh -c` in a process of its own; prints its id.
    Start {
        /// The command line (given to `sh -c`).
        cmd: String,
        /// Where it runs (the repository or a directory under it; default: its root).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
    /// Show a command: state, exit code or signal, times.
    Status {
        /// The command.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a command's stdout (or stderr), bytes unchanged.
    Logs {
        /// The command.
        id: String,
        /// Which stream.
        #[arg(long, value_name = "stdout|stderr", default_value = "stdout")]
        stream: car_core::ExecStream,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        /// Keep printing new output until the command ends.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Stop a command: SIGTERM, then SIGKILL after runner.kill_grace_seconds, whole process tree.
    Cancel {
        /// The command.
        id: String,
    },
    /// List the commands, newest first.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Skip this many commands.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// Start a task: `codex exec` on PROMPT in a process of its own; prints its id.
    Spawn {
        /// The prompt.
        prompt: String,
        /// Where the agent works (the repository or a directory under it; default: its root).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// The model (default: codex.model).
        #[arg(long, value_name = "M")]
        model: Option<String>,
    },
    /// Continue a finished task's conversation with MESSAGE (`codex exec resume`).
    Reply {
        /// The task.
        id: String,
        /// The message.
        message: String,
    },
    /// Stop a task: SIGTERM, then SIGKILL after runner.kill_grace_seconds, whole process tree.
    Abort {
        /// The task.
        id: String,
    },
    /// Show one task, or every task.
    Status {
        /// The task (default: every task).
        id: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the tasks, newest first.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Skip this many tasks.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print a task's output log.
    Logs {
        /// The task.
        id: String,
        /// Keep printing new output until the task's turn ends.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TaskProcessArgs {
    /// The repository's root.
    #[arg(value_name = "ROOT")]
    pub(crate) root: PathBuf,
    /// The task.
    pub(crate) id: String,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ServeArgs {
    /// Address to listen on (default: server.host, 127.0.0.1). Any other than a loopback one
    /// needs a token (server.auth_token_env).
    #[arg(long, value_name = "H")]
    pub(crate) host: Option<String>,
    /// Port (default: server.port, 4173); 0 picks a free one.
    #[arg(long, value_name = "P")]
    pub(crate) port: Option<u16>,
    /// Serve everything under this path, e.g. /car (default: server.base_path).
    #[arg(long, value_name = "/X")]
    pub(crate) base_path: Option<String>,
    /// Do not draw the one-time link's QR code (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub(crate) no_qr: bool,
    /// Revoke every browser session (their cookies fail at once, in a running server too), and exit.
    #[arg(long, conflicts_with_all = ["host", "port", "base_path", "no_qr"])]
    pub(crate) revoke_sessions: bool,
    #[command(subcommand)]
    pub(crate) command: Option<crate::cli_users::ServeCommand>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Directory to initialise (default: the current directory).
    #[arg(value_name = "PATH", conflicts_with = "path_flag")]
    pub(crate) path: Option<PathBuf>,
    /// Directory to initialise (same as the positional PATH).
    #[arg(long = "path", value_name = "DIR")]
    pub(crate) path_flag: Option<PathBuf>,
    /// Run `git init` when the directory is not in a git repository.
    #[arg(long)]
    pub(crate) git_init: bool,
    /// Overwrite existing files, keeping each old one as <name>.bak.
    #[arg(long)]
    pub(crate) force: bool,
    /// `repo` (a repository) or `hub` (a directory of repositories: config and manifest).
    #[arg(long, value_name = "repo|hub", default_value = "repo", value_parser = ["repo", "hub"])]
    pub(crate) mode: String,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Stop after this many runs in this invocation (overrides runner.stop_after_runs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_runs: Option<u64>,
    #[command(flatten)]
    pub(crate) flags: RunFlags,
}

#[derive(Debug, Args, Clone, Copy, Default)]
pub(crate) struct RunFlags {
    /// If another runner holds this repository's lock, print one line and exit 0 (for cron).
    #[arg(long)]
    pub(crate) if_idle: bool,
    /// Print only errors.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// Run a single iteration.
    #[arg(long, conflicts_with = "max_runs")]
    pub(crate) once: bool,
    /// Stop after this many runs in this invocation.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_runs: Option<u64>,
    #[command(flatten)]
    pub(crate) flags: RunFlags,
}

#[derive(Debug, Args)]
pub(crate) struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// The run to show (default: the latest).
    #[arg(long, value_name = "N")]
    pub(crate) run: Option<u64>,
    /// Show only the last N lines.
    #[arg(long, value_name = "N")]
    pub(crate) tail: Option<usize>,
    /// Keep printing new lines until the run ends.
    #[arg(long, short = 'f')]
    pub(crate) follow: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    /// Ignore the existing snapshot and write a fresh one.
    #[arg(long)]
    pub(crate) from_scratch: bool,
    /// Print the snapshot instead of writing SNAPSHOT.md.
    #[arg(long)]
    pub(crate) stdout: bool,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// The spec to read (default: docs.spec).
    #[arg(long, value_name = "PATH")]
    pub(crate) spec: Option<PathBuf>,
    /// Overwrite TODO/PROGRESS/OPINIONS that hold content (each is backed up).
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DocArg {
    /// TODO.md
    Todo,
    /// PROGRESS.md
    Progress,
    /// OPINIONS.md
    Opinions,
    /// SPEC.md
    Spec,
    /// SUMMARY.md
    Summary,
}

#[derive(Debug, Args)]
pub(crate) struct EditArgs {
    /// Which doc.
    pub(crate) doc: DocArg,
}

#[derive(Debug, Args)]
pub(crate) struct ClearArgs {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplyArgs {
    /// The answer.
    #[arg(
        value_name = "ANSWER",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub(crate) answer: Option<String>,
    /// Read the answer from a file (`-` for stdin).
    #[arg(long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// The repository to attach to (in a repository: its directory name, or nothing).
    #[arg(value_name = "ID")]
    pub(crate) id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Keep printing new events as they are appended.
    #[arg(long, short = 'f')]
    pub(crate) follow: bool,
    /// Print the raw JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// Only events of this run id and later.
    #[arg(long, value_name = "RUN")]
    pub(crate) since: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TelegramCommand {
    /// Run the bot (long polling) until SIGTERM or Ctrl-C; settings in `telegram_bot`.
    Start {
        /// The repository or hub the bot serves (default: --repo, or the current directory).
        #[arg(long, value_name = "REPO_OR_HUB")]
        path: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Send a test message to each enabled provider and report each result.
    Test {
        /// Only this provider (ntfy, telegram, discord, webhook).
        #[arg(long, value_name = "P")]
        provider: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the resolved configuration and where each value came from.
    Show(JsonArg),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
