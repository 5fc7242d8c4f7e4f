//! The repositories: the list, one's status (what `car status --json`
//! says) and its resolved configuration.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::blocking;
use crate::error::ApiError;
use crate::state::AppState;

/// A repository in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoSummary {
    /// Its id in URLs: the directory name, made safe (see `repo_id`).
    pub id: String,
    /// Its root directory.
    pub root: String,
    /// Whether a runner is active now.
    pub running: bool,
    /// The status in `state.json` (`idle`, `running`, ...).
    pub status: String,
}

/// The repositories served (a server started in a repository serves that
/// one).
#[utoipa::path(get, path = "/api/v1/repos", tag = "repos",
    responses((status = 200, body = Vec<RepoSummary>), (status = 401, body = crate::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<RepoSummary>>, ApiError> {
    let repos = state.inner.repos.clone();
    let list = blocking(move || {
        Ok(repos
            .iter()
            .map(|r| {
                let s = r.repo.state().ok();
                RepoSummary {
                    id: r.id.clone(),
                    root: r.repo.root().display().to_string(),
                    running: r.repo.control(super::requester(None)).is_running(),
                    status: s.map_or_else(|| "unknown".into(), |s| s.status.as_str().to_string()),
                }
            })
            .collect())
    })
    .await?;
    Ok(Json(list))
}

/// A repository's status: what `car status --json` prints (the state,
/// whether a runner is active, the lock holder, TODO counts, the last run).
#[utoipa::path(get, path = "/api/v1/repos/{id}", tag = "repos",
    params(("id" = String, Path, description = "repository id")),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let repo = state.repo(&id)?.clone();
    let report = blocking(move || Ok(repo.quick_status()?)).await?;
    Ok(Json(super::to_json(&report)?))
}

/// The resolved configuration: every value and where it came from.
#[utoipa::path(get, path = "/api/v1/repos/{id}/config", tag = "repos",
    params(("id" = String, Path, description = "repository id")),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn config(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let repo = state.repo(&id)?;
    let resolved = repo.resolved_config();
    let sources: serde_json::Map<String, serde_json::Value> = resolved
        .entries()
        .into_iter()
        .map(|(k, _, s)| (k, serde_json::Value::String(s.to_string())))
        .collect();
    Ok(Json(serde_json::json!({
        "root": repo.root(),
        "config": resolved.to_json(),
        "sources": sources,
        "warnings": resolved.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })))
}
