//! The checks every request passes: the `Host` header against the
//! allow-list (no DNS rebinding), the bearer token or a session cookie
//! (every route but `GET /health` and the one-time link), and the `Origin`
//! of a state-changing request or a WebSocket handshake (required with a
//! cookie: no CSRF). No CORS header is ever sent: browsers on other
//! origins cannot read answers.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::sessions::session_cookie;
use crate::state::AppState;

/// Host names always accepted: the loopback ones.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Refuses a request whose `Host` is not an allowed name (421 would tell a
/// browser to retry elsewhere; 403 says no).
pub(crate) async fn check_host(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host.map(host_name) {
        Some(name) if host_allowed(&name, &state.inner.allowed_hosts) => next.run(req).await,
        Some(name) => forbidden(format!(
            "the Host {name:?} is not one this server answers to"
        ))
        .into_response(),
        None => forbidden("the request has no Host header".to_string()).into_response(),
    }
}

/// Who a request came from, put in its extensions by [`check_auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No token is set: anyone local.
    Open,
    /// The bearer token (in `Authorization`, or a WebSocket subprotocol).
    Token,
    /// A browser session: its public id.
    Session(String),
    /// An action token (a notification's button) for this repository; it
    /// got here only for a request its scopes allow (see `action_auth.rs`).
    Action(String),
    /// A user token (see `user_auth.rs`); it got here only for a request
    /// its scope allows (see `scope.rs`).
    User(UserCaller),
}

/// The user of a user token, and what the token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserCaller {
    /// The user's name.
    pub(crate) name: String,
    /// The token's scope, capped by the user's role.
    pub(crate) scope: car_core::users::Scope,
    /// The repository the token is confined to.
    pub(crate) repo: Option<String>,
}

/// Requires the bearer token (in `Authorization`, or offered as the
/// WebSocket subprotocol `car.token.<token>`) or a live session cookie,
/// then a same or allowed `Origin` on a state-changing request or a
/// WebSocket handshake; with the cookie that `Origin` must be there.
pub(crate) async fn check_auth(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // An action token is judged as one, whatever else the server takes;
    // so is a user token.
    let caller = if let Some(token) = crate::action_auth::bearer(req.headers()) {
        match crate::action_auth::check(&state, &token, req.method(), req.uri().path()).await {
            Ok(repo) => Caller::Action(repo),
            Err(e) => return e.into_response(),
        }
    } else if let Some(token) = crate::user_auth::offered(req.headers()) {
        let caller = match crate::user_auth::check(&state, token).await {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        if let Some(u) = caller.user()
            && let Err(e) = crate::scope::authorize(u, req.method(), req.uri().path())
        {
            return e.into_response();
        }
        caller
    } else {
        match caller(&state, req.headers()).await {
            Ok(Some(c)) => c,
            Ok(None) => return unauthorized(),
            Err(e) => return e.into_response(),
        }
    };
    let guarded = changes_state(req.method()) || is_websocket(req.headers());
    let origin = req.headers().get(header::ORIGIN);
    if guarded {
        if let Some(origin) = origin {
            let origin = origin.to_str().unwrap_or("");
            if !origin_allowed(origin, req.headers(), &state.inner.allowed_origins) {
                return forbidden(format!(
                    "the Origin {origin:?} may not change anything here"
                ))
                .into_response();
            }
        } else if matches!(caller, Caller::Session(_)) {
            return forbidden(
                "a request with a session cookie that changes something (or opens a WebSocket) must carry this server's Origin"
                    .to_string(),
            )
            .into_response();
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The caller a request's credentials make, `None` without valid ones
/// (an action token is never one here: only [`check_auth`] takes it, for
/// its few API routes).
pub(crate) async fn caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, ApiError> {
    let Some(token) = &state.inner.token else {
        return Ok(Some(Caller::Open));
    };
    if bearer_matches(headers, token)
        || (is_websocket(headers) && subprotocol_matches(headers, token))
    {
        return Ok(Some(Caller::Token));
    }
    let (Some(secret), Some(_)) = (session_cookie(headers), &state.inner.sessions) else {
        return Ok(None);
    };
    let secret = secret.to_string();
    let state = state.clone();
    crate::routes::blocking(move || {
        let Some(store) = &state.inner.sessions else {
            return Ok(None);
        };
        let found = store
            .check(&secret, chrono::Utc::now())
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e.to_string()))?;
        Ok(found.map(|s| Caller::Session(s.id)))
    })
    .await
}

fn unauthorized() -> Response {
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid bearer token (Authorization: Bearer <token>) or session cookie is required",
    )
    .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    resp
}

/// Whether the request asks for a WebSocket.
pub(crate) fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// Whether the offered WebSocket subprotocols hold `car.token.<token>`,
/// compared in constant time.
fn subprotocol_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix(WS_TOKEN_PREFIX))
        .any(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())))
}

