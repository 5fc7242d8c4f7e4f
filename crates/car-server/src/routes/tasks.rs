//! Codex tasks: `POST /api/v1/tasks` (spawn), `GET /api/v1/tasks` (list),
//! `GET`/`DELETE /api/v1/tasks/{id}` (read, cancel) and
//! `POST /api/v1/tasks/{id}/reply`, through the library's [`car_core::Tasks`],
//! as the api from `http <peer address>`. Each turn of a task is a `car
//! __task` process of its own, in a session of its own: restarting the
//! server never stops one, and a task spawned with `car task spawn` is seen
//! here alike. Task ids are unique across the repositories served.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use car_core::{Repo, TaskError, TaskRecord, TaskRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{blocking, requester, requester_of, to_json};
use crate::audit::AuditRepo;
use crate::error::ApiError;
use crate::state::AppState;
use crate::user_auth::caller_of;

/// The most tasks a page holds.
const MAX_LIMIT: usize = 500;
/// A page's size when none is asked for.
const DEFAULT_LIMIT: usize = 50;

/// The body of `POST /api/v1/tasks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpawn {
    /// The prompt.
    pub prompt: String,
    /// The repository's id (default: the one whose root holds `cwd`, or
    /// the only one served).
    pub repo: Option<String>,
    /// Where the agent works: the repository's root (default), a directory
    /// under it (relative to it, or absolute) or under one of
    /// `server.allowed_roots`; symlinks and `..` are resolved first.
    pub cwd: Option<String>,
    /// The model (default: the repository's `codex.model`).
    pub model: Option<String>,
}

/// The body of `POST /api/v1/tasks/{id}/reply`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskReply {
    /// The message that continues the task's Codex conversation.
    pub message: String,
}

/// The answer to a spawn or a reply: the task and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskStarted {
    /// The task's id.
    pub task_id: String,
    /// `queued`: its process is starting.
    pub status: String,
    /// The id of the repository the task belongs to.
    pub repo: String,
    /// The turn started (1 for a spawn).
    pub turn: u32,
}

/// A page of tasks.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// How many of the newest tasks to skip (default 0).
    offset: Option<usize>,
    /// The most tasks to return (default 50, at most 500).
    limit: Option<usize>,
}

pub(crate) fn peer(ext: &Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The repository holding task `id` (with its id in URLs) and its record;
/// 404 too when it is another user's (see `Caller::may_see`: saying 403
/// would tell that the id exists).
pub(crate) async fn find(
    state: &AppState,
    ext: &Extensions,
    id: &str,
) -> Result<(String, Repo, TaskRecord), ApiError> {
    let repos = state.repos();
    let id = id.to_string();
    let caller = caller_of(ext);
    blocking(move || {
        for entry in repos.iter() {
            match entry.repo.tasks(requester(None)).status(&id) {
                Ok(rec) if caller.may_see(rec.requested_by.user.as_deref(), &entry.id) => {
                    return Ok((entry.id.clone(), entry.repo.clone(), rec));
                }
                Ok(_) => break,
                Err(car_core::Error::Task(TaskError::NotFound { .. })) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::not_found(format!("no task {id:?}")))
    })
    .await
}

/// The repository a new task belongs to: `repo` by id, else the one whose
/// root holds `cwd` (the deepest), else the only one served.
/// (Commands pick theirs alike.)
pub(crate) fn pick_repo(
    state: &AppState,
    repo: Option<&str>,
    cwd: Option<&str>,
) -> Result<(String, Repo), ApiError> {
    if let Some(id) = repo {
        let repo = state.repo(id)?;
        state.check_enabled(id)?;
        return Ok((id.to_string(), repo));
    }
    let repos = state.repos();
    let cwd = cwd
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .and_then(|p| std::fs::canonicalize(p).ok());
    let holding = cwd.and_then(|cwd| {
        repos
            .iter()
            .filter_map(|r| Some((std::fs::canonicalize(r.repo.root()).ok()?, r)))
            .filter(|(root, _)| cwd.starts_with(root))
            .max_by_key(|(root, _)| root.components().count())
            .map(|(_, r)| r)
    });
    match (holding, repos.as_slice()) {
        (Some(r), _) | (None, [r]) => {
            state.check_enabled(&r.id)?;
            Ok((r.id.clone(), r.repo.clone()))
        }
        (None, _) => Err(ApiError::bad_request(
            "say which repository it belongs to: repo, or a cwd under one",
        )),
    }
}

/// Spawns a one-shot `codex exec` task: 202 with its id, queued.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks",
    request_body = TaskSpawn,
    responses((status = 202, body = TaskStarted),
              (status = 400, body = crate::ErrorBody, description = "empty prompt, cwd outside the repository and server.allowed_roots"),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn spawn(
    State(state): State<AppState>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: TaskSpawn = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"prompt\": ..., \"repo\"?, \"cwd\"?, \"model\"?}}: {e}"
        ))
    })?;
    let by = requester_of(&ext);
    let program = state.inner.program.clone();
    let state2 = state.clone();
    let caller = caller_of(&ext);
    let (repo_id, rec) = blocking(move || {
        let (repo_id, repo) = pick_repo(&state2, body.repo.as_deref(), body.cwd.as_deref())?;
        crate::user_auth::confined(&caller, &repo_id)?;
        let req = TaskRequest {
            prompt: body.prompt,
            cwd: body.cwd.map(PathBuf::from),
            model: body.model,
        };
        let roots = state2.inner.allowed_roots.iter();
        Ok((
            repo_id,
            repo.tasks(by).allow_roots(roots).spawn(&program, req)?,
        ))
    })
    .await?;
    Ok(started(repo_id, &rec))
}

