//! A hub's repository with `enabled: false` in the manifest is listed and
//! can be read, but every state-changing request on it
//! (`/api/v1/repos/{id}/...`) is refused with 409 naming the repository
//! and the key. (Tasks and commands started with `repo` or a `cwd` in it
//! are refused where the repository is picked.)

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::guard::changes_state;
use crate::state::AppState;

/// Refuses a change to a disabled repository; see the module docs.
pub(crate) async fn refuse_disabled(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if state.hub().is_none() || !changes_state(req.method()) {
        return next.run(req).await;
    }
    let id = repo_in_path(req.uri().path()).map(str::to_string);
    if let Some(id) = id
        && let Err(e) = state.check_enabled(&id)
    {
        return e.into_response();
    }
    next.run(req).await
}

/// The `{id}` of a path `.../repos/{id}/...`.
fn repo_in_path(path: &str) -> Option<&str> {
    let mut parts = path.split('/');
    parts.by_ref().find(|p| *p == "repos")?;
    parts.next().filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::repo_in_path;

    #[test]
    fn the_repository_is_the_segment_after_repos() {
        assert_eq!(repo_in_path("/api/v1/repos/a--b/loop/start"), Some("a--b"));
        assert_eq!(repo_in_path("/x/api/v1/repos/web/docs/todo"), Some("web"));
        assert_eq!(repo_in_path("/api/v1/tasks"), None);
        assert_eq!(repo_in_path("/api/v1/repos"), None);
    }
}
