//! Where the server listens: the refusal to expose it without a token,
//! or to take user tokens without one, and the line that says where it
//! is.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use car_core::users::{Users, UsersError};

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
    /// Users in the users file, but no token: a request without any
    /// token would have full access, so a user token would limit nothing.
    #[error(
        "refusing to serve without a token while {file} holds {users} user{}: a request with no token would have full access, so a user token would limit nothing; set server.auth_token_env to the name of an environment variable holding a token{}, or remove the users (car serve users remove NAME)",
        if *users == 1 { "" } else { "s" },
        env.as_deref().map(|e| format!(" ({e} is empty or unset)")).unwrap_or_default()
    )]
    UsersWithoutToken {
        /// The users file.
        file: PathBuf,
        /// How many users it holds.
        users: usize,
        /// The variable named by `server.auth_token_env`, when one is.
        env: Option<String>,
    },
    /// The users file cannot be read, and there is no token: whether a
    /// token is needed cannot be told.
    #[error(
        "refusing to serve without a server token (server.auth_token_env) when the users file cannot be read: {0}"
    )]
    UsersFile(#[source] UsersError),
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

/// Refuses to serve without a token (none, or `token_env` empty or
/// unset) when the users file `users_file` holds a user: each user token
/// would mean nothing next to a request with no token at all.
pub fn check_users(
    token: Option<&str>,
    token_env: &str,
    users_file: &Path,
) -> Result<(), BindError> {
    if token.is_some_and(|t| !t.is_empty()) {
        return Ok(());
    }
    let users = Users::load(users_file).map_err(BindError::UsersFile)?;
    match users.users().len() {
        0 => Ok(()),
        n => Err(BindError::UsersWithoutToken {
            file: users_file.to_path_buf(),
            users: n,
            env: (!token_env.is_empty()).then(|| token_env.to_string()),
        }),
    }
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
    fn users_need_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users.json");
        // No file, or no user in it: no token needed.
        assert!(check_users(None, "CAR_TOKEN", &file).is_ok());
        Users::edit(&file, |u| {
            u.add_user("ann", car_core::users::Role::Viewer, chrono::Utc::now())
                .map(|_| ())
        })
        .unwrap();
        let e = check_users(None, "CAR_TOKEN", &file)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server.auth_token_env")
                && e.contains("CAR_TOKEN is empty or unset")
                && e.contains(&file.display().to_string())
                && e.contains("holds 1 user:"),
            "{e}"
        );
        assert!(check_users(Some(""), "", &file).is_err());
        assert!(check_users(Some("t"), "CAR_TOKEN", &file).is_ok());
        // A broken file: refused without a token, named.
        std::fs::write(&file, "{broken").unwrap();
        let e = check_users(None, "", &file).unwrap_err().to_string();
        assert!(e.contains("users.json is not a valid users file"), "{e}");
        assert!(check_users(Some("t"), "", &file).is_ok());
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
