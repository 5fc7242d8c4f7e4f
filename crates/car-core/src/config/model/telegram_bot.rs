//! `telegram_bot.*`: the interactive Telegram bot (`car telegram start`).
//! The keys are the Python program's, plus car's `api_base`; the token and
//! the chat id are read from environment variables named here, never
//! stored in the configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::config::ConfigError;
use crate::config::reader::{Reader, Secs};

/// `telegram_bot.*`.
#[derive(Debug, Clone, Serialize)]
pub struct TelegramBotConfig {
    /// `telegram_bot.enabled`: `car telegram start` refuses to start when false.
    pub enabled: bool,
    /// `telegram_bot.api_base`: the Bot API's base URL (no trailing slash).
    pub api_base: String,
    /// `telegram_bot.bot_token_env`: the variable holding the bot's token.
    pub bot_token_env: String,
    /// `telegram_bot.chat_id_env`: a variable whose chat id (when set) is
    /// added to the allowed chats.
    pub chat_id_env: String,
    /// `telegram_bot.allowed_chat_ids`: the chats answered.
    pub allowed_chat_ids: Vec<i64>,
    /// `telegram_bot.allowed_user_ids`: the people answered (in those chats).
    pub allowed_user_ids: Vec<i64>,
    /// `telegram_bot.require_topics`: in a group, only forum topics are answered.
    pub require_topics: bool,
    /// `telegram_bot.polling.timeout_seconds`: the long poll's timeout.
    pub poll_timeout: Duration,
    /// `telegram_bot.state_file`: the bot's state (offset, bindings, questions posted).
    pub state_file: PathBuf,
}

pub(super) fn telegram_bot(
    r: &mut Reader<'_>,
    root: &std::path::Path,
) -> Result<TelegramBotConfig, ConfigError> {
    let api_base = r
        .string("telegram_bot.api_base")?
        .trim()
        .trim_end_matches('/')
        .to_string();
    if !(api_base.starts_with("http://") || api_base.starts_with("https://"))
        || api_base.contains(char::is_whitespace)
    {
        return Err(r.invalid(
            "telegram_bot.api_base",
            format!("is `{api_base}`; expected an http:// or https:// URL such as https://api.telegram.org"),
        ));
    }
    let env_name = |r: &Reader<'_>, key: &str| -> Result<String, ConfigError> {
        let name = r.string(key)?;
        crate::agent_env::check_name(&name).map_err(|m| {
            r.invalid(
                key,
                format!("{m}; expected the name of an environment variable"),
            )
        })?;
        Ok(name)
    };
    let bot_token_env = env_name(r, "telegram_bot.bot_token_env")?;
    let chat_id_env = env_name(r, "telegram_bot.chat_id_env")?;
    let poll_timeout = r
        .opt_seconds("telegram_bot.polling.timeout_seconds", Secs::Any)?
        .unwrap_or(Duration::from_secs(30));
    if poll_timeout > Duration::from_secs(50) {
        return Err(r.invalid(
            "telegram_bot.polling.timeout_seconds",
            "is more than 50; expected 0 to 50 seconds (Telegram holds a long poll at most 50 s)",
        ));
    }
    let state = r.string("telegram_bot.state_file")?;
    if state.trim().is_empty() {
        return Err(r.invalid(
            "telegram_bot.state_file",
            "is empty; expected a file path (relative to the repository or hub root)",
        ));
    }
    let state_file = crate::fs_util::normalize_under(root, std::path::Path::new(state.trim()));
    Ok(TelegramBotConfig {
        enabled: r.flag("telegram_bot.enabled")?,
        api_base,
        bot_token_env,
        chat_id_env,
        allowed_chat_ids: r.ints("telegram_bot.allowed_chat_ids")?,
        allowed_user_ids: r.ints("telegram_bot.allowed_user_ids")?,
        require_topics: r.flag("telegram_bot.require_topics")?,
        poll_timeout,
        state_file,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, LoadOptions, load};
    use crate::paths::RepoPaths;

    fn load_yaml(yaml: &str) -> Result<crate::config::Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".codex-autorunner")).unwrap();
        std::fs::write(dir.path().join(".codex-autorunner/config.yml"), yaml).unwrap();
        load(&RepoPaths::new(dir.path()), &LoadOptions::default()).map(|l| l.config)
    }

    #[test]
    fn the_bot_is_off_by_default_and_reads_the_python_keys() {
        let t = load_yaml("version: 2\nmode: repo\n").unwrap().telegram_bot;
        assert!(!t.enabled);
        assert_eq!(t.api_base, "https://api.telegram.org");
        assert_eq!(t.bot_token_env, "CAR_TELEGRAM_BOT_TOKEN");
        assert!(t.allowed_chat_ids.is_empty() && t.allowed_user_ids.is_empty());
        assert_eq!(t.poll_timeout.as_secs(), 30);
        let t = load_yaml(
            "version: 2\nmode: repo\ntelegram_bot:\n  enabled: true\n  mode: polling\n  parse_mode: HTML\n  api_base: http://127.0.0.1:9/\n  allowed_chat_ids: [-1001, '42']\n  allowed_user_ids: [7]\n  polling:\n    timeout_seconds: 1\n    allowed_updates: [message]\n  media: {enabled: true}\n",
        )
        .unwrap()
        .telegram_bot;
        assert!(t.enabled);
        assert_eq!(t.api_base, "http://127.0.0.1:9");
        assert_eq!(t.allowed_chat_ids, vec![-1001, 42]);
        assert_eq!(t.allowed_user_ids, vec![7]);
        assert_eq!(t.poll_timeout.as_secs(), 1);
    }

    #[test]
    fn a_bad_bot_key_is_an_error_naming_it() {
        for (yaml, key) in [
            ("  api_base: ftp://x\n", "telegram_bot.api_base"),
            (
                "  allowed_chat_ids: [abc]\n",
                "telegram_bot.allowed_chat_ids",
            ),
            ("  allowed_user_ids: 5\n", "telegram_bot.allowed_user_ids"),
            ("  bot_token_env: 'A B'\n", "telegram_bot.bot_token_env"),
            (
                "  polling: {timeout_seconds: 90}\n",
                "telegram_bot.polling.timeout_seconds",
            ),
            ("  state_file: ''\n", "telegram_bot.state_file"),
        ] {
            let e = load_yaml(&format!("version: 2\nmode: repo\ntelegram_bot:\n{yaml}"))
                .err()
                .unwrap_or_else(|| panic!("{yaml} loaded"))
                .to_string();
            assert!(e.contains(key), "{yaml}: {e}");
        }
    }
}
