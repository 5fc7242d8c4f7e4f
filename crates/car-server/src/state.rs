//! What every handler shares: the repositories served, the token, the
//! allow-lists, the program that runs loops and the shutdown signal.

use std::path::PathBuf;
use std::sync::Arc;

use car_core::{Hub, Repo};
use tokio::sync::{Mutex, watch};

use crate::hub_state::HubRepos;

/// One repository the server serves, with its id in the URLs.
#[derive(Debug, Clone)]
pub struct RepoEntry {
    /// The id in `/api/v1/repos/{id}` (see [`repo_id`]).
    pub id: String,
    /// The repository.
    pub repo: Repo,
}

/// The state of the app; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// The repositories served: fixed, or a hub's (see `hub_state.rs`).
    pub(crate) served: Served,
    /// The repositories' git positions, refreshed off the request path.
    pub(crate) git: crate::git_cache::GitCache,
    pub(crate) token: Option<String>,
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) program: PathBuf,
    /// Where tasks and commands may run besides their repository.
    pub(crate) allowed_roots: Vec<PathBuf>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Held around a doc's compare-and-write, so two writes through the
    /// server never both pass the same `If-Match`.
    pub(crate) doc_write: Mutex<()>,
    /// The rate limit on state-changing requests.
    pub(crate) limiter: crate::rate::Limiter,
    /// The browser sessions (with a token only).
    pub(crate) sessions: Option<crate::sessions::SessionStore>,
    /// The users and their tokens (`users.json`).
    pub(crate) user_tokens: Option<Arc<crate::user_auth::UserTokens>>,
    /// The one-time login codes not yet used.
    pub(crate) codes: crate::sessions::LoginCodes,
    /// How many WebSockets are open (the server's graceful shutdown does
    /// not wait for upgraded connections: [`AppState::sockets_closed`] does).
    pub(crate) sockets: watch::Sender<usize>,
    /// The live terminal sessions (stopped when the server shuts down).
    pub(crate) terminals: Arc<crate::terminal::Registry>,
    /// The chat requests whose agent runs in this server, by
    /// `<repo id>/<job id>`: discarding one stops its agent.
    pub(crate) doc_chats: std::sync::Mutex<std::collections::HashMap<String, car_core::StopHandle>>,
}

/// What a server serves.
#[derive(Debug)]
pub(crate) enum Served {
    /// The repositories given at the start (`car serve` in a repository).
    Repos(Arc<Vec<RepoEntry>>),
    /// Every repository and worktree of a hub's manifest, as it changes.
    Hub(Box<HubRepos>),
}

/// How to build an [`AppState`].
#[derive(Debug, Clone)]
pub struct StateOptions {
    /// The repositories served (without a hub).
    pub repos: Vec<RepoEntry>,
    /// The hub served: every repository and worktree of its manifest,
    /// under its manifest id, as the manifest changes (`repos` is then
    /// not used).
    pub hub: Option<Hub>,
    /// The bearer token every route but `GET /health` requires; `None`
    /// serves without one (loopback only: see [`crate::check_bind`]).
    pub token: Option<String>,
    /// Host names accepted in the `Host` header besides the loopback names
    /// (the bound host, `server.allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// Origins accepted on state-changing requests besides the server's
    /// own (`server.allowed_origins`).
    pub allowed_origins: Vec<String>,
    /// The `car` binary started for loops (`car --repo R run --quiet`).
    pub program: PathBuf,
    /// Directories besides each repository where tasks and commands may
    /// run (`server.allowed_roots`, resolved); a `cwd` is resolved
    /// (symlinks, `..`) and must fall under its repository or one of these.
    pub allowed_roots: Vec<PathBuf>,
    /// State-changing requests a token (or a peer, without a token) may
    /// make a minute (`server.rate_limit_per_minute`), in bursts of up to
    /// [`crate::BURST`]; 0: no limit.
    pub rate_limit_per_minute: u32,
    /// Where browser sessions are kept (see [`crate::SessionStore::file_of`]);
    /// used only with a token.
    pub sessions_file: Option<PathBuf>,
    /// The users file (see [`car_core::users::Users::file_of`]): its user
    /// tokens are taken, read again whenever it changes.
    pub users_file: Option<PathBuf>,
}

