//! Commands (`sh -c CMD`): `POST /api/v1/execs` (start), `GET
//! /api/v1/execs` (list), `GET`/`DELETE /api/v1/execs/{id}` (result,
//! cancel) and `GET /api/v1/execs/{id}/logs` (a log's bytes), through the
//! library's [`car_core::Execs`], as the api from `http <peer address>`.
//! Each command is a `car __exec` process of its own, in a session of its
//! own: restarting the server never stops one, and one started with `car
//! exec start` is seen here alike. Command ids are unique across the
//! repositories served.

use std::path::PathBuf;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use car_core::{ExecError, ExecRecord, ExecRequest, ExecStream, Repo};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tasks::pick_repo;
use super::{blocking, requester, requester_of, to_json};
use crate::audit::AuditRepo;
use crate::error::ApiError;
use crate::state::AppState;
use crate::user_auth::caller_of;

/// The most commands a page holds.
const MAX_LIMIT: usize = 500;
/// A page's size when none is asked for.
const DEFAULT_LIMIT: usize = 50;
/// The header of `GET .../logs` giving the byte offset where its body
/// starts in the log (the body's length added: where a stream goes on).
pub(crate) const OFFSET_HEADER: &str = "x-log-offset";

/// The body of `POST /api/v1/execs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecStart {
    /// The command line, run as `sh -c CMD`.
    pub cmd: String,
    /// Where it runs: the repository's root (default), a directory under
    /// it (relative to it, or absolute) or under one of
    /// `server.allowed_roots`; symlinks and `..` are resolved first.
    pub cwd: Option<String>,
    /// The repository's id (default: the one whose root holds `cwd`, or
    /// the only one served).
    pub repo: Option<String>,
}

/// The answer to a start: the command and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecStarted {
    /// The command's id.
    pub exec_id: String,
    /// `queued`: its process is starting.
    pub status: String,
    /// The id of the repository the command belongs to.
    pub repo: String,
}

/// A page of commands.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecPageQuery {
    /// How many of the newest commands to skip (default 0).
    offset: Option<usize>,
    /// The most commands to return (default 50, at most 500).
    limit: Option<usize>,
}

/// Which log, and how much of it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogQuery {
    /// `stdout` (default) or `stderr`.
    stream: Option<String>,
    /// Only the last N lines (a last line without its newline counts as one).
    tail: Option<usize>,
}

/// `stdout` (none asked) or `stderr`; a 400 naming the value otherwise.
pub(crate) fn parse_stream(asked: Option<&str>) -> Result<ExecStream, ApiError> {
    asked.map_or(Ok(ExecStream::Stdout), |s| {
        s.parse()
            .map_err(|e: String| ApiError::bad_request(format!("stream: {e}")))
    })
}

/// The repository holding command `id` (with its id in URLs) and its
/// record; 404 too when it is another user's (as for tasks).
pub(crate) async fn find(
    state: &AppState,
    ext: &Extensions,
    id: &str,
) -> Result<(String, Repo, ExecRecord), ApiError> {
    let repos = state.repos();
    let id = id.to_string();
    let caller = caller_of(ext);
    blocking(move || {
        for entry in repos.iter() {
            match entry.repo.execs(requester(None)).status(&id) {
                Ok(rec) if caller.may_see(rec.requested_by.user.as_deref(), &entry.id) => {
                    return Ok((entry.id.clone(), entry.repo.clone(), rec));
                }
                Ok(_) => break,
                Err(car_core::Error::Exec(ExecError::NotFound { .. })) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::not_found(format!("no command {id:?}")))
    })
    .await
}

/// Starts `sh -c CMD`: 202 with its id, queued.
#[utoipa::path(post, path = "/api/v1/execs", tag = "execs",
    request_body = ExecStart,
    responses((status = 202, body = ExecStarted),
              (status = 400, body = crate::ErrorBody, description = "empty command, cwd missing or outside the repository and server.allowed_roots"),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn start(
    State(state): State<AppState>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: ExecStart = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"cmd\": ..., \"cwd\"?, \"repo\"?}}: {e}"
        ))
    })?;
    let by = requester_of(&ext);
    let state2 = state.clone();
    let caller = caller_of(&ext);
    let (repo_id, rec) = blocking(move || {
        let (repo_id, repo) = pick_repo(&state2, body.repo.as_deref(), body.cwd.as_deref())?;
        crate::user_auth::confined(&caller, &repo_id)?;
        let req = ExecRequest {
            cmd: body.cmd,
            cwd: body.cwd.map(PathBuf::from),
        };
        let execs = repo
            .execs(by)
            .allow_roots(state2.inner.allowed_roots.iter());
        Ok((repo_id, execs.start(&state2.inner.program, req)?))
    })
    .await?;
    let started = ExecStarted {
        exec_id: rec.id.clone(),
        status: rec.state.as_str().to_string(),
        repo: repo_id.clone(),
    };
    let mut resp = (StatusCode::ACCEPTED, Json(started)).into_response();
    resp.extensions_mut().insert(AuditRepo(repo_id));
    Ok(resp)
}

