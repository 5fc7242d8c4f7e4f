//! The arguments of `car hub ...` and `car worktree ...`.

use clap::Subcommand;

use crate::cli::JsonArg;

/// `car hub ...` (the hub is found at or above --repo or the current directory).
#[derive(Debug, Subcommand)]
pub(crate) enum HubCommand {
    /// Register the git repositories under hub.repos_root and the worktrees under hub.worktrees_root.
    Scan {
        /// Initialise car (.codex-autorunner/) where it is missing, whatever hub.auto_init_missing says.
        #[arg(long)]
        init: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Register a repository: a directory under the hub, or a URL cloned into hub.repos_root.
    Add {
        /// A git repository's directory, or a URL (or bare repository) to clone.
        #[arg(value_name = "PATH|URL")]
        source: String,
        /// The id to give it (default: its directory name).
        #[arg(long)]
        id: Option<String>,
        /// Initialise car in it, whatever hub.auto_init_missing says.
        #[arg(long)]
        init: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Unregister a repository (its files stay); a worktree is removed as by `car worktree remove`.
    Remove {
        /// The repository's id.
        id: String,
        /// Remove a worktree holding unpushed or uncommitted work (archived first).
        #[arg(long)]
        force: bool,
    },
    /// List the registered repositories and worktrees.
    List(JsonArg),
    /// Every repository's loop on one line: state, TODO, current run and its age, a waiting question;
    /// then the configured machines' repositories (NAME:ID), asked through their servers.
    Status {
        /// Wider lines, with the branch, ahead/behind and dirty or clean (git is asked).
        #[arg(long)]
        wide: bool,
        /// Print JSON (with git).
        #[arg(long)]
        json: bool,
    },
    /// Every repository's events, each naming its repository.
    Events {
        /// Keep printing new events as they are appended (Ctrl-C stops).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print the JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Run the hub's supervisor in the foreground: it starts queued loops within
    /// hub.max_parallel_loops and restarts crashed ones; ending it stops no loop.
    Run {
        /// End when no loop is queued, running or waiting to restart.
        #[arg(long)]
        until_idle: bool,
    },
    /// Queue the loops of repositories (in the order given) and start the hub's
    /// supervisor when none runs; without IDs, only the supervisor.
    Start {
        /// The repositories' ids.
        ids: Vec<String>,
        /// Every enabled repository, in manifest order.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Unqueue the loops of repositories and stop those running after their current run.
    Stop {
        /// The repositories' ids.
        ids: Vec<String>,
        /// Every registered repository.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Stop now (the current run is ended) instead of after the current run.
        #[arg(long)]
        now: bool,
    },
}

/// `car worktree ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum WorktreeCommand {
    /// Create worktrees/<BASE>--<NAME> on a new branch, initialise car in it, run the setup commands.
    New {
        /// The base repository's id.
        base: String,
        /// The job's name.
        name: String,
        /// Where the new branch starts (default: the base's HEAD).
        #[arg(long = "from", value_name = "REF")]
        from: Option<String>,
        /// The branch (default: hub.worktree_branch_prefix followed by NAME).
        #[arg(long, value_name = "B")]
        branch: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the hub's worktrees.
    List(JsonArg),
    /// Remove a worktree; refused with uncommitted or unpushed work unless --force (which archives it).
    Remove {
        /// The worktree's id.
        id: String,
        /// Remove even with work that is nowhere else (archived under the hub first).
        #[arg(long)]
        force: bool,
    },
    /// Unregister worktrees whose directory is gone and run `git worktree prune`.
    Prune,
}
