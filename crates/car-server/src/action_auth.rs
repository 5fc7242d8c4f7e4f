//! Action tokens (`car_act.<repo>.<scopes>.<expires>.<mac>`, see
//! [`car_core::action_token`]): the bearer token of a notification's
//! buttons. The one place that decides what such a token may do: only
//! `POST /api/v1/repos/{id}/reply`, `.../loop/resume` and `.../loop/stop`
//! of its own repository, each when its scope allows it. Anything else is
//! 403 naming the scope; a token not made with the repository's key, or
//! expired, is 401. The MAC is checked against the key file alone (no
//! session or database lookup); deleting the file revokes every token.

use axum::http::{HeaderMap, Method, StatusCode, header};
use car_core::action_token::{self, ActionKey, ActionScope, Refused, TOKEN_PREFIX};

use crate::error::ApiError;
use crate::state::AppState;

/// The action token in `Authorization: Bearer ...`, if it holds one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, given) = value.split_once(' ')?;
    let given = given.trim();
    (scheme.eq_ignore_ascii_case("bearer") && given.starts_with(TOKEN_PREFIX))
        .then(|| given.to_string())
}

/// The repository and scope a request needs: `path` is under the base
/// path (as routes see it). `None`: no action token may make it.
pub(crate) fn needs<'p>(method: &Method, path: &'p str) -> Option<(&'p str, ActionScope)> {
    if *method != Method::POST {
        return None;
    }
    let rest = path.strip_prefix("/api/v1/repos/")?;
    let (repo, action) = rest.split_once('/')?;
    let scope = match action {
        "reply" => ActionScope::Reply,
        "loop/resume" => ActionScope::Resume,
        "loop/stop" => ActionScope::Stop,
        _ => return None,
    };
    Some((repo, scope))
}

/// The repository an action token may act on, when it may make this
/// request; the error answer otherwise.
pub(crate) async fn check(
    state: &AppState,
    token: &str,
    method: &Method,
    path: &str,
) -> Result<String, ApiError> {
    let invalid = |why: &str| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("the action token {why}"),
        )
    };
    let claimed = action_token::peek(token).map_err(|_| invalid("is malformed"))?;
    let repo = state
        .repo(&claimed.repo)
        .map_err(|_| invalid("names a repository this server does not serve"))?;
    let dir = action_token::key_dir(repo.root());
    let key = crate::routes::blocking(move || {
        ActionKey::load(&dir)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e.to_string()))
    })
    .await?
    .ok_or_else(|| invalid("was not made here (no key)"))?;
    let grant = match key.verify(token, chrono::Utc::now().timestamp()) {
        Ok(g) => g,
        Err(Refused::Expired) => {
            return Err(invalid(&format!(
                "expired at {} (server.action_token_ttl_hours)",
                chrono::DateTime::from_timestamp(claimed.expires_at, 0)
                    .map_or_else(|| claimed.expires_at.to_string(), |t| t.to_rfc3339())
            )));
        }
        Err(Refused::BadMac | Refused::Malformed) => return Err(invalid("is not valid")),
    };
    let scopes: Vec<&str> = grant.scopes.iter().map(|s| s.as_str()).collect();
    let forbidden = |what: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "an action token (scopes {} on repository {:?}) {what}",
                scopes.join(", "),
                grant.repo
            ),
        )
    };
    let Some((target, scope)) = needs(method, path) else {
        return Err(forbidden(format!(
            "may not {method} {path}: it may only POST reply, loop/resume or loop/stop"
        )));
    };
    if target != grant.repo {
        return Err(forbidden(format!("may not act on repository {target:?}")));
    }
    if !grant.scopes.contains(&scope) {
        return Err(forbidden(format!(
            "lacks the scope {:?} that {method} {path} needs",
            scope.as_str()
        )));
    }
    Ok(grant.repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reply_resume_and_stop_of_a_repository_are_action_routes() {
        let post = Method::POST;
        assert_eq!(
            needs(&post, "/api/v1/repos/a.b/loop/resume"),
            Some(("a.b", ActionScope::Resume))
        );
        assert_eq!(
            needs(&post, "/api/v1/repos/a/loop/stop"),
            Some(("a", ActionScope::Stop))
        );
        assert_eq!(
            needs(&post, "/api/v1/repos/a/reply"),
            Some(("a", ActionScope::Reply))
        );
        for path in [
            "/api/v1/repos/a/loop/kill",
            "/api/v1/repos/a/loop/run",
            "/api/v1/repos/a/loop/stop_now",
            "/api/v1/repos/a/docs/todo",
            "/api/v1/repos/a/tasks",
            "/api/v1/repos/a/loop/resume/x",
            "/api/v1/hub/loops/stop",
            "/api/v1/repos/a",
        ] {
            assert_eq!(needs(&post, path), None, "{path}");
        }
        assert_eq!(needs(&Method::GET, "/api/v1/repos/a/loop/resume"), None);
        assert_eq!(needs(&Method::PUT, "/api/v1/repos/a/reply"), None);
    }

    #[test]
    fn only_a_bearer_action_token_is_taken() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            "bearer car_act.a.stop.9.ab".parse().unwrap(),
        );
        assert_eq!(bearer(&h).as_deref(), Some("car_act.a.stop.9.ab"));
    }
}
