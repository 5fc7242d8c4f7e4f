//! A hub's worktrees over HTTP, with the rules of `car worktree new` and
//! `car worktree remove`: `POST /api/v1/worktrees` makes one (git worktree,
//! car initialised, setup commands run, registered), `DELETE
//! /api/v1/worktrees/{id}` removes one: refused while its loop runs, and
//! unless `force` while it holds uncommitted changes or commits on no
//! remote and not on its base's branch; with `force` that work is archived
//! first and the answer says where. A server in a repository answers 404
//! (not a hub).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use car_core::hub::{WorktreeCreated, WorktreeRemoval, WorktreeRequest};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::blocking;
use crate::audit::AuditRepo;
use crate::error::ApiError;
use crate::state::AppState;

/// A worktree to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorktreeNew {
    /// The base repository's id.
    pub base: String,
    /// The job's name: the worktree's id is `<base>--<name made safe>`.
    pub name: String,
    /// Where its new branch starts (default: the base's `HEAD`).
    pub from: Option<String>,
    /// Its branch (default: `hub.worktree_branch_prefix` + the name).
    pub branch: Option<String>,
}

/// How to remove a worktree.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RemoveQuery {
    /// Remove it even with work only it holds (archived first); never
    /// while its loop runs.
    pub(crate) force: Option<bool>,
}

/// Makes a worktree of a base repository: 201 with its id, path, branch,
/// the docs copied from the base and each setup command's outcome (a
/// failed one keeps the worktree: `setup[].ok` says).
#[utoipa::path(post, path = "/api/v1/worktrees", tag = "hub",
    request_body = WorktreeNew,
    responses((status = 201, body = Object, description = "`{id, path, branch, new_branch, copied, setup}`"),
              (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody),
              (status = 409, body = crate::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    body: Result<Json<WorktreeNew>, JsonRejection>,
) -> Result<Response, ApiError> {
    let hub = state.require_hub()?.hub().clone();
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let base = body.base.clone();
    let created: WorktreeCreated = blocking(move || {
        Ok(hub.new_worktree(&WorktreeRequest {
            base: body.base,
            name: body.name,
            from: body.from.filter(|f| !f.trim().is_empty()),
            branch: body.branch,
        })?)
    })
    .await?;
    let mut resp = (StatusCode::CREATED, Json(super::to_json(&created)?)).into_response();
    resp.extensions_mut().insert(AuditRepo(base));
    Ok(resp)
}

/// Removes a worktree (see the module docs); 200 with what was at risk and
/// the archive's directory, when something was archived.
#[utoipa::path(delete, path = "/api/v1/worktrees/{id}", tag = "hub",
    params(("id" = String, Path, description = "the worktree's id"), RemoveQuery),
    responses((status = 200, body = Object, description = "`{id, at_risk, archive}`"),
              (status = 404, body = crate::ErrorBody), (status = 409, body = crate::ErrorBody)))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let hub = state.require_hub()?.hub().clone();
    let Query(q) = query?;
    let force = q.force.unwrap_or(false);
    let (removed, base): (WorktreeRemoval, Option<String>) = blocking(move || {
        let base = hub.entry(&id)?.worktree_of;
        Ok((hub.remove_worktree(&id, force)?, base))
    })
    .await?;
    let mut resp = Json(super::to_json(&removed)?).into_response();
    if let Some(base) = base {
        // The worktree's own ledger is gone with it: its base records it.
        resp.extensions_mut().insert(AuditRepo(base));
    }
    Ok(resp)
}