impl AppState {
    /// The state; `shutdown` turning `true` ends the live streams.
    pub fn new(opts: StateOptions, shutdown: watch::Receiver<bool>) -> Self {
        let token = opts.token.filter(|t| !t.is_empty());
        let sessions = opts
            .sessions_file
            .filter(|_| token.is_some())
            .map(crate::sessions::SessionStore::new);
        let served = match opts.hub {
            Some(hub) => Served::Hub(Box::new(HubRepos::new(hub))),
            None => Served::Repos(Arc::new(opts.repos)),
        };
        let state = Self {
            inner: Arc::new(Inner {
                served,
                git: crate::git_cache::GitCache::default(),
                token,
                allowed_hosts: opts
                    .allowed_hosts
                    .into_iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                allowed_origins: opts.allowed_origins,
                program: opts.program,
                allowed_roots: opts.allowed_roots,
                shutdown,
                doc_write: Mutex::new(()),
                limiter: crate::rate::Limiter::new(opts.rate_limit_per_minute),
                sessions,
                user_tokens: opts
                    .users_file
                    .map(|p| Arc::new(crate::user_auth::UserTokens::new(p))),
                codes: crate::sessions::LoginCodes::default(),
                sockets: watch::Sender::new(0),
                terminals: Arc::default(),
                doc_chats: std::sync::Mutex::default(),
            }),
        };
        // Terminal sessions a previous server left are over (their PTYs
        // died with it); a hub's repositories are swept when first asked.
        if let (Served::Repos(repos), Ok(rt)) =
            (&state.inner.served, tokio::runtime::Handle::try_current())
        {
            for r in repos.iter() {
                let (terminals, repo) = (state.inner.terminals.clone(), r.repo.clone());
                rt.spawn(async move { terminals.sweep(&repo).await });
            }
        }
        crate::git_cache::start_refresher(&state);
        state
    }

    /// Resolves once no WebSocket is open (after a shutdown, each sends
    /// its close frame and ends) and no terminal session lives (after a
    /// shutdown, each is stopped).
    pub async fn sockets_closed(&self) {
        let _ = self.inner.sockets.subscribe().wait_for(|n| *n == 0).await;
        self.inner.terminals.all_ended().await;
    }

    /// A one-time login link under `url` (the server's URL, ending with
    /// `/`): `<url>auth/link?code=<code>`, good once within
    /// [`crate::CODE_TTL`]; `None` without a token (nothing to log in to).
    pub fn login_link(&self, url: &str) -> Result<Option<String>, crate::SessionError> {
        if self.inner.sessions.is_none() {
            return Ok(None);
        }
        let code = self
            .inner
            .codes
            .issue(std::time::Instant::now())
            .map_err(crate::SessionError::Random)?;
        Ok(Some(format!("{url}auth/link?code={code}")))
    }

    /// The repositories served now.
    pub(crate) fn repos(&self) -> Arc<Vec<RepoEntry>> {
        match &self.inner.served {
            Served::Repos(r) => r.clone(),
            Served::Hub(h) => h.snapshot().served,
        }
    }

    /// The hub served, if this server serves one.
    pub(crate) fn hub(&self) -> Option<&HubRepos> {
        match &self.inner.served {
            Served::Hub(h) => Some(h),
            Served::Repos(_) => None,
        }
    }

    /// The hub served, or 404 "not a hub" (a server in a repository).
    pub(crate) fn require_hub(&self) -> Result<&HubRepos, crate::ApiError> {
        self.hub().ok_or_else(|| {
            crate::ApiError::not_found(
                "not a hub: this server serves a repository (start `car serve` at a hub root to serve a hub)",
            )
        })
    }

    /// The repository with id `id`.
    pub(crate) fn repo(&self, id: &str) -> Result<Repo, crate::ApiError> {
        let not_found = || crate::ApiError::not_found(format!("no repository with id {id:?}"));
        match &self.inner.served {
            Served::Repos(r) => r
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.repo.clone())
                .ok_or_else(not_found),
            Served::Hub(h) => {
                let snap = h.snapshot();
                let found = snap.all.iter().find(|r| r.entry.id == id);
                match found.map(|r| &r.repo) {
                    None => Err(not_found()),
                    Some(Ok(repo)) => Ok(repo.clone()),
                    Some(Err(why)) => Err(crate::ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        "unavailable",
                        format!("the repository {id:?} cannot be served: {why}"),
                    )),
                }
            }
        }
    }

    /// 409 when `id` is a hub repository with `enabled: false`.
    pub(crate) fn check_enabled(&self, id: &str) -> Result<(), crate::ApiError> {
        let Some(h) = self.hub() else { return Ok(()) };
        let snap = h.snapshot();
        match snap.all.iter().find(|r| r.entry.id == id) {
            Some(r) if !r.entry.enabled => Err(crate::ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "disabled",
                format!(
                    "the repository {id:?} is disabled in {} (enabled: false); enable it to change anything in it",
                    h.hub().manifest_path().display()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The id of the repository at `root` in URLs: its directory name, with
/// every character but ASCII letters, digits, `-`, `_` and `.` replaced
/// by `-` (`repo` when nothing is left).
pub fn repo_id(root: &std::path::Path) -> String {
    car_core::action_token::dir_id(root)
}

#[cfg(test)]
mod tests {
    use super::repo_id;
    use std::path::Path;

    #[test]
    fn a_repo_id_is_its_directory_name_made_safe_for_urls() {
        assert_eq!(repo_id(Path::new("/home/a/my-repo")), "my-repo");
        assert_eq!(repo_id(Path::new("/home/a/my repo/")), "my-repo");
        assert_eq!(repo_id(Path::new("/home/a/caf\u{e9}")), "caf-");
        assert_eq!(repo_id(Path::new("/")), "repo");
        assert_eq!(repo_id(Path::new("/x/..")), "repo");
    }
}
