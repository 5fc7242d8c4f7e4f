//! Plain text in a chat with no open question: the place where
//! interactive Codex sessions (the `session` module) take it. Until they
//! are wired in, the bot says they are not available.

use crate::api::Dest;
use crate::bot::Bot;
use crate::error::TelegramError;

/// Handles plain text from an allowed person when no question is open.
pub(crate) fn plain_text(
    bot: &Bot,
    dest: Dest,
    _bound_repo: Option<&str>,
    _text: &str,
    message_id: i64,
) -> Result<(), TelegramError> {
    bot.api.send_text(
        dest,
        "Interactive sessions are not available in this bot yet. No question is open here; send /help for the commands.",
        &[],
        Some(message_id),
    )?;
    Ok(())
}