/// A command's record as JSON, with its repository's id.
fn with_repo(repo: &str, rec: &ExecRecord) -> Result<serde_json::Value, ApiError> {
    let mut value = to_json(rec)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("repo".into(), repo.into());
    }
    Ok(value)
}

/// The commands of every repository served, newest first:
/// `{total, execs: [record...]}`; for a user token below the scope
/// `admin`, only its user's (in its repository, when confined to one).
#[utoipa::path(get, path = "/api/v1/execs", tag = "execs",
    params(ExecPageQuery),
    responses((status = 200, body = Object, description = "{total, execs}"),
              (status = 400, body = crate::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ext: Extensions,
    query: Result<Query<ExecPageQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let repos = state.repos();
    let caller = caller_of(&ext);
    let filtered = caller.filters();
    let (total, page) = blocking(move || {
        let mut all: Vec<(String, ExecRecord)> = Vec::new();
        let mut total = 0;
        for entry in repos.iter() {
            let want = if filtered {
                usize::MAX
            } else {
                offset.saturating_add(limit)
            };
            let page = entry.repo.execs(requester(None)).list(0, want);
            let mine: Vec<ExecRecord> = page
                .execs
                .into_iter()
                .filter(|x| caller.may_see(x.requested_by.user.as_deref(), &entry.id))
                .collect();
            total += if filtered { mine.len() } else { page.total };
            all.extend(mine.into_iter().map(|x| (entry.id.clone(), x)));
        }
        all.sort_by(|a, b| (&b.1.created_at, &b.1.id).cmp(&(&a.1.created_at, &a.1.id)));
        Ok((
            total,
            all.into_iter().skip(offset).take(limit).collect::<Vec<_>>(),
        ))
    })
    .await?;
    let execs = page
        .iter()
        .map(|(repo, rec)| with_repo(repo, rec))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(serde_json::json!({ "total": total, "execs": execs })))
}

/// A command's result (`car exec status ID --json`): its state (queued,
/// running, succeeded, failed, cancelled), exit code, signal, times,
/// command line, working directory and who asked, with its repository's id.
#[utoipa::path(get, path = "/api/v1/execs/{id}", tag = "execs",
    params(("id" = String, Path, description = "command id")),
    responses((status = 200, body = Object, description = "the command's record"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    ext: Extensions,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (repo_id, _, rec) = find(&state, &ext, &id).await?;
    Ok(Json(with_repo(&repo_id, &rec)?))
}

/// Cancels the command: its process group gets SIGTERM, then SIGKILL
/// after `runner.kill_grace_seconds`, and every process it started is
/// killed (one in a session of its own too). Answers once nothing of it
/// runs any more, with its record (one already over is left as it is).
#[utoipa::path(delete, path = "/api/v1/execs/{id}", tag = "execs",
    params(("id" = String, Path, description = "command id")),
    responses((status = 200, body = Object, description = "the command's record, cancelled or as it ended"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
) -> Result<Response, ApiError> {
    let (repo_id, repo, _) = find(&state, &ext, &id).await?;
    let by = requester_of(&ext);
    let rec = blocking(move || Ok(repo.execs(by).cancel(&id)?)).await?;
    let mut resp = Json(with_repo(&repo_id, &rec)?).into_response();
    resp.extensions_mut().insert(AuditRepo(repo_id));
    Ok(resp)
}

/// A command's `stdout` or `stderr` as written so far, byte for byte
/// (`text/plain`, whatever the bytes), all of it or its last `tail`
/// lines; the `X-Log-Offset` header is the byte offset in the log where
/// the body starts (add the body's length to follow on with
/// `.../logs/stream?offset=`).
#[utoipa::path(get, path = "/api/v1/execs/{id}/logs", tag = "execs",
    params(("id" = String, Path, description = "command id"), LogQuery),
    responses((status = 200, content_type = "text/plain", body = String,
               description = "the log's bytes, unchanged; X-Log-Offset: where they start"),
              (status = 400, body = crate::ErrorBody, description = "a stream that is not stdout or stderr"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn logs(
    State(state): State<AppState>,
    ext: Extensions,
    Path(id): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let stream = parse_stream(q.stream.as_deref())?;
    let (_, repo, _) = find(&state, &ext, &id).await?;
    let piece =
        blocking(move || Ok(repo.execs(requester(None)).read_log(&id, stream, q.tail)?)).await?;
    let mut resp = Response::new(Body::from(piece.bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(OFFSET_HEADER, HeaderValue::from(piece.offset));
    Ok(resp)
}
