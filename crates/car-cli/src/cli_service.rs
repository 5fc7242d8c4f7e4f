//! The arguments of `car service ...`: which scheduler, what the unit
//! runs, and the Kubernetes options.

use clap::Subcommand;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ServiceKind {
    /// A launchd agent (macOS).
    Launchd,
    /// A systemd user service (and timer with --interval).
    Systemd,
    /// A crontab line.
    Cron,
    /// Kubernetes: a Job running the loop (a CronJob with --schedule, a Deployment of the
    /// server with --what serve) and the volume claim of the work tree.
    Kubernetes,
    /// The GitHub Actions workflow of the comment bridge (`car bridge github`) on a
    /// self-hosted runner, for .github/workflows/car-bridge.yml.
    GithubActions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum InstallKind {
    /// A launchd agent in ~/Library/LaunchAgents.
    Launchd,
    /// A systemd user unit in ~/.config/systemd/user.
    Systemd,
    /// The wrapper script a crontab line starts (the line is printed).
    Cron,
    /// Refused: car does not talk to a cluster (`car service print kubernetes | kubectl apply -f -`).
    Kubernetes,
}

/// What a `car service` unit runs (`--what`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ServiceWhat {
    /// The loop: `car --repo ROOT run --if-idle` (a repository).
    #[default]
    Loop,
    /// The Telegram bot: `car telegram start --path ROOT` (a repository or a hub).
    Telegram,
    /// The HTTP server: `car --repo ROOT serve` (a repository or a hub; address from `server.*`).
    Serve,
    /// The ledger published to git: `car --repo ROOT ledger publish` (a repository, or every
    /// one of a hub).
    Ledger,
}

/// The options of `car service print kubernetes`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct K8sArgs {
    /// Kubernetes: a CronJob on this cron schedule (five fields, or @hourly...) running
    /// `car run --if-idle`, never two at once; without it a Job running `car run`.
    #[arg(long, value_name = "CRON")]
    pub(crate) schedule: Option<String>,
    /// Kubernetes: the container image with car and the Codex CLI (built from car's
    /// Dockerfile) [default: codex-autorunner:VERSION].
    #[arg(long, value_name = "IMAGE")]
    pub(crate) image: Option<String>,
    /// Kubernetes: the namespace of the objects (default: kubectl's current one).
    #[arg(long, value_name = "NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// Kubernetes: the Secret the loop's variables come from, each by its own name
    /// [default: codex-autorunner].
    #[arg(long, value_name = "NAME")]
    pub(crate) secret: Option<String>,
    /// Kubernetes: a git URL an init container clones into the claim when it holds no
    /// repository yet.
    #[arg(long, value_name = "URL")]
    pub(crate) clone_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServiceCommand {
    /// Print a ready unit for this repository or hub (it names the variables of its environment
    /// file, never their values).
    Print {
        /// Which scheduler.
        kind: ServiceKind,
        /// Start the loop every SECONDS (launchd StartInterval, a systemd timer, the cron period);
        /// without it launchd and systemd keep the loop running and restart it when it fails.
        /// The loop only.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        interval: Option<u64>,
        /// What the unit runs: the loop, the Telegram bot or the HTTP server (the bot and the
        /// server run until stopped, restarted when they fail: launchd or systemd, not cron).
        #[arg(long, value_enum, default_value_t = ServiceWhat::Loop)]
        what: ServiceWhat,
        #[command(flatten)]
        k8s: Box<K8sArgs>,
    },
    /// Write the unit to your user's unit directory, and the environment file it loads
    /// (mode 0600: PATH, CODEX_HOME, model API keys, CAR_* variables of this shell, the
    /// variables the configuration names for secrets), then print the command that enables it.
    Install {
        /// Which scheduler.
        kind: InstallKind,
        /// As for `print`.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        interval: Option<u64>,
        /// As for `print`.
        #[arg(long, value_enum, default_value_t = ServiceWhat::Loop)]
        what: ServiceWhat,
        /// Then enable and start it (systemd `enable --now`, launchd `bootstrap`) and wait
        /// until it answers: the server's /health, the bot's process staying up.
        #[arg(long)]
        start: bool,
    },
    /// What the scheduler says of the installed units (state, pid, restarts), whether what they
    /// run answers (the server's /health, the bot's process, the loop's lock), and whether the
    /// process runs a binary replaced since it started. Exit 1 when something is wrong.
    Status {
        /// Only this scheduler's unit.
        kind: Option<InstallKind>,
        /// As for `print`.
        #[arg(long, value_enum, default_value_t = ServiceWhat::Loop)]
        what: ServiceWhat,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Restart the installed units (after replacing the car binary: the upgrade) and wait until
    /// they answer again; loops and sessions they started are processes of their own and go on.
    Restart {
        /// Only this scheduler's unit.
        kind: Option<InstallKind>,
        /// As for `print`.
        #[arg(long, value_enum, default_value_t = ServiceWhat::Loop)]
        what: ServiceWhat,
    },
    /// Remove the units of what `--what` names (every kind, and their environment file and
    /// wrapper, unless a kind is named).
    Uninstall {
        /// Which scheduler.
        kind: Option<InstallKind>,
        /// As for `print`.
        #[arg(long, value_enum, default_value_t = ServiceWhat::Loop)]
        what: ServiceWhat,
    },
}
