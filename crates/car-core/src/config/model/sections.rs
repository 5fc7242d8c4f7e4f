//! The typed, validated configuration the engine uses: one struct per
//! section, with paths made absolute.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::NotifyConfig;

/// The configuration of one repository, validated, with paths made absolute.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The repository root.
    pub root: PathBuf,
    /// Work doc locations.
    pub docs: DocsConfig,
    /// How the agent is run.
    pub codex: CodexConfig,
    /// Prompt settings.
    pub prompt: PromptConfig,
    /// Loop settings.
    pub runner: RunnerConfig,
    /// Git settings.
    pub git: GitConfig,
    /// HTTP server settings.
    pub server: ServerConfig,
    /// Event ledger settings.
    pub events: EventsConfig,
    /// Snapshot settings.
    pub snapshot: SnapshotConfig,
    /// Notification settings.
    pub notifications: NotifyConfig,
    /// Voice input (speech to text through a transcription endpoint).
    pub voice: VoiceConfig,
    /// The interactive Telegram bot.
    pub telegram_bot: super::TelegramBotConfig,
    /// The GitHub comment bridge.
    pub github_bridge: super::GithubBridgeConfig,
}

/// `voice.*`: voice input in the web UI, forwarded to an OpenAI-compatible
/// `{base_url}/audio/transcriptions` endpoint with the key read from the
/// environment variable `api_key_env` (the key itself is never in the
/// configuration).
#[derive(Debug, Clone, Serialize)]
pub struct VoiceConfig {
    /// `voice.enabled`: false turns voice input off (a key of the Python program too).
    pub enabled: bool,
    /// `voice.base_url`: the endpoint's base, without `/audio/transcriptions`.
    pub base_url: String,
    /// `voice.api_key_env`: the name of the environment variable holding the key.
    pub api_key_env: String,
    /// `voice.model`: the transcription model.
    pub model: String,
    /// `voice.max_bytes`: the largest recording accepted.
    pub max_bytes: u64,
    /// `voice.timeout_seconds`: bound on one transcription request.
    pub timeout: Duration,
}

/// `snapshot.*`: the bounded seed context of `car snapshot`.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotConfig {
    /// `snapshot.max_depth`: tree outline depth.
    pub max_depth: usize,
    /// `snapshot.max_entries`: tree outline entries.
    pub max_entries: usize,
    /// `snapshot.excerpt_chars`: characters of each work doc excerpt.
    pub excerpt_chars: usize,
    /// `snapshot.readme_chars`: characters of the README and manifest excerpts.
    pub readme_chars: usize,
    /// `snapshot.max_file_bytes`: larger files are skipped.
    pub max_file_bytes: u64,
    /// `snapshot.max_total_bytes`: all reads together.
    pub max_total_bytes: u64,
    /// `snapshot.change_lines`: lines of the change summary.
    pub change_lines: usize,
    /// `snapshot.timeout_seconds`: bound on the agent's run.
    pub timeout: Duration,
}

/// `events.*`: the event ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsConfig {
    /// `events.max_bytes`: rotate past this size.
    pub max_bytes: u64,
    /// `events.keep`: rotated files kept.
    pub keep: u32,
}

/// `docs.*`: where the work docs live (absolute paths inside the repository).
#[derive(Debug, Clone, Serialize)]
pub struct DocsConfig {
    /// `docs.todo`.
    pub todo: PathBuf,
    /// `docs.progress`.
    pub progress: PathBuf,
    /// `docs.opinions`.
    pub opinions: PathBuf,
    /// `docs.spec`.
    pub spec: PathBuf,
    /// `docs.summary`.
    pub summary: PathBuf,
    /// `docs.snapshot`.
    pub snapshot: PathBuf,
    /// `docs.snapshot_state`.
    pub snapshot_state: PathBuf,
}

