//! Deny by default: a message is handled only when its chat is in
//! `allowed_chat_ids` AND its sender in `allowed_user_ids` (and, with
//! `require_topics`, a group message is in a forum topic). Anyone else
//! gets an answer to `/ids` only.

/// Who the bot answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// The chats.
    pub chats: Vec<i64>,
    /// The people.
    pub users: Vec<i64>,
    /// In groups, only forum topics.
    pub require_topics: bool,
}

impl AllowList {
    /// Whether a message from `user` in `chat` (in `topic`; `private` for a
    /// one-to-one chat) is handled.
    pub fn allows(&self, chat: i64, user: Option<i64>, topic: Option<i64>, private: bool) -> bool {
        let Some(user) = user else {
            return false;
        };
        self.chats.contains(&chat)
            && self.users.contains(&user)
            && (!self.require_topics || private || topic.is_some())
    }
}

/// The answer to `/ids`: the ids and the configuration lines that let them in.
pub fn ids_answer(chat: i64, user: Option<i64>, topic: Option<i64>) -> String {
    let user_line = user.map_or_else(|| "unknown".to_string(), |u| u.to_string());
    let mut text = format!("chat id: {chat}\nuser id: {user_line}\n");
    if let Some(t) = topic {
        text.push_str(&format!("topic id: {t}\n"));
    }
    text.push_str("\nTo let this chat and you in, add to the configuration:\n\ntelegram_bot:\n  enabled: true\n");
    text.push_str(&format!("  allowed_chat_ids: [{chat}]\n"));
    text.push_str(&format!("  allowed_user_ids: [{user_line}]\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(require_topics: bool) -> AllowList {
        AllowList {
            chats: vec![-100, 5],
            users: vec![7],
            require_topics,
        }
    }

    #[test]
    fn both_the_chat_and_the_user_must_be_listed() {
        let a = list(false);
        assert!(a.allows(-100, Some(7), None, false));
        assert!(!a.allows(-100, Some(8), None, false), "user not listed");
        assert!(!a.allows(-101, Some(7), None, false), "chat not listed");
        assert!(!a.allows(-100, None, None, false), "no sender");
        assert!(
            !AllowList::default().allows(-100, Some(7), None, false),
            "empty denies"
        );
    }

    #[test]
    fn require_topics_keeps_groups_to_forum_topics_but_not_private_chats() {
        let a = list(true);
        assert!(!a.allows(-100, Some(7), None, false));
        assert!(a.allows(-100, Some(7), Some(3), false));
        assert!(a.allows(5, Some(7), None, true));
    }

    #[test]
    fn the_ids_answer_gives_the_ids_and_the_lines_to_add() {
        let t = ids_answer(-100123, Some(42), Some(9));
        assert!(
            t.contains("chat id: -100123")
                && t.contains("user id: 42")
                && t.contains("topic id: 9")
        );
        assert!(t.contains("allowed_chat_ids: [-100123]") && t.contains("allowed_user_ids: [42]"));
    }
}
