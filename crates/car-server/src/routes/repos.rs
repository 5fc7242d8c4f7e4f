//! A repository: its status (what `car status --json` says) and its
//! resolved configuration (the list is in `repo_list.rs`).

use axum::Json;
use axum::extract::{Path, State};

use super::blocking;
use crate::error::ApiError;
use crate::state::AppState;

/// A repository's status: what `car status --json` prints (the state,
/// whether a runner is active, the lock holder, TODO counts, the last run).
#[utoipa::path(get, path = "/api/v1/repos/{id}", tag = "repos",
    params(("id" = String, Path, description = "repository id")),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let repo = state.repo(&id)?;
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
