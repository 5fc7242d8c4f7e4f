//! [`Settings`]: `telegram_bot.*` checked, with the token and the chat id
//! read from the environment variables the configuration names.

use std::path::PathBuf;
use std::time::Duration;

use car_core::TelegramBotConfig;

use crate::allow::AllowList;
use crate::error::TelegramError;

/// What the bot runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Bot API base URL.
    pub api_base: String,
    /// The token (never printed).
    pub token: String,
    /// Who is answered.
    pub allow: AllowList,
    /// The long poll's timeout.
    pub poll_timeout: Duration,
    /// The state file.
    pub state_file: PathBuf,
}

impl Settings {
    /// Checks `cfg` and reads its variables with `env` (a name → value
    /// lookup, `std::env::var` in the program). Errors name the key or
    /// the variable.
    pub fn from_config(
        cfg: &TelegramBotConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TelegramError> {
        if !cfg.enabled {
            return Err(TelegramError::Disabled);
        }
        let token = env(&cfg.bot_token_env)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| TelegramError::Config {
                key: cfg.bot_token_env.clone(),
                message: format!(
                    "the environment variable is not set; put the token from @BotFather in it (telegram_bot.bot_token_env names {})",
                    cfg.bot_token_env
                ),
            })?;
        if token.contains(char::is_whitespace) || token.contains('/') {
            return Err(TelegramError::Config {
                key: cfg.bot_token_env.clone(),
                message: "does not hold a bot token (expected 123456:ABC...)".into(),
            });
        }
        let mut chats = cfg.allowed_chat_ids.clone();
        if let Some(v) = env(&cfg.chat_id_env).filter(|v| !v.trim().is_empty()) {
            let id = v.trim().parse::<i64>().map_err(|_| TelegramError::Config {
                key: cfg.chat_id_env.clone(),
                message: format!("is `{}`; expected a chat id (a whole number)", v.trim()),
            })?;
            if !chats.contains(&id) {
                chats.push(id);
            }
        }
        if chats.is_empty() {
            return Err(TelegramError::Config {
                key: "telegram_bot.allowed_chat_ids".into(),
                message: format!(
                    "no allowed chat ids configured (set it, or {}); send /ids to the bot to learn them",
                    cfg.chat_id_env
                ),
            });
        }
        if cfg.allowed_user_ids.is_empty() {
            return Err(TelegramError::Config {
                key: "telegram_bot.allowed_user_ids".into(),
                message: "no allowed user ids configured; send /ids to the bot to learn yours"
                    .into(),
            });
        }
        Ok(Self {
            api_base: cfg.api_base.clone(),
            token,
            allow: AllowList {
                chats,
                users: cfg.allowed_user_ids.clone(),
                require_topics: cfg.require_topics,
            },
            poll_timeout: cfg.poll_timeout,
            state_file: cfg.state_file.clone(),
        })
    }
}
