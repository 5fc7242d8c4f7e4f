//! The bot's state file (`telegram_bot.state_file`): the next update to
//! ask for, the chats' bindings and the questions posted. It is written
//! atomically after every change, so a restart neither loses nor replays
//! an update and never posts a question twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TelegramError;

/// What the state file holds. Unknown fields (an older or the Python
/// program's file) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotState {
    /// The `offset` of the next `getUpdates`: the last update handled plus 1.
    pub offset: i64,
    /// The repository each chat (`chat` or `chat:topic`) is bound to.
    pub bindings: BTreeMap<String, String>,
    /// The questions posted, oldest first.
    pub questions: Vec<PostedQuestion>,
}

/// A question of a loop posted to a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedQuestion {
    /// The chat key (`chat` or `chat:topic`).
    pub chat: String,
    /// The repository id.
    pub repo: String,
    /// The run that asked.
    pub run_id: u64,
    /// When it asked (with the run, what identifies the question).
    pub asked_at: String,
    /// The message with the question and its buttons.
    pub message_id: i64,
    /// Other messages whose replies answer it (the "Reply" prompt).
    #[serde(default)]
    pub reply_targets: Vec<i64>,
    /// Whether it was answered or dismissed from the chat.
    #[serde(default)]
    pub closed: bool,
}

/// The most questions kept in the file (the oldest are forgotten).
const KEEP_QUESTIONS: usize = 200;

/// The state file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    state: BotState,
}

impl Store {
    /// Reads the state file at `path` (a missing one is an empty state; an
    /// unreadable one is an error naming it, so nothing is replayed).
    pub fn open(path: &Path) -> Result<Self, TelegramError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TelegramError::File {
                what: "cannot read the bot state (fix or remove it)",
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BotState::default(),
            Err(source) => {
                return Err(TelegramError::File {
                    what: "cannot read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            state,
        })
    }

    /// The state.
    pub fn state(&self) -> &BotState {
        &self.state
    }

    /// Changes the state and writes it (atomically) when it changed.
    pub fn update<T>(&mut self, f: impl FnOnce(&mut BotState) -> T) -> Result<T, TelegramError> {
        let before = self.state.clone();
        let out = f(&mut self.state);
        if self.state.questions.len() > KEEP_QUESTIONS {
            let drop = self.state.questions.len() - KEEP_QUESTIONS;
            self.state.questions.drain(..drop);
        }
        if self.state != before {
            self.save()?;
        }
        Ok(out)
    }

    fn save(&self) -> Result<(), TelegramError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| TelegramError::File {
                what: "cannot create the directory of",
                path: self.path.clone(),
                source,
            })?;
        }
        let mut text = serde_json::to_string_pretty(&self.state).unwrap_or_default();
        text.push('\n');
        car_core::write_atomic(&self.path, text.as_bytes()).map_err(|e| TelegramError::File {
            what: "cannot write the bot state",
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_survives_a_reopen_and_a_missing_file_starts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.state().offset, 0);
        s.update(|st| {
            st.offset = 43;
            st.bindings.insert("-100:7".into(), "api".into());
        })
        .unwrap();
        let again = Store::open(&path).unwrap();
        assert_eq!(again.state().offset, 43);
        assert_eq!(again.state().bindings["-100:7"], "api");
        // No temporary file is left next to it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_it_and_a_foreign_one_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = Store::open(&path).unwrap_err().to_string();
        assert!(e.contains("state.json"), "{e}");
        std::fs::write(&path, r#"{"version": 3, "topics": {}}"#).unwrap();
        assert_eq!(Store::open(&path).unwrap().state(), &BotState::default());
    }
}
