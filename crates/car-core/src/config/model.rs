//! The typed, validated configuration the engine uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::layers::{self, ConfigSource};
use crate::fs_util::normalize_under;
use crate::paths::RepoPaths;

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
}

/// Whether notifications (or one provider) are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Enabled {
    /// On.
    On,
    /// Off.
    Off,
    /// On when the provider's environment variables are set.
    Auto,
}

/// `notifications.*`.
#[derive(Debug, Clone, Serialize)]
pub struct NotifyConfig {
    /// `notifications.enabled`: true, false or auto.
    pub enabled: Enabled,
    /// `notifications.events`: event classes that notify (Python names mapped).
    pub events: Vec<String>,
    /// `notifications.throttle_seconds`: one notification per class per this long (needs_input excepted).
    pub throttle: Duration,
    /// `notifications.quiet_hours`: `(start, end)` minutes after local midnight.
    pub quiet_hours: Option<(u32, u32)>,
    /// `notifications.escalate_after_seconds`: resend an unanswered question (null = never).
    pub escalate_after: Option<Duration>,
    /// `notifications.timeout_seconds`: per HTTP request.
    pub timeout: Duration,
    /// `notifications.retries`: per delivery.
    pub retries: u32,
    /// `notifications.ntfy.*`.
    pub ntfy: NtfyConfig,
    /// `notifications.telegram.*`.
    pub telegram: TelegramConfig,
    /// `notifications.discord.*`.
    pub discord: DiscordConfig,
    /// `notifications.webhook.*`.
    pub webhook: WebhookConfig,
}

/// `notifications.ntfy.*`.
#[derive(Debug, Clone, Serialize)]
pub struct NtfyConfig {
    /// On, off, or (null) follow `notifications.enabled`.
    pub enabled: Option<bool>,
    /// The ntfy server.
    pub server: String,
    /// Env var with the topic.
    pub topic_env: String,
    /// Env var with an access token (`tk_...`) or `user:password`.
    pub token_env: String,
}

/// `notifications.telegram.*`.
#[derive(Debug, Clone, Serialize)]
pub struct TelegramConfig {
    /// On, off, or follow.
    pub enabled: Option<bool>,
    /// The Bot API base URL.
    pub api_base: String,
    /// Env var with the bot token.
    pub bot_token_env: String,
    /// Env var with the chat id.
    pub chat_id_env: String,
    /// Env var with a message thread id.
    pub thread_id_env: Option<String>,
    /// A message thread id.
    pub thread_id: Option<i64>,
    /// Thread id per repository path.
    pub thread_id_map: std::collections::BTreeMap<String, i64>,
}

/// `notifications.discord.*`.
#[derive(Debug, Clone, Serialize)]
pub struct DiscordConfig {
    /// On, off, or follow.
    pub enabled: Option<bool>,
    /// Env var with the webhook URL.
    pub webhook_url_env: String,
}

/// `notifications.webhook.*`.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookConfig {
    /// On, off, or follow.
    pub enabled: Option<bool>,
    /// Env var with the URL.
    pub url_env: String,
}

#[derive(Deserialize)]
struct RawNotify {
    enabled: serde_yaml::Value,
    events: Vec<String>,
    throttle_seconds: f64,
    quiet_hours: Option<String>,
    escalate_after_seconds: Option<f64>,
    timeout_seconds: f64,
    retries: u32,
    ntfy: RawNtfy,
    telegram: RawTelegram,
    discord: RawDiscord,
    webhook: RawWebhook,
}

#[derive(Deserialize)]
struct RawNtfy {
    enabled: Option<bool>,
    server: String,
    topic_env: String,
    token_env: String,
}

#[derive(Deserialize)]
struct RawTelegram {
    enabled: Option<bool>,
    api_base: String,
    bot_token_env: String,
    chat_id_env: String,
    thread_id_env: Option<String>,
    thread_id: Option<i64>,
    thread_id_map: std::collections::BTreeMap<String, i64>,
}

#[derive(Deserialize)]
struct RawDiscord {
    enabled: Option<bool>,
    webhook_url_env: String,
}

#[derive(Deserialize)]
struct RawWebhook {
    enabled: Option<bool>,
    url_env: String,
}

/// The event classes car notifies about.
pub(crate) const EVENT_CLASSES: &[&str] = &[
    "needs_input",
    "completed",
    "failed",
    "stalled",
    "hung",
    "quota_exhausted",
    "waiting_for_quota",
    "budget",
    "killed",
    "run_finished",
    "run_failed",
];

