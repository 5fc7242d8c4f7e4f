//! A client's errors in the command line's words, with advice and the
//! exit codes the local commands use (see lib.rs).

use car_client::ClientError;

use super::target::{REPO_VAR, Remote, Source};
use crate::{EXIT_FAILURE, EXIT_USAGE};

/// Prints `e` with its advice; returns the exit code.
pub(crate) fn report(remote: &Remote, e: &ClientError) -> u8 {
    errln!("car: error: {e}");
    if let Some(h) = advice(remote, e) {
        errln!("  hint: {h}");
    }
    exit_code(e)
}

/// The exit code of `e`: a mistake in how car was asked or configured
/// (the URL, the token, an unknown repository, task or run, bad input) is
/// a usage error; the rest (no server, a busy repository, a failure on the
/// server) are failures.
pub(crate) fn exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::BadUrl { .. }
        | ClientError::SeveralRepos { .. }
        | ClientError::UnknownRepo { .. } => EXIT_USAGE,
        ClientError::Api { kind, status, .. } => match kind.as_str() {
            "unauthorized"
            | "forbidden"
            | "not_found"
            | "bad_request"
            | "user"
            | "config"
            | "too_large"
            | "precondition_required" => EXIT_USAGE,
            _ if *status == 401 || *status == 403 || *status == 404 => EXIT_USAGE,
            _ => EXIT_FAILURE,
        },
        ClientError::Unreachable { .. } | ClientError::Protocol { .. } | ClientError::NoRepo => {
            EXIT_FAILURE
        }
        // A new kind of error: a failure, unless proven otherwise.
        _ => EXIT_FAILURE,
    }
}

pub(super) fn advice(remote: &Remote, e: &ClientError) -> Option<String> {
    let var = &remote.token_env;
    Some(match e {
        ClientError::BadUrl { .. } => {
            "give the server as http://HOST:PORT, with its base path if it has one \
             (what `car serve` prints: `car: listening on ...`)"
                .to_string()
        }
        ClientError::Unreachable { .. } if let Source::Machine(m) = &remote.source => {
            format!(
                "is `car serve` running on {m} (on its remote_port)? Check with `car remote \
                 check {m}` ({})",
                remote.client.url()
            )
        }
        ClientError::Unreachable { .. } => format!(
            "is `car serve` running there? Check the URL (--server or $CAR_SERVER); for a \
             server on another machine, forward its port: `ssh -L 4173:127.0.0.1:4173 HOST`, \
             then `car --server http://127.0.0.1:4173 ...` ({})",
            remote.client.url()
        ),
        ClientError::Api { status: 401, .. } if remote.token_set => format!(
            "the token in ${var} is not the server's: set ${var} to the value of the \
             variable its server.auth_token_env names"
        ),
        ClientError::Api { status: 401, .. } => format!(
            "set ${var} to the server's token (the value of the variable its \
             server.auth_token_env names); car never takes it on the command line"
        ),
        ClientError::Api { kind, hint, .. } => {
            if let Some(h) = hint
                .as_deref()
                .and_then(|h| serde_json::from_value::<car_core::Hint>(h.into()).ok())
            {
                format!("{} (with `{}`)", crate::report::advice(h), remote.command())
            } else if kind == "busy" {
                format!("wait for it, or stop it with `{} kill`", remote.command())
            } else if kind == "rate_limited" {
                "the server limits how often it is asked; wait a minute".to_string()
            } else {
                return None;
            }
        }
        ClientError::Protocol { .. } => {
            "is it a `car serve` of this version? Compare `car --version` with its /health"
                .to_string()
        }
        ClientError::NoRepo => "start `car serve` in a repository".to_string(),
        ClientError::SeveralRepos { .. } | ClientError::UnknownRepo { .. } => {
            format!("choose one with --server-repo ID (or ${REPO_VAR})")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, kind: &str) -> ClientError {
        ClientError::Api {
            status,
            kind: kind.into(),
            message: "m".into(),
            hint: None,
        }
    }

    #[test]
    fn errors_get_the_local_commands_exit_codes() {
        assert_eq!(exit_code(&api(401, "unauthorized")), EXIT_USAGE);
        assert_eq!(exit_code(&api(404, "not_found")), EXIT_USAGE);
        assert_eq!(exit_code(&api(400, "user")), EXIT_USAGE);
        assert_eq!(exit_code(&api(409, "busy")), EXIT_FAILURE);
        assert_eq!(exit_code(&api(500, "io")), EXIT_FAILURE);
        assert_eq!(exit_code(&api(429, "rate_limited")), EXIT_FAILURE);
        let down = ClientError::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(exit_code(&down), EXIT_FAILURE);
        let several = ClientError::SeveralRepos {
            ids: vec!["a".into(), "b".into()],
        };
        assert_eq!(exit_code(&several), EXIT_USAGE);
    }
}
