//! Where the server listens: the refusal to expose it without a token,
//! and the line that says where it is.

use std::net::{IpAddr, SocketAddr};

/// Why `car serve` will not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A non-loopback address without a token.
    #[error(
        "refusing to listen on {host}, which is not a loopback address, without a bearer token: set server.auth_token_env to the name of an environment variable holding one{}",
        env.as_deref().map(|e| format!(" ({e} is empty or unset)")).unwrap_or_default()
    )]
    NoToken {
        /// The host asked for.
        host: String,
        /// The variable named by `server.auth_token_env`, when one is.
        env: Option<String>,
    },
}

/// Whether `host` (a name or an address) means this machine only.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses to serve a non-loopback `host` without a token.
pub fn check_bind(host: &str, token: Option<&str>, token_env: &str) -> Result<(), BindError> {
    if is_loopback(host) || token.is_some_and(|t| !t.is_empty()) {
        return Ok(());
    }
    Err(BindError::NoToken {
        host: host.to_string(),
        env: (!token_env.is_empty()).then(|| token_env.to_string()),
    })
}

/// The URL the server answers at: `http://HOST:PORT/` or
/// `http://HOST:PORT/BASE/`, always ending with `/` (an IPv6 address in
/// brackets).
pub fn listening_url(addr: SocketAddr, base_path: &str) -> String {
    let base = base_path.trim_matches('/');
    let host = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    if base.is_empty() {
        format!("http://{host}:{}/", addr.port())
    } else {
        format!("http://{host}:{}/{base}/", addr.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_and_anything_else_does() {
        assert!(check_bind("127.0.0.1", None, "").is_ok());
        assert!(check_bind("::1", None, "").is_ok());
        assert!(check_bind("localhost", None, "").is_ok());
        let e = check_bind("0.0.0.0", None, "CAR_TOKEN")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.auth_token_env") && e.contains("CAR_TOKEN"),
            "{e}"
        );
        assert!(check_bind("0.0.0.0", Some(""), "").is_err());
        assert!(check_bind("0.0.0.0", Some("t"), "CAR_TOKEN").is_ok());
    }

    #[test]
    fn the_url_ends_with_a_slash_and_brackets_ipv6() {
        let a: SocketAddr = "127.0.0.1:4173".parse().unwrap();
        assert_eq!(listening_url(a, ""), "http://127.0.0.1:4173/");
        assert_eq!(listening_url(a, "/car"), "http://127.0.0.1:4173/car/");
        let b: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(listening_url(b, ""), "http://[::1]:80/");
    }
}