/// The prefix of the WebSocket subprotocol that carries the token.
pub(crate) const WS_TOKEN_PREFIX: &str = "car.token.";

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// Whether a request of method `m` may change something.
pub(crate) fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the `Authorization` header carries `token`, compared in
/// constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
}

/// The host name of a `Host` value, lowercase, without the port or the
/// brackets of an IPv6 address.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn host_allowed(name: &str, allowed: &[String]) -> bool {
    LOOPBACK_HOSTS.contains(&name) || allowed.iter().any(|a| a == name)
}

/// An origin is allowed when it is this server's own (`http(s)://` and the
/// `Host` asked for) or configured.
fn origin_allowed(origin: &str, headers: &HeaderMap, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin.eq_ignore_ascii_case(&format!("http://{host}"))
        || origin.eq_ignore_ascii_case(&format!("https://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_name_drops_the_port_and_ipv6_brackets() {
        assert_eq!(host_name("127.0.0.1:4173"), "127.0.0.1");
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name("LocalHost"), "localhost");
        assert_eq!(host_name("evil.example.:80"), "evil.example");
    }

    #[test]
    fn only_loopback_names_and_configured_hosts_are_accepted() {
        let allowed = vec!["box.lan".to_string()];
        assert!(host_allowed("localhost", &allowed));
        assert!(host_allowed("::1", &allowed));
        assert!(host_allowed("box.lan", &allowed));
        assert!(!host_allowed("evil.example", &allowed));
        assert!(!host_allowed("127.0.0.2", &allowed));
    }

    #[test]
    fn the_bearer_token_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(bearer_matches(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "bearer s3cret".parse().unwrap());
        assert!(bearer_matches(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert!(!bearer_matches(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "Basic s3cret".parse().unwrap());
        assert!(!bearer_matches(&h, "s3cret"));
    }

    #[test]
    fn the_token_may_come_as_a_websocket_subprotocol() {
        let mut h = HeaderMap::new();
        assert!(!is_websocket(&h));
        h.insert(header::UPGRADE, "WebSocket".parse().unwrap());
        assert!(is_websocket(&h));
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "car.v1, car.token.s3cret".parse().unwrap(),
        );
        assert!(subprotocol_matches(&h, "s3cret"));
        assert!(!subprotocol_matches(&h, "s3cre"));
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, "car.v1".parse().unwrap());
        assert!(!subprotocol_matches(&h, "s3cret"));
    }

    #[test]
    fn an_origin_is_the_servers_own_or_configured() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:4173".parse().unwrap());
        assert!(origin_allowed("http://127.0.0.1:4173", &h, &[]));
        assert!(!origin_allowed("http://evil.example", &h, &[]));
        assert!(!origin_allowed("null", &h, &[]));
        let allowed = vec!["https://ui.example/".to_string()];
        assert!(origin_allowed("https://ui.example", &h, &allowed));
    }
}
