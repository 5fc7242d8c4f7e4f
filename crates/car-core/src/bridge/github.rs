//! A GitHub Actions event payload (`$GITHUB_EVENT_PATH`) of an
//! `issue_comment` or `issues` event: the text, who wrote it and how they
//! are associated with the repository.

use std::path::Path;

use serde_json::Value;

use super::BridgeError;

/// What the bridge reads of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubEvent {
    /// `issue_comment` or `issues`.
    pub kind: &'static str,
    /// The event's action (`created`, `opened`, `edited`...).
    pub action: String,
    /// The comment's (or the issue's) text.
    pub body: String,
    /// Its author's login.
    pub author: String,
    /// Its author's `author_association` (`OWNER`, `MEMBER`, `NONE`...).
    pub association: String,
    /// Whether its author is a bot (the bridge never answers one: its own
    /// comments hold `@codex` too).
    pub from_bot: bool,
    /// The issue (or pull request) number.
    pub issue: u64,
    /// Who caused the event (`sender.login`): for an edited issue, the
    /// editor, who may not be its author.
    pub sender: String,
    /// For an edited issue, whether its body changed (`changes.body`): a
    /// new title alone runs nothing again.
    pub body_changed: bool,
    /// `owner/name`, when the payload says.
    pub repository: Option<String>,
}

impl GithubEvent {
    /// Reads the payload at `path`.
    pub fn read(path: &Path) -> Result<Self, BridgeError> {
        let text = std::fs::read_to_string(path).map_err(|source| BridgeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| BridgeError::Payload {
            path: path.to_path_buf(),
            problem: format!("is not JSON: {e}"),
        })?;
        Self::from_value(&v).map_err(|problem| BridgeError::Payload {
            path: path.to_path_buf(),
            problem,
        })
    }

    /// Reads a parsed payload; the error says what is missing.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let issue = v
            .get("issue")
            .filter(|i| i.is_object())
            .ok_or("has no `issue`: expected an issue_comment or issues event")?;
        let (kind, item) = match v.get("comment").filter(|c| c.is_object()) {
            Some(c) => ("issue_comment", c),
            None => ("issues", issue),
        };
        let text = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let number = issue
            .get("number")
            .and_then(Value::as_u64)
            .ok_or("has no `issue.number`")?;
        let association = text(item, "author_association")
            .ok_or_else(|| format!("has no `{}.author_association`", item_name(kind)))?;
        let user = item.get("user").unwrap_or(&Value::Null);
        Ok(Self {
            kind,
            action: text(v, "action").unwrap_or_default(),
            // An issue opened without a description has a null body.
            body: text(item, "body").unwrap_or_default(),
            author: text(user, "login").unwrap_or_default(),
            association: association.to_ascii_uppercase(),
            from_bot: text(user, "type").as_deref() == Some("Bot"),
            issue: number,
            sender: v
                .get("sender")
                .and_then(|u| text(u, "login"))
                .unwrap_or_default(),
            body_changed: v.get("changes").and_then(|c| c.get("body")).is_some(),
            repository: v.get("repository").and_then(|r| text(r, "full_name")),
        })
    }
}

fn item_name(kind: &str) -> &'static str {
    if kind == "issue_comment" {
        "comment"
    } else {
        "issue"
    }
}
