//! `GET /auth/link?code=...`: the one-time link `car serve` prints (and
//! `POST /api/v1/sessions/link` makes) trades its code, once, for a
//! browser session: an HttpOnly cookie (see `sessions/cookie.rs`) and a
//! redirect to the base path. A used, expired or unknown code gets 401: the
//! sign-in page saying so for a browser (one that asks for `text/html`: a
//! person who tapped an old link on a phone), the JSON error otherwise.

use std::net::SocketAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, http::Extensions};
use serde::Deserialize;
use utoipa::IntoParams;

use super::blocking;
use crate::error::ApiError;
use crate::sessions::{over_https, set_cookie};
use crate::state::AppState;

/// The base path the app is served under (`""` or `/x`).
#[derive(Debug, Clone)]
pub(crate) struct BasePath(pub(crate) String);

/// The code of a one-time link.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LinkQuery {
    /// The one-time code.
    code: String,
}

/// Trades a one-time code for a session cookie, and redirects to the base
/// path.
#[utoipa::path(get, path = "/auth/link", tag = "sessions", security(()),
    params(LinkQuery),
    responses((status = 303, description = "the session cookie is set (`Set-Cookie`); `Location` is the base path"),
              (status = 400, body = crate::ErrorBody, description = "no `code` in the query"),
              (status = 401, body = crate::ErrorBody, description = "the code was used, has expired or is unknown (a browser asking for text/html gets the sign-in page saying so)")))]
pub(crate) async fn link(
    State(state): State<AppState>,
    Extension(BasePath(base)): Extension<BasePath>,
    headers: HeaderMap,
    ext: Extensions,
    query: Result<Query<LinkQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    if state.inner.sessions.is_none()
        || !state.inner.codes.redeem(&q.code, std::time::Instant::now())
    {
        let browser = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        if browser {
            return Ok(crate::ui::signin_page(
                &base,
                StatusCode::UNAUTHORIZED,
                true,
            ));
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this link was used already, has expired or was not made by this server: get a fresh one (POST /api/v1/sessions/link, or restart car serve)",
        ));
    }
    let peer = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string());
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect::<String>());
    let (secret, _) = blocking(move || {
        let Some(store) = &state.inner.sessions else {
            return Err(ApiError::not_found("no sessions without a token"));
        };
        store
            .create(peer, agent, chrono::Utc::now())
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e.to_string()))
    })
    .await?;
    let cookie = set_cookie(&secret, &base, over_https(&headers));
    let location = format!("{base}/");
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        (header::SET_COOKIE, cookie.as_str()),
        (header::LOCATION, location.as_str()),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Ok(resp)
}
