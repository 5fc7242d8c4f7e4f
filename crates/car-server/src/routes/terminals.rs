//! Terminal sessions of a repository: `POST /api/v1/repos/{id}/terminals`
//! starts one (a PTY running `codex.binary` with `codex.terminal_args` in
//! the repository root, owned by this server), `GET` lists them (from
//! their records, `.codex-autorunner/terminals/`, so sessions of a server
//! that died show as ended), `DELETE .../terminals/{tid}` stops one (its
//! whole process group). The PTY itself is driven over
//! `GET .../terminals/{tid}/ws` (`terminal_ws.rs`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use car_core::{TerminalRecord, TerminalStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use super::tasks::peer;
use crate::error::ApiError;
use crate::state::AppState;
use crate::terminal::api_error;

/// The size of a new terminal when none is asked for.
const DEFAULT_SIZE: (u16, u16) = (80, 24);
/// The largest columns or rows a terminal may have.
pub(crate) const MAX_SIDE: u16 = 1000;
/// The most sessions a list holds (newest first).
const MAX_LISTED: usize = 100;

/// The body of `POST /api/v1/repos/{id}/terminals` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalOpen {
    /// Columns (default 80, 1 to 1000).
    pub cols: Option<u16>,
    /// Rows (default 24, 1 to 1000).
    pub rows: Option<u16>,
}

/// A terminal session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TerminalItem {
    /// Its id.
    pub id: String,
    /// `running` or `ended`.
    pub status: String,
    /// The process started in the PTY (its process group's leader).
    pub pid: u32,
    /// The command started.
    pub argv: Vec<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Who started it (`http <peer address>`).
    pub started_by: String,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// The last input, attach or detach (RFC 3339, written about once a second).
    pub last_activity: String,
    /// How many WebSocket clients are attached now.
    pub clients: usize,
    /// Why it ended (`exited`, `stopped`, `idle`, `server_stopped`, `server_gone`).
    pub end_reason: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<String>,
}

/// The sessions of a repository, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TerminalList {
    /// The sessions (at most 100).
    pub terminals: Vec<TerminalItem>,
}

fn item(rec: TerminalRecord, clients: usize) -> TerminalItem {
    let end = rec.end;
    TerminalItem {
        status: match rec.status {
            TerminalStatus::Running => "running",
            TerminalStatus::Ended => "ended",
        }
        .to_string(),
        id: rec.id,
        pid: rec.pid,
        argv: rec.argv,
        started_at: rec.started_at,
        started_by: rec.started_by,
        cols: rec.cols,
        rows: rec.rows,
        last_activity: rec.last_activity,
        clients,
        end_reason: end.as_ref().map(|e| e.reason.clone()),
        ended_at: end.as_ref().map(|e| e.at.clone()),
        exit_code: end.as_ref().and_then(|e| e.exit_code),
        signal: end.and_then(|e| e.signal),
    }
}

/// A size from the body, checked.
fn size(body: &TerminalOpen) -> Result<(u16, u16), ApiError> {
    let cols = body.cols.unwrap_or(DEFAULT_SIZE.0);
    let rows = body.rows.unwrap_or(DEFAULT_SIZE.1);
    for (name, v) in [("cols", cols), ("rows", rows)] {
        if v == 0 || v > MAX_SIDE {
            return Err(ApiError::bad_request(format!(
                "{name} is {v}; expected 1 to {MAX_SIDE}"
            )));
        }
    }
    Ok((cols, rows))
}

/// Starts a terminal session: 201 with it. Connect to its `ws` to drive
/// it; with no client and no input for `server.terminal.idle_timeout_seconds`
/// it is stopped, and when this server stops, so does it.
#[utoipa::path(post, path = "/api/v1/repos/{id}/terminals", tag = "terminals",
    params(("id" = String, Path, description = "repository id")),
    request_body = TerminalOpen,
    responses((status = 201, body = TerminalItem),
              (status = 400, body = crate::ErrorBody, description = "a bad size or body"),
              (status = 404, body = crate::ErrorBody),
              (status = 409, body = crate::ErrorBody, description = "server.terminal.max_sessions_per_repo sessions are open, or codex.binary cannot be found")))]
pub(crate) async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let open: TerminalOpen = if body.iter().all(u8::is_ascii_whitespace) {
        TerminalOpen::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the body must be {{\"cols\"?, \"rows\"?}}: {e}"))
        })?
    };
    let size = size(&open)?;
    let repo = state.repo(&id)?;
    state.check_enabled(&id)?;
    let by = peer(&ext).map_or_else(|| "http".to_string(), |p| format!("http {p}"));
    let session = state
        .inner
        .terminals
        .open(&id, repo, size, by, state.inner.shutdown.clone())
        .await?;
    let s = session.clone();
    let rec = blocking(move || s.repo.terminals().get(&s.id).map_err(api_error)).await?;
    Ok((StatusCode::CREATED, Json(item(rec, session.clients()))).into_response())
}

/// The repository's terminal sessions, newest first (at most 100).
#[utoipa::path(get, path = "/api/v1/repos/{id}/terminals", tag = "terminals",
    params(("id" = String, Path, description = "repository id")),
    responses((status = 200, body = TerminalList),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TerminalList>, ApiError> {
    let repo = state.repo(&id)?;
    state.inner.terminals.sweep(&repo).await;
    let recs = blocking(move || Ok(repo.terminals().list())).await?;
    let terminals = recs
        .into_iter()
        .take(MAX_LISTED)
        .map(|rec| {
            let clients = state
                .inner
                .terminals
                .get(&id, &rec.id)
                .map_or(0, |s| s.clients());
            item(rec, clients)
        })
        .collect();
    Ok(Json(TerminalList { terminals }))
}

/// Stops a terminal session: its process group gets SIGTERM, then SIGKILL
/// after 2 s; answers once it has ended, with it (one already ended is
/// answered as it is).
#[utoipa::path(delete, path = "/api/v1/repos/{id}/terminals/{tid}", tag = "terminals",
    params(("id" = String, Path, description = "repository id"),
           ("tid" = String, Path, description = "terminal session id")),
    responses((status = 200, body = TerminalItem),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn stop(
    State(state): State<AppState>,
    Path((id, tid)): Path<(String, String)>,
    ext: Extensions,
) -> Result<Json<TerminalItem>, ApiError> {
    let repo = state.repo(&id)?;
    let by = peer(&ext).map_or_else(|| "http".to_string(), |p| format!("http {p}"));
    let rec = match state.inner.terminals.get(&id, &tid) {
        Some(session) => session.stop(by, None).await?,
        None => blocking(move || repo.terminals().stop(&tid, &by).map_err(api_error)).await?,
    };
    Ok(Json(item(rec, 0)))
}
