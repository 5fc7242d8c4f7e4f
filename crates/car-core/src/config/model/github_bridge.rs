//! `github_bridge.*`: the GitHub comment bridge (`car bridge github`),
//! which turns `@codex ...` comments into Codex tasks.

use serde::Serialize;

use crate::config::ConfigError;
use crate::config::reader::Reader;

/// The author associations GitHub reports on issues and comments.
pub(crate) const ASSOCIATIONS: [&str; 8] = [
    "OWNER",
    "MEMBER",
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIME_CONTRIBUTOR",
    "FIRST_TIMER",
    "MANNEQUIN",
    "NONE",
];

/// `github_bridge.*`.
#[derive(Debug, Clone, Serialize)]
pub struct GithubBridgeConfig {
    /// `github_bridge.allowed_associations`: whose comments are obeyed (by
    /// their `author_association`, upper case); others get a refusal.
    pub allowed_associations: Vec<String>,
}

pub(super) fn github_bridge(r: &mut Reader<'_>) -> Result<GithubBridgeConfig, ConfigError> {
    let key = "github_bridge.allowed_associations";
    let mut allowed = Vec::new();
    for a in r.strings(key)? {
        let up = a.trim().to_ascii_uppercase();
        if !ASSOCIATIONS.contains(&up.as_str()) {
            return Err(r.invalid(
                key,
                format!(
                    "holds `{a}`; expected GitHub author associations: {}",
                    ASSOCIATIONS.join(", ")
                ),
            ));
        }
        allowed.push(up);
    }
    Ok(GithubBridgeConfig {
        allowed_associations: allowed,
    })
}