/// `codex.*`: the agent command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodexConfig {
    /// `codex.binary`: a name looked up on PATH, or a path (relative to the root).
    pub binary: String,
    /// `codex.args`: arguments before the prompt.
    pub args: Vec<String>,
    /// `codex.terminal_args`: arguments for interactive sessions.
    pub terminal_args: Vec<String>,
    /// `codex.model`: injected as `--model` unless the args carry one.
    pub model: Option<String>,
    /// `codex.reasoning`: accepted for compatibility; current Codex has no such flag.
    pub reasoning: Option<String>,
    /// `codex.idle_timeout_seconds`: the no-output watchdog.
    #[serde(skip)]
    pub idle_timeout: Option<Duration>,
    /// `codex.run_timeout_seconds`: bound on one run.
    #[serde(skip)]
    pub run_timeout: Option<Duration>,
    /// `codex.structured_verdict`: ask for a JSON verdict.
    pub structured_verdict: bool,
    /// `codex.models.small`: model for small helper jobs.
    #[serde(skip)]
    pub models_small: Option<String>,
    /// `codex.models.large`: model for large jobs (snapshot, ingest-spec).
    #[serde(skip)]
    pub models_large: Option<String>,
    /// `codex.env`: variables set in the agent's environment (last, over
    /// the caller's; see the README's "The agent's environment").
    pub env: std::collections::BTreeMap<String, String>,
}

/// `prompt.*`.
#[derive(Debug, Clone, Serialize)]
pub struct PromptConfig {
    /// `prompt.prev_run_max_chars`: how much of the previous run's final output goes into the prompt.
    pub prev_run_max_chars: usize,
    /// `prompt.template`: a custom loop prompt, used when the file exists.
    pub template: PathBuf,
    /// `prompt.summary_template`: a custom final-summary prompt.
    pub summary_template: Option<PathBuf>,
}

/// `runner.*`: loop limits.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerConfig {
    /// `runner.sleep_seconds`: pause between runs.
    pub sleep: Duration,
    /// `runner.stop_after_runs`: runs per invocation (null = no limit).
    pub stop_after_runs: Option<u64>,
    /// `runner.max_wallclock_seconds`: bound on one invocation, a run in progress included.
    pub max_wallclock: Option<Duration>,
    /// `runner.max_consecutive_failures`: failed runs in a row before stopping as `failed`.
    pub max_consecutive_failures: u32,
    /// `runner.no_progress_runs`: runs in a row without any change before stopping as `stalled` (0 = off).
    pub no_progress_runs: u32,
    /// `runner.kill_grace_seconds`: time between SIGTERM and SIGKILL of the agent.
    pub kill_grace: Duration,
    /// `runner.max_tokens`: token budget over all runs (null = none).
    pub max_tokens: Option<u64>,
    /// `runner.quota_wait_max_seconds`: longest wait for a usage window.
    pub quota_wait_max: Duration,
    /// `runner.quota_retry_seconds`: wait after "try again later".
    pub quota_retry: Duration,
    /// `runner.transient_retries`: retries of transient failures.
    pub transient_retries: u32,
    /// `runner.transient_backoff_seconds`: first backoff of a retry.
    pub transient_backoff: Duration,
}

/// `git.*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GitConfig {
    /// `git.auto_commit`: commit the work tree after each successful run.
    pub auto_commit: bool,
    /// `git.commit_message_template`: `{run_id}` is replaced by the run id.
    pub commit_message_template: String,
}

/// `server.*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    /// `server.host`.
    pub host: String,
    /// `server.port`.
    pub port: u16,
    /// `server.base_path`.
    pub base_path: String,
    /// `server.access_log`.
    pub access_log: bool,
    /// `server.auth_token_env`: the name of the env var holding the bearer token.
    pub auth_token_env: String,
    /// `server.allowed_hosts`.
    pub allowed_hosts: Vec<String>,
    /// `server.allowed_origins`.
    pub allowed_origins: Vec<String>,
    /// `server.allowed_roots`: directories besides the repository where
    /// tasks and commands may run; `~` expanded, relative to the
    /// repository root, each resolved (symlinks too) when loaded.
    pub allowed_roots: Vec<PathBuf>,
    /// `server.public_url`: where people reach the server; links in notifications.
    pub public_url: Option<String>,
    /// `server.action_token_ttl_hours`: how long the token of a
    /// notification's buttons is good for.
    pub action_token_ttl: std::time::Duration,
    /// `server.rate_limit_per_minute`: state-changing requests a token (or
    /// a peer, without a token) may make a minute, in bursts of up to 20;
    /// 0: no limit.
    pub rate_limit_per_minute: u32,
    /// `server.terminal.max_sessions_per_repo`: terminal sessions (a PTY
    /// running the agent) a repository may have open at once; at least 1.
    pub terminal_max_sessions_per_repo: u32,
    /// `server.terminal.idle_timeout_seconds`: a terminal session with no
    /// client attached and no input for this long is stopped; 0: never.
    pub terminal_idle_timeout_seconds: u64,
}

impl Config {
    /// Returns `path` relative to the repository root when it is inside it.
    pub fn display_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}
