//! One message for a person, and how urgent it is.

use serde::{Deserialize, Serialize};

/// How urgent a notification is (ntfy's 1-5 scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    /// 1.
    Min = 1,
    /// 2: no sound (Telegram `disable_notification`).
    Low = 2,
    /// 3.
    Default = 3,
    /// 4.
    High = 4,
    /// 5.
    Urgent = 5,
}

/// One message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// What it is about.
    pub class: super::NotifyClass,
    /// A one-line title.
    pub title: String,
    /// The body.
    pub body: String,
    /// How urgent.
    pub priority: Priority,
    /// ntfy tags (emoji names).
    pub tags: Vec<String>,
    /// A link to the run, when `server.public_url` is set.
    pub click: Option<String>,
    /// The repository's name.
    pub repo: String,
    /// The run concerned.
    pub run_id: Option<u64>,
    /// Buttons (ntfy's actions; other providers leave them out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<super::NotifyAction>,
}
