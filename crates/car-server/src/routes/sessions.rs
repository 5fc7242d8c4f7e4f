//! Browser sessions: `GET /api/v1/sessions` lists them (no secret),
//! `DELETE /api/v1/sessions/{id}` revokes one at once, and
//! `POST /api/v1/sessions/link` makes a fresh one-time link (with the
//! bearer token only: a session cannot breed sessions).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::blocking;
use super::login::BasePath;
use crate::error::ApiError;
use crate::guard::Caller;
use crate::sessions::{CODE_TTL, Session, SessionStore, over_https};
use crate::state::AppState;

/// A session, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionItem {
    /// The session.
    #[serde(flatten)]
    pub session: Session,
    /// Whether the request came with this session's cookie.
    pub current: bool,
}

/// The sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Oldest first.
    pub sessions: Vec<SessionItem>,
}

/// A fresh one-time link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginLink {
    /// `http(s)://HOST/BASE/auth/link?code=...`, from this request's `Host`.
    pub link: String,
    /// How long it is good for (once).
    pub expires_in_secs: u64,
}

fn io(e: crate::SessionError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e.to_string())
}

fn no_token() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        "the server has no token (server.auth_token_env), so it has no sessions: anyone local may use it",
    )
}

/// Runs `f` on the session store, on a blocking thread.
async fn with_store<T: Send + 'static>(
    state: AppState,
    f: impl FnOnce(&SessionStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || match &state.inner.sessions {
        Some(store) => f(store),
        None => Err(no_token()),
    })
    .await
}

/// The browser sessions.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions",
    responses((status = 200, body = SessionList),
              (status = 409, body = crate::ErrorBody, description = "no token: no sessions")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SessionList>, ApiError> {
    let all = with_store(state, |s| s.list().map_err(io)).await?;
    let current = match caller {
        Caller::Session(id) => Some(id),
        Caller::Open | Caller::Token | Caller::Action(_) | Caller::User(_) => None,
    };
    Ok(Json(SessionList {
        sessions: all
            .into_iter()
            .map(|session| SessionItem {
                current: current.as_deref() == Some(session.id.as_str()),
                session,
            })
            .collect(),
    }))
}

/// Revokes a session: its cookie fails from the next request on.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Object, description = "{revoked: id}"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = id.clone();
    let gone = with_store(state, move |s| s.revoke(&key).map_err(io)).await?;
    if gone {
        Ok(Json(serde_json::json!({ "revoked": id })))
    } else {
        Err(ApiError::not_found(format!("no session with id {id:?}")))
    }
}

/// A fresh one-time link for a browser (bearer token only).
#[utoipa::path(post, path = "/api/v1/sessions/link", tag = "sessions",
    responses((status = 200, body = LoginLink),
              (status = 403, body = crate::ErrorBody, description = "asked with a session cookie"),
              (status = 409, body = crate::ErrorBody, description = "no token: no sessions")))]
pub(crate) async fn new_link(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(BasePath(base)): Extension<BasePath>,
    headers: HeaderMap,
) -> Result<Json<LoginLink>, ApiError> {
    if let Caller::Session(_) = caller {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a one-time link is made with the bearer token, not a session cookie",
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("the request has no Host header"))?;
    let scheme = if over_https(&headers) {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{host}{base}/");
    match state.login_link(&url).map_err(io)? {
        Some(link) => Ok(Json(LoginLink {
            link,
            expires_in_secs: CODE_TTL.as_secs(),
        })),
        None => Err(no_token()),
    }
}
