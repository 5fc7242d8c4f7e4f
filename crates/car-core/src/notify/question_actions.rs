//! The buttons of a question's ntfy notification: Answer (opens the
//! repository's page at its answer box), Resume and Stop (call the
//! server's `loop/resume` and `loop/stop` with an action token for this
//! repository that allows only those two, see [`crate::action_token`]).
//! They need `server.public_url`: without it the notification goes
//! without buttons.

use std::path::PathBuf;
use std::time::Duration;

use super::NotifyAction;
use crate::action_token::{ActionGrant, ActionKey, ActionScope, ActionTokenError};
use crate::config::Config;

/// What a question's buttons are made from.
#[derive(Debug, Clone)]
pub(crate) struct QuestionActions {
    /// `server.public_url`, without a trailing `/`.
    base: String,
    /// The repository's id in the server's URLs.
    repo_id: String,
    /// Where the token key is.
    key_dir: PathBuf,
    /// How long a token is good for.
    ttl: Duration,
}

/// Why a question has no buttons, for `car doctor`.
pub(crate) enum ButtonsOff {
    /// `notifications.ntfy.actions: false`.
    Disabled,
    /// No `server.public_url`.
    NoPublicUrl,
}

impl QuestionActions {
    /// The buttons' makings, or why there are none.
    pub(crate) fn from_config(config: &Config) -> Result<Self, ButtonsOff> {
        if !config.notifications.ntfy.actions {
            return Err(ButtonsOff::Disabled);
        }
        let base = config
            .server
            .public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/'))
            .filter(|u| !u.is_empty())
            .ok_or(ButtonsOff::NoPublicUrl)?;
        Ok(Self {
            base: base.to_string(),
            repo_id: crate::action_token::url_id(&config.root),
            key_dir: crate::action_token::key_dir(&config.root),
            ttl: config.server.action_token_ttl,
        })
    }

    /// The page the Answer button opens.
    pub(crate) fn answer_url(&self) -> String {
        format!("{}/repos/{}#answer", self.base, self.repo_id)
    }

    /// The buttons of a question asked at `now` (Unix seconds); the key is
    /// made on first use.
    pub(crate) fn buttons(&self, now: i64) -> Result<Vec<NotifyAction>, ActionTokenError> {
        let key = ActionKey::load_or_create(&self.key_dir)?;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let token = key.mint(&ActionGrant {
            repo: self.repo_id.clone(),
            scopes: vec![ActionScope::Resume, ActionScope::Stop],
            expires_at: now.saturating_add(ttl),
        });
        let api = format!("{}/api/v1/repos/{}/loop", self.base, self.repo_id);
        Ok(vec![
            NotifyAction::View {
                label: "Answer".into(),
                url: self.answer_url(),
            },
            NotifyAction::Post {
                label: "Resume".into(),
                url: format!("{api}/resume"),
                bearer: token.clone(),
            },
            NotifyAction::Post {
                label: "Stop".into(),
                url: format!("{api}/stop"),
                bearer: token,
            },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_gets_answer_resume_and_stop_for_its_repository() {
        let dir = tempfile::tempdir().unwrap();
        let qa = QuestionActions {
            base: "https://car.example/x".into(),
            repo_id: "demo".into(),
            key_dir: dir.path().to_path_buf(),
            ttl: Duration::from_secs(3600),
        };
        let b = qa.buttons(1_000).unwrap();
        assert_eq!(
            b[0],
            NotifyAction::View {
                label: "Answer".into(),
                url: "https://car.example/x/repos/demo#answer".into()
            }
        );
        let NotifyAction::Post { url, bearer, .. } = &b[1] else {
            panic!("{b:?}")
        };
        assert_eq!(url, "https://car.example/x/api/v1/repos/demo/loop/resume");
        let key = ActionKey::load(dir.path()).unwrap().unwrap();
        let grant = key.verify(bearer, 1_000).unwrap();
        assert_eq!(grant.repo, "demo");
        assert_eq!(grant.scopes, vec![ActionScope::Resume, ActionScope::Stop]);
        assert_eq!(grant.expires_at, 4_600);
        assert!(matches!(&b[2], NotifyAction::Post { url, .. } if url.ends_with("/loop/stop")));
        assert!(super::super::ntfy_actions_header(&b).unwrap().is_some());
    }
}
