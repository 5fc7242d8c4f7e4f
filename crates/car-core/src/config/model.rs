//! The typed, validated configuration the engine uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::layers::ConfigSource;
use super::reader::{Reader, Secs, describe, yaml11_bool};
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

/// The most rotated ledger files kept (each is looked for by name).
const MAX_KEEP: u64 = 100;

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
    /// `server.public_url`: where people reach the server; links in notifications.
    pub public_url: Option<String>,
}

pub(super) fn build(r: &mut Reader<'_>, paths: &RepoPaths) -> Result<Config, ConfigError> {
    let version: u32 = r.whole("version", 0)?;
    if version != 2 {
        return Err(r.invalid(
            "version",
            format!("unsupported version {version}; expected 2"),
        ));
    }
    match r.string("mode")?.as_str() {
        "repo" => {}
        "hub" => {
            return Err(match r.source("mode") {
                ConfigSource::RootFile(path)
                | ConfigSource::OverrideFile(path)
                | ConfigSource::RepoFile(path) => ConfigError::HubMode { path },
                // Set by a variable or flag: name that, not a file.
                _ => r.invalid(
                    "mode",
                    "is `hub` (a directory of repositories); expected `repo` for this command",
                ),
            });
        }
        other => {
            return Err(r.invalid("mode", format!("is `{other}`; expected `repo` or `hub`")));
        }
    }
    let root = &paths.root;
    let doc = |r: &Reader<'_>, key: &str| -> Result<PathBuf, ConfigError> {
        let value = r.string(key)?;
        doc_path(r, root, key, &value)
    };
    let docs = DocsConfig {
        todo: doc(r, "docs.todo")?,
        progress: doc(r, "docs.progress")?,
        opinions: doc(r, "docs.opinions")?,
        spec: doc(r, "docs.spec")?,
        summary: doc(r, "docs.summary")?,
        snapshot: doc(r, "docs.snapshot")?,
        snapshot_state: doc(r, "docs.snapshot_state")?,
    };
    let binary = r.string("codex.binary")?;
    if binary.trim().is_empty() {
        return Err(r.invalid(
            "codex.binary",
            "is empty; expected the name or path of the agent program",
        ));
    }
    let stop_after_runs = r.opt_whole("runner.stop_after_runs", 1)?;
    let runner = RunnerConfig {
        sleep: r.seconds("runner.sleep_seconds")?,
        stop_after_runs,
        max_wallclock: r.opt_seconds("runner.max_wallclock_seconds", Secs::Any)?,
        max_consecutive_failures: r.whole("runner.max_consecutive_failures", 1)?,
        no_progress_runs: r.whole("runner.no_progress_runs", 0)?,
        kill_grace: r.seconds("runner.kill_grace_seconds")?,
        max_tokens: r.opt_whole("runner.max_tokens", 0)?,
        quota_wait_max: r.seconds("runner.quota_wait_max_seconds")?,
        quota_retry: r.seconds("runner.quota_retry_seconds")?,
        transient_retries: r.whole("runner.transient_retries", 0)?,
        transient_backoff: r.seconds("runner.transient_backoff_seconds")?,
    };
    let env = r.string_map("codex.env")?;
    for (name, value) in &env {
        let key = format!("codex.env.{name}");
        crate::agent_env::check_name(name).map_err(|m| r.invalid(&key, m))?;
        if value.contains('\0') {
            return Err(r.invalid(&key, "contains a NUL byte; expected text without one"));
        }
    }
    let codex = CodexConfig {
        binary,
        args: r.strings("codex.args")?,
        terminal_args: r.strings("codex.terminal_args")?,
        model: r.opt_string("codex.model")?,
        reasoning: r.opt_string("codex.reasoning")?,
        idle_timeout: r.opt_seconds("codex.idle_timeout_seconds", Secs::Positive)?,
        run_timeout: r.opt_seconds("codex.run_timeout_seconds", Secs::Positive)?,
        structured_verdict: r.flag("codex.structured_verdict")?,
        models_small: r.opt_string("codex.models.small")?,
        models_large: r.opt_string("codex.models.large")?,
        env,
    };
    let snapshot = SnapshotConfig {
        max_depth: r.whole("snapshot.max_depth", 1)?,
        max_entries: r.whole("snapshot.max_entries", 1)?,
        excerpt_chars: r.whole("snapshot.excerpt_chars", 0)?,
        readme_chars: r.whole("snapshot.readme_chars", 0)?,
        max_file_bytes: r.whole("snapshot.max_file_bytes", 0)?,
        max_total_bytes: r.whole("snapshot.max_total_bytes", 0)?,
        change_lines: r.whole("snapshot.change_lines", 0)?,
        timeout: r.seconds("snapshot.timeout_seconds")?,
    };
    let summary_template = match r.opt_string("prompt.summary_template")? {
        Some(v) => Some(doc_path(r, root, "prompt.summary_template", &v)?),
        None => None,
    };
    let prompt = PromptConfig {
        prev_run_max_chars: r.whole("prompt.prev_run_max_chars", 0)?,
        template: doc(r, "prompt.template")?,
        summary_template,
    };
    let notifications = notify(r)?;
    let server = ServerConfig {
        host: r.string("server.host")?,
        port: r.whole("server.port", 0)?,
        base_path: normalize_base_path(&r.string("server.base_path")?),
        access_log: r.flag("server.access_log")?,
        auth_token_env: r.string("server.auth_token_env")?,
        allowed_hosts: r.strings("server.allowed_hosts")?,
        allowed_origins: r.strings("server.allowed_origins")?,
        public_url: r.opt_string("server.public_url")?,
    };
    let git = GitConfig {
        auto_commit: r.flag("git.auto_commit")?,
        commit_message_template: r.string("git.commit_message_template")?,
    };
    let events = EventsConfig {
        max_bytes: r.whole("events.max_bytes", 0)?,
        keep: r.whole_in("events.keep", 0, MAX_KEEP)?,
    };
    Ok(Config {
        root: root.clone(),
        docs,
        codex,
        prompt,
        runner,
        git,
        server,
        events,
        snapshot,
        notifications,
    })
}

