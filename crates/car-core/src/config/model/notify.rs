//! `notifications.*`: whether and where car tells a person, and the
//! reading and checking of that section.

use std::time::Duration;

use serde::Serialize;

use crate::config::ConfigError;
use crate::config::reader::{Reader, Secs, describe, yaml11_bool};

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
    /// `notifications.ntfy.actions`: a question's notification carries
    /// Answer, Resume and Stop buttons (with `server.public_url`).
    pub actions: bool,
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

/// `notifications.*`.
pub(super) fn notify(r: &mut Reader<'_>) -> Result<NotifyConfig, ConfigError> {
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
            actions: r.flag("notifications.ntfy.actions")?,
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
