//! What sessions need from Telegram: a chat to send to, edit in and attach
//! documents to ([`ChatIo`]), and which chat (or forum topic) is meant
//! ([`ChatKey`]).

use serde::{Deserialize, Serialize};

/// A Telegram message's id in its chat.
pub type MessageId = i64;

/// The longest text message Telegram takes, in UTF-16 code units (what its
/// length limit counts).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// A chat, or one forum topic of a chat: each has a conversation and a
/// queue of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChatKey {
    /// Telegram's `chat.id`.
    pub chat_id: i64,
    /// The forum topic (`message_thread_id`), when the chat is a forum.
    #[serde(default)]
    pub thread_id: Option<i64>,
}

impl ChatKey {
    /// A chat without topics.
    pub fn chat(chat_id: i64) -> Self {
        Self {
            chat_id,
            thread_id: None,
        }
    }

    /// A forum topic of a chat.
    pub fn topic(chat_id: i64, thread_id: i64) -> Self {
        Self {
            chat_id,
            thread_id: Some(thread_id),
        }
    }
}

impl std::fmt::Display for ChatKey {
    /// `123` for a chat, `123/7` for topic 7 of chat 123.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.thread_id {
            Some(t) => write!(f, "{}/{t}", self.chat_id),
            None => write!(f, "{}", self.chat_id),
        }
    }
}

/// A chat call that failed, in the chat client's words (say, Telegram's
/// `description`, or why the API could not be reached).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChatError(pub String);

/// What sessions need from a chat client (the bot implements it with its
/// Bot API client).
///
/// The calls are blocking: the sessions make them from threads of their
/// own, never from the thread that calls [`super::Sessions`]' methods, so
/// an implementation may take its time (retry after a 429's `retry_after`,
/// say). Texts are plain text (no `parse_mode`), at most
/// [`MAX_MESSAGE_LEN`] UTF-16 code units long; a message goes to the
/// chat's topic when the [`ChatKey`] has one. Edits of one message come at
/// least a second apart.
pub trait ChatIo: Send + Sync + 'static {
    /// Sends `text` to `chat` (`sendMessage`); returns the new message's id.
    fn send(&self, chat: ChatKey, text: &str) -> Result<MessageId, ChatError>;

    /// Replaces the text of message `message` in `chat` (`editMessageText`).
    fn edit(&self, chat: ChatKey, message: MessageId, text: &str) -> Result<(), ChatError>;

    /// Sends `bytes` as a document named `name` with `caption` (at most
    /// 1024 characters) to `chat` (`sendDocument`); returns its message id.
    fn send_document(
        &self,
        chat: ChatKey,
        name: &str,
        bytes: &[u8],
        caption: &str,
    ) -> Result<MessageId, ChatError>;
}

/// The length of `text` as Telegram counts it (UTF-16 code units).
pub(super) fn telegram_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` cut to at most `max` UTF-16 code units, with `…` at the end when
/// something was cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    if telegram_len(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut len = 0;
    for c in text.chars() {
        if len + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        len += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_key_reads_as_chat_or_chat_and_topic() {
        assert_eq!(ChatKey::chat(-100).to_string(), "-100");
        assert_eq!(ChatKey::topic(-100, 7).to_string(), "-100/7");
    }

    #[test]
    fn lengths_count_utf16_units_and_cuts_stay_within_them() {
        assert_eq!(telegram_len("abc"), 3);
        assert_eq!(telegram_len("😀"), 2, "outside the BMP: two units");
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdef", 4), "abc…");
        let emoji = "😀".repeat(10);
        let c = cut(&emoji, 5);
        assert!(telegram_len(&c) <= 5, "{c}");
        assert_eq!(c, "😀😀…");
    }
}
