//! User tokens (`car_u_<id>_<secret>`, see [`car_core::users`]): checked
//! against the server's `users.json`, read again whenever it changed (its
//! size, mtime or inode), so `car serve tokens revoke` and `users remove`
//! take effect on the next request. What a valid token may then do is
//! decided by `scope.rs`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use car_core::users::{Scope, TOKEN_PREFIX, Users};

use crate::error::ApiError;
use crate::guard::{Caller, UserCaller, WS_TOKEN_PREFIX, is_websocket};
use crate::state::AppState;

/// The users file and its last reading.
#[derive(Debug)]
pub(crate) struct UserTokens {
    path: PathBuf,
    cache: Mutex<Option<(Stamp, Arc<Users>)>>,
    /// When this server last recorded each token's use, by id.
    touched: Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// A token's last use is written to the file at most this often.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// What tells a changed file: size, mtime (ns) and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(u64, i128, u64);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some(Stamp(m.len(), mtime, ino))
}

impl UserTokens {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            cache: Mutex::new(None),
            touched: Mutex::default(),
        }
    }

    /// Records the use of token `id` in the file (`tokens list` shows
    /// it), at most once a minute per token; a failure is only logged.
    fn touch(&self, id: &str) {
        let now = std::time::Instant::now();
        {
            let mut touched = self
                .touched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if touched
                .get(id)
                .is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY)
            {
                return;
            }
            touched.insert(id.to_string(), now);
        }
        let gap = chrono::Duration::from_std(TOUCH_EVERY).unwrap_or_default();
        if let Err(e) = Users::touch(&self.path, id, chrono::Utc::now(), gap) {
            tracing::warn!(error = %e, "cannot record a user token's use");
        }
    }

    /// The users as the file holds them now.
    fn current(&self) -> Result<Arc<Users>, ApiError> {
        let now = stamp(&self.path);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some(now), Some((at, users))) = (now, cache.as_ref())
            && *at == now
        {
            return Ok(users.clone());
        }
        let users = Arc::new(Users::load(&self.path).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "users_file",
                e.to_string(),
            )
        })?);
        *cache = now.map(|n| (n, users.clone()));
        Ok(users)
    }
}

/// The user token a request carries: `Authorization: Bearer car_u_...`,
/// or the WebSocket subprotocol `car.token.car_u_...`.
pub(crate) fn offered(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| t.starts_with(TOKEN_PREFIX));
    if let Some(t) = bearer {
        return Some(t.to_string());
    }
    if !is_websocket(headers) {
        return None;
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix(WS_TOKEN_PREFIX))
        .find(|t| t.starts_with(TOKEN_PREFIX))
        .map(str::to_string)
}

/// The caller a user token makes; 401 saying why when it is not valid
/// (unknown, expired or revoked; never which part was wrong).
pub(crate) async fn check(state: &AppState, token: String) -> Result<Caller, ApiError> {
    let unauthorized = |why: String| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
    let Some(tokens) = state.inner.user_tokens.clone() else {
        return Err(unauthorized(
            "this server takes no user tokens (it was started without a users file)".into(),
        ));
    };
    let users = crate::routes::blocking({
        let tokens = tokens.clone();
        move || tokens.current()
    })
    .await?;
    match users.verify(&token, chrono::Utc::now()) {
        Ok(g) => {
            let id = g.token_id.clone();
            tokio::task::spawn_blocking(move || tokens.touch(&id));
            Ok(Caller::User(UserCaller {
                name: g.user,
                scope: g.scope,
                repo: g.repo,
            }))
        }
        Err(refused) => Err(unauthorized(refused.describe())),
    }
}

impl Caller {
    /// The server user this caller is, if a user token's.
    pub(crate) fn user(&self) -> Option<&UserCaller> {
        match self {
            Self::User(u) => Some(u),
            _ => None,
        }
    }

    /// Whether this caller may see a task or command of `owner` in the
    /// repository `repo`: its own (or any, with [`Self::sees_all`]), in
    /// the repository its token is confined to.
    pub(crate) fn may_see(&self, owner: Option<&str>, repo: &str) -> bool {
        let Some(u) = self.user() else { return true };
        let in_repo = u.repo.as_deref().is_none_or(|r| r == repo);
        in_repo && (u.scope == Scope::Admin || owner == Some(u.name.as_str()))
    }
}

impl Caller {
    /// Whether lists of tasks and commands are filtered for this caller.
    pub(crate) fn filters(&self) -> bool {
        self.user()
            .is_some_and(|u| u.scope != Scope::Admin || u.repo.is_some())
    }
}

/// 403 when a user token confined to a repository asks to start
/// something in another one.
pub(crate) fn confined(caller: &Caller, repo: &str) -> Result<(), ApiError> {
    match caller.user().and_then(|u| Some((u, u.repo.as_deref()?))) {
        Some((u, only)) if only != repo => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token of user {:?} is confined to the repository {only:?}: it may not start anything in {repo:?}",
                u.name
            ),
        )),
        _ => Ok(()),
    }
}

/// The caller of a request (put there by `check_auth`; `Open` in a unit
/// test's bare request).
pub(crate) fn caller_of(ext: &axum::http::Extensions) -> Caller {
    ext.get::<Caller>().cloned().unwrap_or(Caller::Open)
}