/// A doc path: non-empty and inside the repository.
fn doc_path(r: &Reader<'_>, root: &Path, key: &str, value: &str) -> Result<PathBuf, ConfigError> {
    if value.trim().is_empty() {
        return Err(r.invalid(key, "is empty; expected a path inside the repository"));
    }
    inside_root(root, value).ok_or_else(|| {
        r.invalid(
            key,
            format!(
                "path `{value}` is outside the repository {}; expected a path inside it",
                root.display()
            ),
        )
    })
}

/// `notifications.*`.
fn notify(r: &mut Reader<'_>) -> Result<NotifyConfig, ConfigError> {
    let enabled = match r.value("notifications.enabled")? {
        serde_yaml::Value::Bool(true) => Enabled::On,
        serde_yaml::Value::Bool(false) => Enabled::Off,
        serde_yaml::Value::Null => Enabled::Auto,
        serde_yaml::Value::String(s) if s == "auto" => Enabled::Auto,
        serde_yaml::Value::String(s) if yaml11_bool(s).is_some() => {
            let on = yaml11_bool(s) == Some(true);
            let s = s.clone();
            r.yaml11_warning("notifications.enabled", &s, on);
            if on { Enabled::On } else { Enabled::Off }
        }
        other => {
            return Err(r.invalid(
                "notifications.enabled",
                format!("is {}; expected true, false or auto", describe(other)),
            ));
        }
    };
    let listed = r.strings("notifications.events")?;
    // A list written for the Python program (it names run_error or a TUI
    // event) keeps its meaning there: run_finished was "the loop completed",
    // run_error "a run failed". In car's own lists run_finished is one run.
    let python_list = listed.iter().any(|e| {
        matches!(
            e.as_str(),
            "run_error" | "tui_idle" | "tui_session_finished"
        )
    });
    let mut events = Vec::new();
    for e in &listed {
        let mapped: &[&str] = match e.as_str() {
            "all" => EVENT_CLASSES,
            "run_finished" if python_list => &["completed"],
            "run_error" => &["failed", "run_failed"],
            "tui_idle" | "tui_session_finished" => &[],
            other if EVENT_CLASSES.contains(&other) => &[],
            other => {
                return Err(r.invalid(
                    "notifications.events",
                    format!(
                        "unknown event `{other}`; expected a list of: all, {}",
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
    let quiet_hours = match r.opt_string("notifications.quiet_hours")?.as_deref() {
        None | Some("") => None,
        Some(q) => Some(parse_quiet_hours(q).ok_or_else(|| {
            r.invalid(
                "notifications.quiet_hours",
                format!("is `{q}`; expected a string HH:MM-HH:MM, e.g. \"22:00-07:00\""),
            )
        })?),
    };
    Ok(NotifyConfig {
        enabled,
        events,
        throttle: r.seconds("notifications.throttle_seconds")?,
        quiet_hours,
        escalate_after: r.opt_seconds("notifications.escalate_after_seconds", Secs::Any)?,
        timeout: r.seconds("notifications.timeout_seconds")?,
        retries: r.whole("notifications.retries", 0)?,
        ntfy: NtfyConfig {
            enabled: r.opt_flag("notifications.ntfy.enabled")?,
            server: r
                .string("notifications.ntfy.server")?
                .trim_end_matches('/')
                .to_string(),
            topic_env: r.string("notifications.ntfy.topic_env")?,
            token_env: r.string("notifications.ntfy.token_env")?,
        },
        telegram: TelegramConfig {
            enabled: r.opt_flag("notifications.telegram.enabled")?,
            api_base: r
                .string("notifications.telegram.api_base")?
                .trim_end_matches('/')
                .to_string(),
            bot_token_env: r.string("notifications.telegram.bot_token_env")?,
            chat_id_env: r.string("notifications.telegram.chat_id_env")?,
            thread_id_env: r.opt_string("notifications.telegram.thread_id_env")?,
            thread_id: r.opt_int("notifications.telegram.thread_id")?,
            thread_id_map: r.int_map("notifications.telegram.thread_id_map")?,
        },
        discord: DiscordConfig {
            enabled: r.opt_flag("notifications.discord.enabled")?,
            webhook_url_env: r.string("notifications.discord.webhook_url_env")?,
        },
        webhook: WebhookConfig {
            enabled: r.opt_flag("notifications.webhook.enabled")?,
            url_env: r.string("notifications.webhook.url_env")?,
        },
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
