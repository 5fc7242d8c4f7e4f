//! The checks every request passes: the `Host` header against the
//! allow-list (no DNS rebinding), the bearer token (every route but
//! `GET /health`), and the `Origin` of a state-changing request. No CORS
//! header is ever sent: browsers on other origins cannot read answers.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
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

/// Requires the bearer token, then a same or allowed `Origin` on a
/// state-changing request.
pub(crate) async fn check_auth(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.inner.token
        && !bearer_matches(req.headers(), token)
    {
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
        .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    if changes_state(req.method())
        && let Some(origin) = req.headers().get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, req.headers(), &state.inner.allowed_origins) {
            return forbidden(format!(
                "the Origin {origin:?} may not change anything here"
            ))
            .into_response();
        }
    }
    next.run(req).await
}

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
