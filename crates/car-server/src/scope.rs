//! What a user token's scope allows (see [`car_core::users::Scope`]; each
//! scope holds the ones before it): the one place that maps routes to
//! scopes. `read`: every `GET` but a repository's config, its terminals
//! and the browser sessions. `reply`: answering the loop
//! (`POST .../reply`), resuming it (`POST .../loop/resume`) and
//! transcribing a voice message for the answer. `tasks`: spawning,
//! answering and cancelling Codex tasks (its own: the handlers check the
//! owner); the agent runs in the repository with the server user's
//! rights, within Codex's sandbox. Everything else needs `admin`: among
//! it starting and cancelling commands (`/api/v1/execs`, and the jobs
//! `.../snapshot` and `.../ingest-spec`), since a command is `sh -c CMD`
//! as the server's own user, free to rewrite the users file and make
//! itself admin. A token confined to one repository (`--repo`) may use
//! that repository's routes, the repository list (showing it alone) and
//! its user's tasks and commands in it; hub-wide routes are refused.

use axum::http::{Method, StatusCode};
use car_core::users::Scope;

use crate::error::ApiError;
use crate::guard::UserCaller;

/// The scope `method path` needs (`path` under the base path).
pub(crate) fn needs(method: &Method, path: &str) -> Scope {
    let p = path.strip_prefix("/api/v1/").unwrap_or(path);
    let seg: Vec<&str> = p.split('/').collect();
    let read = matches!(*method, Method::GET | Method::HEAD);
    match (read, seg.as_slice()) {
        (true, ["repos", _, "config"] | ["repos", _, "terminals", ..] | ["sessions", ..]) => {
            Scope::Admin
        }
        (true, _) => Scope::Read,
        (
            false,
            ["repos", _, "reply"]
            | ["repos", _, "loop", "resume"]
            | ["repos", _, "voice", "transcribe"],
        ) => Scope::Reply,
        (false, ["tasks"] | ["tasks", _] | ["tasks", _, "reply"]) => Scope::Tasks,
        _ => Scope::Admin,
    }
}

/// Whether the user token may make `method path`: 403 naming the scope
/// needed, or the repository it is confined to.
pub(crate) fn authorize(user: &UserCaller, method: &Method, path: &str) -> Result<(), ApiError> {
    let need = needs(method, path);
    if user.scope < need {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{method} {path} needs the scope {:?}; the token of user {:?} has the scope {:?}",
                need.as_str(),
                user.name,
                user.scope.as_str()
            ),
        ));
    }
    let Some(confined) = &user.repo else {
        return Ok(());
    };
    let p = path.strip_prefix("/api/v1/").unwrap_or(path);
    let seg: Vec<&str> = p.split('/').collect();
    let allowed = match seg.as_slice() {
        ["repos"] | ["tasks", ..] | ["execs", ..] | ["openapi.json"] => true,
        ["repos", id, ..] => id == confined,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token of user {:?} is confined to the repository {confined:?}: it may not {method} {path}",
                user.name
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_class_needs_its_scope() {
        let (get, post, put, del) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
        let cases = [
            (&get, "/api/v1/repos/a", Scope::Read),
            (&get, "/api/v1/repos/a/stream", Scope::Read),
            (&get, "/api/v1/tasks", Scope::Read),
            (&get, "/api/v1/repos/a/config", Scope::Admin),
            (&get, "/api/v1/repos/a/terminals", Scope::Admin),
            (&get, "/api/v1/sessions", Scope::Admin),
            (&post, "/api/v1/repos/a/reply", Scope::Reply),
            (&post, "/api/v1/repos/a/loop/resume", Scope::Reply),
            (&post, "/api/v1/repos/a/loop/run", Scope::Admin),
            (&post, "/api/v1/repos/a/loop/stop", Scope::Admin),
            (&post, "/api/v1/tasks", Scope::Tasks),
            (&post, "/api/v1/tasks/t1/reply", Scope::Tasks),
            (&del, "/api/v1/tasks/t1", Scope::Tasks),
            // A command runs as the server's user, outside any sandbox.
            (&post, "/api/v1/execs", Scope::Admin),
            (&del, "/api/v1/execs/x1", Scope::Admin),
            (&get, "/api/v1/execs/x1/logs", Scope::Read),
            (&post, "/api/v1/repos/a/snapshot", Scope::Admin),
            (&post, "/api/v1/repos/a/ingest-spec", Scope::Admin),
            (&put, "/api/v1/repos/a/docs/todo", Scope::Admin),
            (&post, "/api/v1/repos/a/terminals", Scope::Admin),
            (&post, "/api/v1/worktrees", Scope::Admin),
            (&post, "/api/v1/hub/start", Scope::Admin),
            (&post, "/api/v1/sessions/link", Scope::Admin),
        ];
        for (m, p, s) in cases {
            assert_eq!(needs(m, p), s, "{m} {p}");
        }
    }

    #[test]
    fn a_confined_token_keeps_to_its_repository() {
        let u = UserCaller {
            name: "ann".into(),
            scope: Scope::Tasks,
            repo: Some("a".into()),
        };
        assert!(authorize(&u, &Method::GET, "/api/v1/repos/a/stream").is_ok());
        assert!(authorize(&u, &Method::GET, "/api/v1/repos").is_ok());
        assert!(authorize(&u, &Method::POST, "/api/v1/tasks").is_ok());
        let e = authorize(&u, &Method::GET, "/api/v1/repos/b").unwrap_err();
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert!(authorize(&u, &Method::GET, "/api/v1/stream").is_err());
        let e = authorize(&u, &Method::POST, "/api/v1/repos/a/loop/run").unwrap_err();
        assert!(
            format!("{e:?}").contains("needs the scope \\\"admin\\\""),
            "{e:?}"
        );
    }
}
