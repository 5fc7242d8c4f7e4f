//! The audit trail: every state-changing request that passed the token
//! check is recorded, once answered, as one `audit` event in the ledger of
//! the repository it concerns: method, path (under the base path, no
//! query), status, `api`, the
//! peer's address and the user of a user token. Never a body, a header or
//! the token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use car_core::Repo;

use crate::guard::changes_state;
use crate::routes::{blocking, requester};
use crate::state::AppState;

/// Put in a response's extensions by a handler: the id of the repository
/// the request concerned, when its path does not say (a task's spawn).
#[derive(Debug, Clone)]
pub(crate) struct AuditRepo(pub(crate) String);

/// Put in a response's extensions by a handler whose request concerned
/// several repositories (a hub's start or stop): recorded in each.
#[derive(Debug, Clone)]
pub(crate) struct AuditRepos(pub(crate) Vec<String>);

/// Records the state-changing requests; see the module docs.
pub(crate) async fn audit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !changes_state(req.method()) {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    // Under the base path, without it or the query.
    let path = req.uri().path().to_string();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let user = crate::user_auth::caller_of(req.extensions())
        .user()
        .map(|u| u.name.clone());
    let by = move || requester(peer).as_user(user.clone());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let named = resp.extensions().get::<AuditRepo>().map(|r| r.0.clone());
    let many = resp.extensions().get::<AuditRepos>().map(|r| r.0.clone());
    let recorded = blocking(move || {
        for id in many.iter().flatten() {
            if let Ok(repo) = state.repo(id) {
                repo.control(by()).audit(&method, &path, status)?;
            }
        }
        if many.is_none()
            && let Some(repo) = concerned(&state, named.as_deref(), &path)
        {
            repo.control(by()).audit(&method, &path, status)?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = ?e, "cannot record the audit event");
    }
    resp
}

/// The repository a request concerned: the one its handler named, the one
/// in its path (`/repos/{id}/...`), the one holding the task or command in
/// its path (`/tasks/{id}...`, `/execs/{id}...`), or the only one served.
fn concerned(state: &AppState, named: Option<&str>, path: &str) -> Option<Repo> {
    let repos = state.repos();
    let by_id = |id: &str| repos.iter().find(|r| r.id == id).map(|r| r.repo.clone());
    if let Some(repo) = named.and_then(by_id) {
        return Some(repo);
    }
    let mut parts = path.split('/');
    while let Some(part) = parts.next() {
        match (part, parts.clone().next()) {
            ("repos", Some(id)) => {
                if let Some(repo) = by_id(id) {
                    return Some(repo);
                }
            }
            ("tasks", Some(id)) => {
                let holding = repos
                    .iter()
                    .find(|r| r.repo.tasks(requester(None)).status(id).is_ok());
                if let Some(r) = holding {
                    return Some(r.repo.clone());
                }
            }
            ("execs", Some(id)) => {
                let holding = repos
                    .iter()
                    .find(|r| r.repo.execs(requester(None)).status(id).is_ok());
                if let Some(r) = holding {
                    return Some(r.repo.clone());
                }
            }
            _ => {}
        }
    }
    match repos.as_slice() {
        [only] => Some(only.repo.clone()),
        _ => None,
    }
}
