//! A hub's errors as answers, with the messages `car hub` and `car
//! worktree` print: an unknown id is 404; a refusal (work at risk, a loop
//! running, a disabled repository, a name taken) 409, or 400 when the
//! request itself is malformed (no name, a branch name git refuses); git
//! failing on the repository's state 409; the hub's own files unreadable 500.

use axum::http::StatusCode;
use car_core::HubError;

use crate::error::ApiError;

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        let message = e.to_string();
        match e {
            HubError::NotFound { .. } | HubError::UnknownRepo { .. } => {
                ApiError::not_found(message)
            }
            HubError::Refused(m) if is_bad_input(&m) => ApiError::bad_request(m),
            HubError::Refused(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            HubError::Git(_) => ApiError::new(StatusCode::CONFLICT, "git", message),
            HubError::Manifest { .. } | HubError::Config { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config", message)
            }
            HubError::Io(_) | HubError::Open { .. } | HubError::Init { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", message)
            }
        }
    }
}

/// Whether a refusal is about the request's own values.
fn is_bad_input(message: &str) -> bool {
    message == "a worktree needs a name" || message.ends_with("is not a valid branch name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ids_are_404_refusals_409_and_malformed_names_400() {
        let unknown = HubError::UnknownRepo {
            id: "x".into(),
            manifest: "/h/.codex-autorunner/manifest.yml".into(),
        };
        assert_eq!(ApiError::from(unknown).status(), StatusCode::NOT_FOUND);
        let risk = HubError::Refused("the worktree `a--b` holds 1 uncommitted change(s)".into());
        assert_eq!(ApiError::from(risk).status(), StatusCode::CONFLICT);
        let bad = HubError::Refused("`a..b` is not a valid branch name".into());
        assert_eq!(ApiError::from(bad).status(), StatusCode::BAD_REQUEST);
    }
}
