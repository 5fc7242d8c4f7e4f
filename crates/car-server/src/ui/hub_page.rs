//! `GET /`: the hub page, every repository and worktree served (one in a
//! server started in a repository) with its state, TODO progress, current
//! run and its age, a badge when a question waits, start and stop; in a
//! hub, a form that makes a worktree. Rendered here from what `GET
//! /api/v1/repos` answers, for a first paint with data; its script then
//! follows `GET /api/v1/stream` and fetches the list again
//! (`GET /ui/fragments/repos`, the same template) when events come.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};

use super::pages::{allowed, ctx, error_page, fragment_allowed};
use super::render::page;
use crate::RepoSummary;
use crate::routes::login::BasePath;
use crate::state::AppState;

async fn list(state: &AppState) -> Result<Vec<RepoSummary>, crate::ApiError> {
    crate::routes::repo_list::list(State(state.clone()))
        .await
        .map(|j| j.0)
}

fn list_ctx(state: &AppState, repos: &[RepoSummary]) -> Value {
    let bases: Vec<&str> = repos
        .iter()
        .filter(|r| r.kind == "base" && r.enabled)
        .map(|r| r.id.as_str())
        .collect();
    let waiting = repos.iter().filter(|r| r.question.is_some()).count();
    let running = repos.iter().filter(|r| r.running).count();
    context! {
        repos => Value::from_serialize(repos),
        hub => state.hub().is_some(),
        bases => bases,
        waiting => waiting,
        running => running,
    }
}

/// The hub page.
pub(crate) async fn hub(
    State(state): State<AppState>,
    Extension(BasePath(base)): Extension<BasePath>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = allowed(&state, &headers, &base).await {
        return resp;
    }
    match list(&state).await {
        Ok(repos) => {
            let title = if state.hub().is_some() {
                "Hub"
            } else {
                "Repository"
            };
            page(
                StatusCode::OK,
                "hub.html",
                ctx(&base, title, list_ctx(&state, &repos)),
            )
        }
        Err(e) => error_page(&base, e.status(), e.message()),
    }
}

/// The list of the hub page alone, for its script.
pub(crate) async fn fragment(
    State(state): State<AppState>,
    Extension(BasePath(base)): Extension<BasePath>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = fragment_allowed(&state, &headers).await {
        return resp;
    }
    match list(&state).await {
        Ok(repos) => page(
            StatusCode::OK,
            "hub_list.html",
            ctx(&base, "", list_ctx(&state, &repos)),
        ),
        Err(e) => error_page(&base, e.status(), e.message()),
    }
}
