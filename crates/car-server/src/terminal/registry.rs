//! The live sessions of every repository served: opened within each
//! repository's cap (`server.terminal.max_sessions_per_repo`), watched
//! for idleness (`server.terminal.idle_timeout_seconds`), stopped when the
//! server shuts down, and forgotten once ended. The first look at a
//! repository's sessions ends those a previous server left running (its
//! PTYs died with it).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use car_core::{Repo, TerminalError};
use tokio::sync::watch;

use super::session::Session;
use crate::error::ApiError;

/// How often a session's idleness is checked and its activity recorded.
const TICK: Duration = Duration::from_secs(1);

/// The API error of a terminal error.
pub(crate) fn api_error(e: TerminalError) -> ApiError {
    match e {
        TerminalError::NotFound { .. } => ApiError::not_found(e.to_string()),
        TerminalError::Agent(_) => ApiError::new(StatusCode::CONFLICT, "config", e.to_string()),
        TerminalError::Record { .. } => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e.to_string())
        }
    }
}

/// The live sessions.
#[derive(Debug)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Held while a session starts, so two starts never both pass the cap.
    starting: tokio::sync::Mutex<()>,
    /// The repositories whose leftover sessions were ended.
    swept: Mutex<HashSet<PathBuf>>,
    /// How many sessions live (the shutdown waits for 0).
    live: watch::Sender<usize>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            sessions: Mutex::default(),
            starting: tokio::sync::Mutex::new(()),
            swept: Mutex::default(),
            live: watch::Sender::new(0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Ends the sessions a previous server of `repo` left running, once
    /// per repository.
    pub(crate) async fn sweep(&self, repo: &Repo) {
        if !lock(&self.swept).insert(repo.root().to_path_buf()) {
            return;
        }
        let repo = repo.clone();
        let _ = crate::routes::blocking(move || Ok(repo.terminals().sweep())).await;
    }

    /// The live session `tid` of repository `repo_id`.
    pub(crate) fn get(&self, repo_id: &str, tid: &str) -> Option<Arc<Session>> {
        lock(&self.sessions)
            .get(tid)
            .filter(|s| s.repo_id == repo_id)
            .cloned()
    }

    /// Starts a session in `repo` (`repo_id`) of `size` for `by`; 409
    /// naming the key when the repository has its cap of sessions.
    pub(crate) async fn open(
        self: &Arc<Self>,
        repo_id: &str,
        repo: Repo,
        size: (u16, u16),
        by: String,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Session>, ApiError> {
        self.sweep(&repo).await;
        let _starting = self.starting.lock().await;
        let cap = repo.config().server.terminal_max_sessions_per_repo;
        let open = lock(&self.sessions)
            .values()
            .filter(|s| s.repo_id == repo_id && !s.ended())
            .count();
        if open >= cap as usize {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "the repository {repo_id:?} has {open} terminal sessions open (server.terminal.max_sessions_per_repo: {cap}); stop one first"
                ),
            ));
        }
        let idle = repo.config().server.terminal_idle_timeout_seconds;
        let id = repo_id.to_string();
        let session = crate::routes::blocking(move || Session::start(repo, id, size, &by)).await?;
        lock(&self.sessions).insert(session.id.clone(), session.clone());
        self.live.send_modify(|n| *n += 1);
        let me = self.clone();
        let s = session.clone();
        tokio::spawn(async move {
            watch_over(&s, idle, shutdown).await;
            lock(&me.sessions).remove(&s.id);
            me.live.send_modify(|n| *n = n.saturating_sub(1));
        });
        Ok(session)
    }

    /// Resolves once no session lives.
    pub(crate) async fn all_ended(&self) {
        let _ = self.live.subscribe().wait_for(|n| *n == 0).await;
    }
}

/// Until the session ends: stops it when idle for `idle_secs` (0: never)
/// or when the server shuts down, and records its activity.
async fn watch_over(s: &Arc<Session>, idle_secs: u64, shutdown: watch::Receiver<bool>) {
    let mut exit = s.exit();
    let mut tick = tokio::time::interval(TICK);
    let idle = (idle_secs > 0).then(|| Duration::from_secs(idle_secs));
    loop {
        tokio::select! {
            () = Session::wait_ended(&mut exit) => return,
            _ = tick.tick() => {
                if idle.is_some_and(|t| s.idle_for(t)) {
                    let by = format!(
                        "car serve (idle for {idle_secs} s: server.terminal.idle_timeout_seconds)"
                    );
                    // Once ended, the next turn returns; else the next tick tries again.
                    if let Err(e) = s.stop(by, Some("idle")).await {
                        tracing::warn!(session = %s.id, "cannot stop an idle terminal session: {e:?}");
                    }
                    continue;
                }
                let s2 = s.clone();
                let _ = crate::routes::blocking(move || {
                    s2.flush();
                    Ok(())
                })
                .await;
            }
            () = crate::routes::shut_down(shutdown.clone()) => {
                if let Err(e) = s.stop("car serve (shutting down)".into(), Some("server_stopped")).await {
                    tracing::warn!(session = %s.id, "cannot stop a terminal session: {e:?}");
                }
                Session::wait_ended(&mut exit).await;
                return;
            }
        }
    }
}
