//! The agent's environment, explicit: the caller's environment without
//! car's own variables, PATH as car resolved it, then `codex.env`.
//!
//! car's own variables are every `CAR_*` variable (configuration overrides,
//! the log level, notification secrets) and every variable the
//! configuration names as a secret source (`notifications.*.*_env`,
//! `telegram_bot.bot_token_env`, `telegram_bot.chat_id_env`,
//! `server.auth_token_env`, `voice.api_key_env` unless it is the model's
//! own `OPENAI_API_KEY`), whatever its name. A prompt-injected agent
//! must not read a bot token or a webhook URL it could post to. Everything
//! else passes through: `HOME`, `CODEX_HOME`, the model's API key
//! (`OPENAI_API_KEY`, a provider's `env_key`), proxies, the locale.
//! `codex.env` is applied last, so it can set (or give back) any variable.

use std::collections::BTreeSet;
use std::ffi::OsString;

use crate::config::Config;

/// The prefix of car's own variables.
const CAR_PREFIX: &str = "CAR_";
/// The model's API key, which Codex reads.
const MODEL_KEY: &str = "OPENAI_API_KEY";

impl Config {
    /// The environment variables this configuration names as holding
    /// secrets (the notification providers' `*_env` keys, the Telegram
    /// bot's `telegram_bot.bot_token_env` and `chat_id_env`,
    /// `server.auth_token_env`, and `voice.api_key_env` when it is not the
    /// model's own `OPENAI_API_KEY`), sorted, without empty names.
    pub fn secret_env_vars(&self) -> Vec<String> {
        let n = &self.notifications;
        let bot = &self.telegram_bot;
        // Codex needs OPENAI_API_KEY: a voice key of that name is the model's.
        let voice = Some(&self.voice.api_key_env).filter(|k| k.as_str() != MODEL_KEY);
        let names = [
            Some(&n.ntfy.topic_env),
            Some(&n.ntfy.token_env),
            Some(&n.telegram.bot_token_env),
            Some(&n.telegram.chat_id_env),
            n.telegram.thread_id_env.as_ref(),
            Some(&n.discord.webhook_url_env),
            Some(&n.webhook.url_env),
            Some(&bot.bot_token_env),
            Some(&bot.chat_id_env),
            Some(&self.server.auth_token_env),
            voice,
        ];
        names
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Returns whether `name` is one of car's own variables, kept from the agent.
pub(crate) fn is_car_own(name: &OsString, secrets: &[String]) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with(CAR_PREFIX) || secrets.iter().any(|s| s == n))
}

/// The agent's environment from `base` (the caller's): car's own variables
/// removed, `PATH` set to `path`, then `codex.env` applied.
pub(crate) fn compute(
    cfg: &Config,
    base: impl IntoIterator<Item = (OsString, OsString)>,
    path: OsString,
) -> Vec<(OsString, OsString)> {
    let secrets = cfg.secret_env_vars();
    let mut env: Vec<(OsString, OsString)> = base
        .into_iter()
        .filter(|(k, _)| k != "PATH" && !is_car_own(k, &secrets))
        .collect();
    env.push(("PATH".into(), path));
    for (k, v) in &cfg.codex.env {
        env.retain(|(name, _)| name != k.as_str());
        env.push((k.into(), v.into()));
    }
    env.sort();
    env
}

/// The agent's environment, from this process's environment.
pub(crate) fn for_agent(cfg: &Config, path: OsString) -> Vec<(OsString, OsString)> {
    compute(cfg, std::env::vars_os(), path)
}

/// Checks a `codex.env` name: a portable environment variable name
/// (`[A-Za-z_][A-Za-z0-9_]*`); returns what is wrong.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load};
    use crate::paths::RepoPaths;

    fn config(yaml: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".codex-autorunner")).unwrap();
        std::fs::write(dir.path().join(".codex-autorunner/config.yml"), yaml).unwrap();
        load(&RepoPaths::new(dir.path()), &LoadOptions::default())
            .unwrap()
            .config
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn secrets_and_car_variables_are_removed_and_codex_env_added() {
        let cfg = config(
            "version: 2\nmode: repo\ncodex:\n  env:\n    RUST_LOG: warn\n    HOME: /agent-home\nnotifications:\n  webhook:\n    url_env: MY_HOOK\nserver:\n  auth_token_env: SERVE_TOKEN\ntelegram_bot:\n  bot_token_env: MY_BOT_TOKEN\n  chat_id_env: MY_BOT_CHAT\nvoice:\n  api_key_env: MY_VOICE_KEY\n",
        );
        let base = vars(&[
            ("HOME", "/home/me"),
            ("CODEX_HOME", "/home/me/.codex"),
            ("OPENAI_API_KEY", "sk-model"),
            ("PATH", "/old"),
            ("CAR_TELEGRAM_BOT_TOKEN", "tg"),
            ("CAR_NTFY_TOKEN", "tk"),
            ("CAR_RUNNER__SLEEP_SECONDS", "3"),
            ("MY_HOOK", "https://hook"),
            ("SERVE_TOKEN", "bearer"),
            ("MY_BOT_TOKEN", "123:abc"),
            ("MY_BOT_CHAT", "42"),
            ("MY_VOICE_KEY", "sk-voice"),
        ]);
        let env = compute(&cfg, base, "/new:/bin".into());
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_str().unwrap())
        };
        assert_eq!(get("CODEX_HOME"), Some("/home/me/.codex"));
        assert_eq!(get("OPENAI_API_KEY"), Some("sk-model"));
        assert_eq!(get("PATH"), Some("/new:/bin"));
        assert_eq!(get("RUST_LOG"), Some("warn"));
        assert_eq!(get("HOME"), Some("/agent-home"), "codex.env wins");
        for gone in [
            "CAR_TELEGRAM_BOT_TOKEN",
            "CAR_NTFY_TOKEN",
            "CAR_RUNNER__SLEEP_SECONDS",
            "MY_HOOK",
            "SERVE_TOKEN",
            "MY_BOT_TOKEN",
            "MY_BOT_CHAT",
            "MY_VOICE_KEY",
        ] {
            assert_eq!(get(gone), None, "{gone} must not reach the agent");
        }
        assert_eq!(
            env.iter().filter(|(n, _)| n == "HOME").count(),
            1,
            "one value per name"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("OPENAI_API_KEY").is_ok());
        assert!(check_name("_x1").is_ok());
        for bad in ["", "1A", "A-B", "A=B", "A B", "É"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
