//! The parts of the Bot API's objects the bot reads.

use serde::Deserialize;

/// One update of `getUpdates`.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    /// Its id: the next `offset` is the last one plus 1.
    pub update_id: i64,
    /// A new message.
    pub message: Option<Message>,
    /// An edited message (handled as a new one).
    pub edited_message: Option<Message>,
    /// A press on an inline button.
    pub callback_query: Option<CallbackQuery>,
}

/// A message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Its id in the chat.
    pub message_id: i64,
    /// The forum topic, when in one.
    pub message_thread_id: Option<i64>,
    /// Whether it was sent in a forum topic.
    #[serde(default)]
    pub is_topic_message: bool,
    /// Who sent it.
    pub from: Option<User>,
    /// Where.
    pub chat: Chat,
    /// Its text.
    pub text: Option<String>,
    /// The message it replies to.
    pub reply_to_message: Option<Box<Message>>,
}

impl Message {
    /// The forum topic it belongs to (not a plain reply thread).
    pub fn topic(&self) -> Option<i64> {
        self.message_thread_id.filter(|_| self.is_topic_message)
    }
}

/// A person or a bot.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The user id.
    pub id: i64,
    /// Their @name.
    pub username: Option<String>,
}

/// A chat.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    /// The chat id.
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A press on an inline button.
#[derive(Debug, Clone, Deserialize)]
pub struct CallbackQuery {
    /// Its id, for `answerCallbackQuery`.
    pub id: String,
    /// Who pressed.
    pub from: User,
    /// The message with the button.
    pub message: Option<Message>,
    /// The button's data.
    pub data: Option<String>,
}
