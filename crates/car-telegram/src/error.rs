//! The bot's errors: each names what to fix (the key, the variable, the file).

use std::path::PathBuf;

/// What stops the bot, or one of its requests.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// `telegram_bot.enabled` is false.
    #[error("the Telegram bot is disabled: set telegram_bot.enabled: true in the configuration")]
    Disabled,
    /// A setting is missing or wrong.
    #[error("{key}: {message}")]
    Config {
        /// The key or environment variable.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// Another bot holds the lock for this token.
    #[error(
        "another Telegram bot runs with this token (pid {pid}; lock {}); stop it first",
        path.display()
    )]
    AlreadyRunning {
        /// The holder's pid (0 when it cannot be read).
        pid: u32,
        /// The lock file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    File {
        /// What was done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The Bot API answered with an error.
    #[error("Telegram {method} failed: {description} (HTTP {status})")]
    Api {
        /// The method called.
        method: String,
        /// The HTTP status.
        status: u16,
        /// Telegram's description.
        description: String,
    },
    /// The Bot API could not be reached.
    #[error("cannot reach the Telegram Bot API at {api_base} ({method}): {message}")]
    Unreachable {
        /// The base URL (never the token).
        api_base: String,
        /// The method called.
        method: String,
        /// Why.
        message: String,
    },
    /// car-core failed.
    #[error(transparent)]
    Core(Box<car_core::Error>),
    /// The hub failed.
    #[error(transparent)]
    Hub(Box<car_core::HubError>),
    /// The interactive sessions' state could not be read or written.
    #[error(transparent)]
    Sessions(#[from] crate::session::SessionError),
}

impl From<car_core::Error> for TelegramError {
    fn from(e: car_core::Error) -> Self {
        Self::Core(Box::new(e))
    }
}

impl From<car_core::HubError> for TelegramError {
    fn from(e: car_core::HubError) -> Self {
        Self::Hub(Box::new(e))
    }
}
