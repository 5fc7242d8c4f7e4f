//! The session cookie: `car_session=<secret>; HttpOnly; SameSite=Lax;
//! Path=<base>; Max-Age=<30 days>` (and `Secure` over https).
//!
//! Lax rather than Strict: a link to the server from another site (a
//! notification's link, a bookmark opened from a chat) then opens an
//! authenticated page. Lax sends the cookie only on top-level GET
//! navigations from other sites, GETs change nothing, answers to other
//! origins are unreadable (no CORS), and a state-changing request or a
//! WebSocket with the cookie must carry this server's own `Origin`
//! (see `guard.rs`): so Strict would add no protection here.

use axum::http::{HeaderMap, header};

use super::store::SESSION_DAYS;

/// The cookie's name.
pub const COOKIE: &str = "car_session";

/// The value of the session cookie among the request's `Cookie` headers.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Whether the request came over https: through a proxy that says so in
/// `X-Forwarded-Proto` (the server itself speaks plain http). A client
/// lying about it only gets a cookie its own browser will not send back
/// over http.
pub(crate) fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value for a new session.
pub(crate) fn set_cookie(secret: &str, base_path: &str, secure: bool) -> String {
    let path = if base_path.is_empty() { "/" } else { base_path };
    let max_age = SESSION_DAYS * 24 * 60 * 60;
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={secret}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(session_cookie(&h), None);
        h.append(header::COOKIE, "a=1; car_session=abc; b=2".parse().unwrap());
        assert_eq!(session_cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "x=1".parse().unwrap());
        h.append(header::COOKIE, "car_session=def".parse().unwrap());
        assert_eq!(session_cookie(&h), Some("def"));
    }

    #[test]
    fn the_cookie_is_http_only_lax_under_the_base_and_secure_over_https() {
        let c = set_cookie("s", "/car", false);
        assert!(
            c.starts_with("car_session=s; HttpOnly; SameSite=Lax; Path=/car;"),
            "{c}"
        );
        assert!(!c.contains("Secure"));
        assert!(set_cookie("s", "", true).contains("Path=/; Max-Age=2592000; Secure"));
        let mut h = HeaderMap::new();
        assert!(!over_https(&h));
        h.insert("x-forwarded-proto", "HTTPS".parse().unwrap());
        assert!(over_https(&h));
    }
}
