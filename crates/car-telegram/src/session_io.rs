//! The sessions' chat ([`ChatIo`]) over the bot's Bot API client: plain
//! messages to the chat's topic, edits (the client keeps them a second
//! apart and waits out a 429's `retry_after`), documents.

use crate::api::{Api, Dest};
use crate::session::{ChatError, ChatIo, ChatKey, MessageId};

fn dest(chat: ChatKey) -> Dest {
    Dest {
        chat: chat.chat_id,
        topic: chat.thread_id,
    }
}

impl ChatIo for Api {
    fn send(&self, chat: ChatKey, text: &str) -> Result<MessageId, ChatError> {
        self.send_text(dest(chat), text, &[], None)
            .map_err(|e| ChatError(e.to_string()))
    }

    fn edit(&self, chat: ChatKey, message: MessageId, text: &str) -> Result<(), ChatError> {
        self.edit_text(chat.chat_id, message, text, &[])
            .map_err(|e| ChatError(e.to_string()))
    }

    fn send_document(
        &self,
        chat: ChatKey,
        name: &str,
        bytes: &[u8],
        caption: &str,
    ) -> Result<MessageId, ChatError> {
        Api::send_document(self, dest(chat), name, bytes, caption)
            .map_err(|e| ChatError(e.to_string()))
    }
}

/// The sessions' key of a chat (or forum topic).
pub(crate) fn key(d: Dest) -> ChatKey {
    match d.topic {
        Some(t) => ChatKey::topic(d.chat, t),
        None => ChatKey::chat(d.chat),
    }
}
