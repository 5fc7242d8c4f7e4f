//! The sessions' state on disk: which Codex task each chat talks to, the
//! turn in flight and the messages waiting, so a restarted bot continues
//! the conversations, follows the turns it left and runs what waited.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chat::{ChatKey, MessageId};
use super::error::SessionError;

/// The state's format version.
const VERSION: u32 = 1;

/// Every chat's session (the file the caller names, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The format's version (1).
    #[serde(default = "version")]
    pub version: u32,
    /// One entry per chat (or forum topic) that sent a message.
    #[serde(default)]
    pub chats: Vec<ChatSession>,
}

fn version() -> u32 {
    VERSION
}

/// One chat's conversation, turn in flight and queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSession {
    /// The chat (or topic).
    #[serde(flatten)]
    pub chat: ChatKey,
    /// The repository the conversation's task works in.
    #[serde(default)]
    pub repo: Option<PathBuf>,
    /// The conversation: the Codex task later messages reply to.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The turn being followed, while one is.
    #[serde(default)]
    pub in_flight: Option<InFlight>,
    /// Messages waiting for the turn in flight, oldest first.
    #[serde(default)]
    pub pending: Vec<Pending>,
}

/// A turn a chat waits for: its task, its number and the message showing
/// its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// The repository of the task.
    pub repo: PathBuf,
    /// The task.
    pub task_id: String,
    /// The turn (1 for the task's first).
    pub turn: u32,
    /// The progress message, once sent.
    #[serde(default)]
    pub progress_message: Option<MessageId>,
}

/// A message waiting for its turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The repository the chat was bound to when it came.
    pub repo: PathBuf,
    /// The message.
    pub text: String,
}

impl Default for SessionState {
    fn default() -> Self {
        Self {
            version: VERSION,
            chats: Vec::new(),
        }
    }
}

impl Default for ChatSession {
    fn default() -> Self {
        Self {
            chat: ChatKey::chat(0),
            repo: None,
            task_id: None,
            in_flight: None,
            pending: Vec::new(),
        }
    }
}

impl SessionState {
    /// Reads the state at `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(SessionError::StateRead {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let state: Self =
            serde_json::from_slice(&bytes).map_err(|e| SessionError::StateCorrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        if state.version != VERSION {
            return Err(SessionError::StateCorrupt {
                path: path.to_path_buf(),
                message: format!("version {} is not {VERSION}", state.version),
            });
        }
        Ok(state)
    }

    /// Writes the state to `path` atomically (a reader sees the old state
    /// or the new one, never half of it).
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        car_core::write_atomic(path, &bytes).map_err(SessionError::StateWrite)
    }

    /// The session of `chat`, if it has one.
    pub fn chat(&self, chat: ChatKey) -> Option<&ChatSession> {
        self.chats.iter().find(|c| c.chat == chat)
    }

    /// The session of `chat`, created empty if it has none.
    pub(super) fn chat_mut(&mut self, chat: ChatKey) -> &mut ChatSession {
        let i = match self.chats.iter().position(|c| c.chat == chat) {
            Some(i) => i,
            None => {
                self.chats.push(ChatSession {
                    chat,
                    ..ChatSession::default()
                });
                self.chats.len() - 1
            }
        };
        &mut self.chats[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_state_is_empty_and_a_saved_one_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.json");
        assert_eq!(
            SessionState::load(&path).expect("load"),
            SessionState::default()
        );
        let mut s = SessionState::default();
        let c = s.chat_mut(ChatKey::topic(-5, 3));
        c.repo = Some("/r".into());
        c.task_id = Some("t-1".into());
        c.in_flight = Some(InFlight {
            repo: "/r".into(),
            task_id: "t-1".into(),
            turn: 2,
            progress_message: Some(44),
        });
        c.pending.push(Pending {
            repo: "/r".into(),
            text: "next".into(),
        });
        s.chat_mut(ChatKey::chat(9));
        assert_eq!(s.chats.len(), 2);
        s.save(&path).expect("save");
        assert_eq!(SessionState::load(&path).expect("load"), s);
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(raw["chats"][0]["chat_id"], -5);
        assert_eq!(raw["chats"][0]["thread_id"], 3);
    }

    #[test]
    fn a_broken_state_names_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.json");
        std::fs::write(&path, "{not json").expect("write");
        let e = SessionState::load(&path).expect_err("broken");
        assert!(e.to_string().contains("sessions.json"), "{e}");
        std::fs::write(&path, r#"{"version": 7, "chats": []}"#).expect("write");
        let e = SessionState::load(&path).expect_err("future version");
        assert!(e.to_string().contains("version 7"), "{e}");
    }
}
