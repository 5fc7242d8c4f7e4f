//! Plain text in a chat with no open question: a turn of the chat's
//! interactive Codex session (see [`crate::session`]) in the repository
//! the chat is bound to.

use crate::api::Dest;
use crate::bot::Bot;
use crate::error::TelegramError;
use crate::session_io::key;

/// Handles plain text from an allowed person when no question is open.
pub(crate) fn plain_text(
    bot: &Bot,
    dest: Dest,
    bound_repo: Option<&str>,
    text: &str,
    message_id: i64,
) -> Result<(), TelegramError> {
    let Some(id) = bound_repo else {
        bot.api.send_text(
            dest,
            "This chat is not bound to a repository: send /bind first, then write to talk to the agent there.",
            &[],
            Some(message_id),
        )?;
        return Ok(());
    };
    let repo = bot.ws.repo(id)?;
    // The sessions tell the chat when the message waits for a turn.
    bot.sessions.on_text(key(dest), repo.root(), text);
    Ok(())
}

/// `/interrupt`: cancels the turn at work in this chat.
pub(crate) fn interrupt(bot: &Bot, dest: Dest, message_id: i64) -> Result<(), TelegramError> {
    // When nothing runs, the sessions tell the chat so themselves.
    if bot.sessions.interrupt(key(dest)) {
        bot.api.send_text(
            dest,
            "Interrupting the turn at work: its agent is being stopped.",
            &[],
            Some(message_id),
        )?;
    }
    Ok(())
}

/// `/new`: the next message starts a new conversation.
pub(crate) fn new_conversation(
    bot: &Bot,
    dest: Dest,
    message_id: i64,
) -> Result<(), TelegramError> {
    let text = if bot.sessions.reset(key(dest)) {
        "The conversation is closed: your next message starts a new one."
    } else {
        "There is no conversation here yet: your next message starts one."
    };
    bot.api.send_text(dest, text, &[], Some(message_id))?;
    Ok(())
}