fn started(repo: String, rec: &TaskRecord) -> Response {
    let body = TaskStarted {
        task_id: rec.id.clone(),
        status: rec.state.as_str().to_string(),
        repo: repo.clone(),
        turn: rec.current_turn().map_or(1, |t| t.n),
    };
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    resp.extensions_mut().insert(AuditRepo(repo));
    resp
}

/// The tasks of every repository served, newest first:
/// `{total, tasks: [record...]}`; for a user token below the scope
/// `admin`, only its user's (in its repository, when confined to one).
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks",
    params(PageQuery),
    responses((status = 200, body = Object, description = "{total, tasks}"),
              (status = 400, body = crate::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ext: Extensions,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let repos = state.repos();
    let caller = caller_of(&ext);
    let filtered = caller.filters();
    let (total, tasks) = blocking(move || {
        let mut all: Vec<(String, TaskRecord)> = Vec::new();
        let mut total = 0;
        for entry in repos.iter() {
            let want = if filtered {
                usize::MAX
            } else {
                offset.saturating_add(limit)
            };
            let page = entry.repo.tasks(requester(None)).list(0, want);
            let mine: Vec<TaskRecord> = page
                .tasks
                .into_iter()
                .filter(|t| caller.may_see(t.requested_by.user.as_deref(), &entry.id))
                .collect();
            total += if filtered { mine.len() } else { page.total };
            all.extend(mine.into_iter().map(|t| (entry.id.clone(), t)));
        }
        all.sort_by(|a, b| (&b.1.created_at, &b.1.id).cmp(&(&a.1.created_at, &a.1.id)));
        let page: Vec<(String, TaskRecord)> = all.into_iter().skip(offset).take(limit).collect();
        Ok((total, page))
    })
    .await?;
    let tasks = tasks
        .iter()
        .map(|(repo, rec)| with_repo(repo, rec, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(serde_json::json!({ "total": total, "tasks": tasks })))
}

/// A task's record as JSON, with its repository's id (and its final
/// output, when given).
fn with_repo(
    repo: &str,
    rec: &TaskRecord,
    final_output: Option<Option<String>>,
) -> Result<serde_json::Value, ApiError> {
    let mut value = to_json(rec)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("repo".into(), repo.into());
        if let Some(out) = final_output {
            obj.insert("final_output".into(), out.into());
        }
    }
    Ok(value)
}

/// A task's record (`car task status ID --json`), with its repository's
/// id and its latest turn's final output.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "task id")),
    responses((status = 200, body = Object, description = "the task's record"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    ext: Extensions,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (repo_id, repo, rec) = find(&state, &ext, &id).await?;
    let final_output = blocking(move || Ok(repo.tasks(requester(None)).final_output(&id)?)).await?;
    Ok(Json(with_repo(&repo_id, &rec, Some(final_output))?))
}

/// Continues the task's Codex conversation with `message`: a new turn
/// (202). The task's last turn must have ended (409 otherwise).
#[utoipa::path(post, path = "/api/v1/tasks/{id}/reply", tag = "tasks",
    params(("id" = String, Path, description = "task id")),
    request_body = TaskReply,
    responses((status = 202, body = TaskStarted),
              (status = 400, body = crate::ErrorBody, description = "empty message, no conversation to continue"),
              (status = 404, body = crate::ErrorBody),
              (status = 409, body = crate::ErrorBody, description = "a turn is still at work")))]
pub(crate) async fn reply(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: TaskReply = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(format!("the body must be {{\"message\": ...}}: {e}"))
    })?;
    let (repo_id, repo, _) = find(&state, &ext, &id).await?;
    let by = requester_of(&ext);
    let program = state.inner.program.clone();
    let rec = blocking(move || Ok(repo.tasks(by).reply(&program, &id, &body.message)?)).await?;
    Ok(started(repo_id, &rec))
}

/// Cancels the task: its agent gets SIGTERM, then SIGKILL with its whole
/// process tree after `runner.kill_grace_seconds`. Answers once nothing
/// of it runs any more, with its record (a task already over is left as
/// it is).
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "task id")),
    responses((status = 200, body = Object, description = "the task's record, cancelled or as it ended"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (repo_id, repo, _) = find(&state, &ext, &id).await?;
    let by = requester_of(&ext);
    let rec = blocking(move || Ok(repo.tasks(by).abort(&id)?)).await?;
    Ok(Json(with_repo(&repo_id, &rec, None)?))
}