/// Parses `HH:MM-HH:MM` into minutes after midnight.
fn parse_quiet_hours(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let m = |t: &str| -> Option<u32> {
        let (h, mi) = t.trim().split_once(':')?;
        let (h, mi): (u32, u32) = (h.parse().ok()?, mi.parse().ok()?);
        (h < 24 && mi < 60).then_some(h * 60 + mi)
    };
    Some((m(a)?, m(b)?))
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

#[derive(Deserialize)]
struct RawSnapshot {
    max_depth: usize,
    max_entries: usize,
    excerpt_chars: usize,
    readme_chars: usize,
    max_file_bytes: u64,
    max_total_bytes: u64,
    change_lines: usize,
    timeout_seconds: f64,
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
    pub env: BTreeMap<String, String>,
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
    /// `server.public_url`: where people reach the server; links in notifications.
    pub public_url: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    version: u32,
    mode: String,
    docs: RawDocs,
    codex: RawCodex,
    prompt: RawPrompt,
    runner: RawRunner,
    git: GitConfig,
    server: ServerConfig,
    events: EventsConfig,
    snapshot: RawSnapshot,
    notifications: RawNotify,
}

#[derive(Deserialize)]
struct RawModels {
    small: Option<String>,
    large: Option<String>,
}

#[derive(Deserialize)]
struct RawCodex {
    binary: String,
    args: Vec<String>,
    terminal_args: Vec<String>,
    model: Option<String>,
    reasoning: Option<String>,
    idle_timeout_seconds: Option<f64>,
    run_timeout_seconds: Option<f64>,
    structured_verdict: bool,
    models: RawModels,
    env: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct RawDocs {
    todo: String,
    progress: String,
    opinions: String,
    spec: String,
    summary: String,
    snapshot: String,
    snapshot_state: String,
}

#[derive(Deserialize)]
struct RawPrompt {
    prev_run_max_chars: usize,
    template: String,
    summary_template: Option<String>,
}

#[derive(Deserialize)]
struct RawRunner {
    sleep_seconds: f64,
    stop_after_runs: Option<u64>,
    max_wallclock_seconds: Option<f64>,
    max_consecutive_failures: u32,
    no_progress_runs: u32,
    kill_grace_seconds: f64,
    max_tokens: Option<u64>,
    quota_wait_max_seconds: f64,
    quota_retry_seconds: f64,
    transient_retries: u32,
    transient_backoff_seconds: f64,
}

pub(super) fn build(
    merged: &serde_yaml::Value,
    sources: &BTreeMap<String, ConfigSource>,
    paths: &RepoPaths,
) -> Result<Config, ConfigError> {
    let raw: Raw = serde_path_to_error::deserialize(merged.clone()).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Invalid {
            origin: layers::source_of(sources, &key),
            message: e.into_inner().to_string(),
            key,
        }
    })?;
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_string(),
        origin: layers::source_of(sources, key),
        message,
    };
    if raw.version != 2 {
        return Err(invalid(
            "version",
            format!("unsupported version {}; expected 2", raw.version),
        ));
    }
    match raw.mode.as_str() {
        "repo" => {}
        "hub" => {
            let path = match layers::source_of(sources, "mode") {
                ConfigSource::RootFile(p)
                | ConfigSource::OverrideFile(p)
                | ConfigSource::RepoFile(p) => p,
                _ => paths.config_file(),
            };
            return Err(ConfigError::HubMode { path });
        }
        other => {
            return Err(invalid(
                "mode",
                format!("`{other}`; expected `repo` or `hub`"),
            ));
        }
    }
    let root = &paths.root;
    let doc = |key: &str, value: &str| -> Result<PathBuf, ConfigError> {
        if value.trim().is_empty() {
            return Err(invalid(key, "must be a non-empty path".into()));
        }
        inside_root(root, value).ok_or_else(|| {
            invalid(
                key,
                format!(
                    "path `{value}` is outside the repository {}",
                    root.display()
                ),
            )
        })
    };
    let docs = DocsConfig {
        todo: doc("docs.todo", &raw.docs.todo)?,
        progress: doc("docs.progress", &raw.docs.progress)?,
        opinions: doc("docs.opinions", &raw.docs.opinions)?,
        spec: doc("docs.spec", &raw.docs.spec)?,
        summary: doc("docs.summary", &raw.docs.summary)?,
        snapshot: doc("docs.snapshot", &raw.docs.snapshot)?,
        snapshot_state: doc("docs.snapshot_state", &raw.docs.snapshot_state)?,
    };
    if raw.codex.binary.trim().is_empty() {
        return Err(invalid(
            "codex.binary",
            "must name the agent program".into(),
        ));
    }
    let seconds = |key: &str, v: f64| -> Result<Duration, ConfigError> {
        if v.is_finite() && v >= 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(invalid(key, format!("{v} is not a number of seconds >= 0")))
        }
    };
    if raw.runner.stop_after_runs == Some(0) {
        return Err(invalid(
            "runner.stop_after_runs",
            "must be at least 1, or null for no limit".into(),
        ));
    }
    if raw.runner.max_consecutive_failures == 0 {
        return Err(invalid(
            "runner.max_consecutive_failures",
            "must be at least 1".into(),
        ));
    }
    let runner = RunnerConfig {
        sleep: seconds("runner.sleep_seconds", raw.runner.sleep_seconds)?,
        stop_after_runs: raw.runner.stop_after_runs,
        max_wallclock: raw
            .runner
            .max_wallclock_seconds
            .map(|v| seconds("runner.max_wallclock_seconds", v))
            .transpose()?,
        max_consecutive_failures: raw.runner.max_consecutive_failures,
        no_progress_runs: raw.runner.no_progress_runs,
        kill_grace: seconds("runner.kill_grace_seconds", raw.runner.kill_grace_seconds)?,
        max_tokens: raw.runner.max_tokens,
        quota_wait_max: seconds(
            "runner.quota_wait_max_seconds",
            raw.runner.quota_wait_max_seconds,
        )?,
        quota_retry: seconds("runner.quota_retry_seconds", raw.runner.quota_retry_seconds)?,
        transient_retries: raw.runner.transient_retries,
        transient_backoff: seconds(
            "runner.transient_backoff_seconds",
            raw.runner.transient_backoff_seconds,
        )?,
    };
    let positive = |key: &str, v: Option<f64>| -> Result<Option<Duration>, ConfigError> {
        match v {
            None => Ok(None),
            Some(x) if x.is_finite() && x > 0.0 => Ok(Some(Duration::from_secs_f64(x))),
            Some(x) => Err(invalid(
                key,
                format!("{x} is not a number of seconds > 0 (use null to turn it off)"),
            )),
        }
    };
    let env = raw.codex.env.unwrap_or_default();
    for (name, value) in &env {
        let key = format!("codex.env.{name}");
        crate::agent_env::check_name(name).map_err(|m| invalid(&key, m))?;
        if value.contains('\0') {
            return Err(invalid(
                &key,
                "the value must not contain a NUL byte".into(),
            ));
        }
    }
    let codex = CodexConfig {
        binary: raw.codex.binary,
        args: raw.codex.args,
        terminal_args: raw.codex.terminal_args,
        model: raw.codex.model,
        reasoning: raw.codex.reasoning,
        idle_timeout: positive("codex.idle_timeout_seconds", raw.codex.idle_timeout_seconds)?,
        run_timeout: positive("codex.run_timeout_seconds", raw.codex.run_timeout_seconds)?,
        structured_verdict: raw.codex.structured_verdict,
        models_small: raw.codex.models.small,
        models_large: raw.codex.models.large,
        env,
    };
    let sn = raw.snapshot;
    if sn.max_depth == 0 || sn.max_entries == 0 {
        return Err(invalid(
            "snapshot.max_depth",
            "the tree caps must be at least 1".into(),
        ));
    }
    let snapshot = SnapshotConfig {
        max_depth: sn.max_depth,
        max_entries: sn.max_entries,
        excerpt_chars: sn.excerpt_chars,
        readme_chars: sn.readme_chars,
        max_file_bytes: sn.max_file_bytes,
        max_total_bytes: sn.max_total_bytes,
        change_lines: sn.change_lines,
        timeout: seconds("snapshot.timeout_seconds", sn.timeout_seconds)?,
    };
    let prompt = PromptConfig {
        prev_run_max_chars: raw.prompt.prev_run_max_chars,
        template: doc("prompt.template", &raw.prompt.template)?,
        summary_template: raw
            .prompt
            .summary_template
            .as_deref()
            .map(|v| doc("prompt.summary_template", v))
            .transpose()?,
    };
    let n = raw.notifications;
    let enabled = match &n.enabled {
        serde_yaml::Value::Bool(true) => Enabled::On,
        serde_yaml::Value::Bool(false) => Enabled::Off,
        serde_yaml::Value::Null => Enabled::Auto,
        serde_yaml::Value::String(s) if s == "auto" => Enabled::Auto,
        other => {
            return Err(invalid(
                "notifications.enabled",
                format!("{other:?} is not true, false or auto"),
            ));
        }
    };
    // A list written for the Python program (it names run_error or a TUI
    // event) keeps its meaning there: run_finished was "the loop completed",
    // run_error "a run failed". In car's own lists run_finished is one run.
    let python_list = n.events.iter().any(|e| {
        matches!(
            e.as_str(),
            "run_error" | "tui_idle" | "tui_session_finished"
        )
    });
    let mut events = Vec::new();
    for e in &n.events {
        let mapped: &[&str] = match e.as_str() {
            "all" => EVENT_CLASSES,
            "run_finished" if python_list => &["completed"],
            "run_error" => &["failed", "run_failed"],
            "tui_idle" | "tui_session_finished" => &[],
            other if EVENT_CLASSES.contains(&other) => &[],
            other => {
                return Err(invalid(
                    "notifications.events",
                    format!(
                        "unknown event `{other}`; known: {}",
                        EVENT_CLASSES.join(", ")
                    ),
                ));
            }
        };
        if mapped.is_empty() && EVENT_CLASSES.contains(&e.as_str()) {
            events.push(e.clone());
        }
        events.extend(mapped.iter().map(|s| s.to_string()));
    }
    // A question for a person is never silent.
    if !events.iter().any(|e| e == "needs_input") {
        events.push("needs_input".into());
    }
    let quiet_hours = match n.quiet_hours.as_deref() {
        None | Some("") => None,
        Some(q) => Some(parse_quiet_hours(q).ok_or_else(|| {
            invalid(
                "notifications.quiet_hours",
                format!("`{q}` is not HH:MM-HH:MM, e.g. 22:00-07:00"),
            )
        })?),
    };
    let notifications = NotifyConfig {
        enabled,
        events,
        throttle: seconds("notifications.throttle_seconds", n.throttle_seconds)?,
        quiet_hours,
        escalate_after: n
            .escalate_after_seconds
            .map(|v| seconds("notifications.escalate_after_seconds", v))
            .transpose()?,
        timeout: seconds("notifications.timeout_seconds", n.timeout_seconds)?,
        retries: n.retries,
        ntfy: NtfyConfig {
            enabled: n.ntfy.enabled,
            server: n.ntfy.server.trim_end_matches('/').to_string(),
            topic_env: n.ntfy.topic_env,
            token_env: n.ntfy.token_env,
        },
        telegram: TelegramConfig {
            enabled: n.telegram.enabled,
            api_base: n.telegram.api_base.trim_end_matches('/').to_string(),
            bot_token_env: n.telegram.bot_token_env,
            chat_id_env: n.telegram.chat_id_env,
            thread_id_env: n.telegram.thread_id_env,
            thread_id: n.telegram.thread_id,
            thread_id_map: n.telegram.thread_id_map,
        },
        discord: DiscordConfig {
            enabled: n.discord.enabled,
            webhook_url_env: n.discord.webhook_url_env,
        },
        webhook: WebhookConfig {
            enabled: n.webhook.enabled,
            url_env: n.webhook.url_env,
        },
    };
    let mut server = raw.server;
    server.base_path = normalize_base_path(&server.base_path);
    Ok(Config {
        root: root.clone(),
        docs,
        codex,
        prompt,
        runner,
        git: raw.git,
        server,
        events: raw.events,
        snapshot,
        notifications,
    })
}

/// Resolves `value` against `root` and returns it only if it stays inside.
fn inside_root(root: &Path, value: &str) -> Option<PathBuf> {
    let p = normalize_under(root, Path::new(value));
    p.starts_with(root).then_some(p)
}

/// Normalises a base path to `""` or `/x` without a trailing slash.
fn normalize_base_path(p: &str) -> String {
    let t = p.trim().trim_matches('/');
    if t.is_empty() {
        String::new()
    } else {
        format!("/{t}")
    }
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
