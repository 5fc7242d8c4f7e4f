//! `POST /api/v1/hub/start` and `POST /api/v1/hub/stop`: what `car hub
//! start` and `car hub stop` do. Start queues the loops of `ids` (or of
//! every enabled repository with `all`) in request order, after those
//! queued already, and starts the hub's supervisor (this server's `car`,
//! detached) when none runs; it says for each id whether it was `queued`
//! now or `already` queued or running. Stop unqueues them and asks each
//! loop running to stop after its run (`now`: at once); it says for each
//! `unqueued`, `stopping`, `stopping_now`, `not_running`, or `error` with
//! the reason. A server in a repository answers 404 (not a hub).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::Extensions;
use axum::response::{IntoResponse, Response};
use car_core::Hub;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;

use super::{blocking, requester};
use crate::audit::AuditRepos;
use crate::error::ApiError;
use crate::state::AppState;

/// Which loops.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubLoops {
    /// Repository ids, in the order wanted.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Every enabled repository (start) or every repository (stop).
    #[serde(default)]
    pub all: bool,
    /// Stop: at once, not after the current run.
    #[serde(default)]
    pub now: bool,
}

/// What was done for one repository.
#[derive(Debug, Serialize, ToSchema)]
pub struct HubOutcome {
    /// Its id.
    pub id: String,
    /// `queued`, `already`; `unqueued`, `stopping`, `stopping_now`,
    /// `not_running`, `error`.
    pub outcome: String,
    /// Why, with `error`.
    pub error: Option<String>,
}

/// The answer of a start or a stop.
#[derive(Debug, Serialize, ToSchema)]
pub struct HubControl {
    /// One per repository asked for, in order.
    pub repos: Vec<HubOutcome>,
    /// The supervisor's pid, when one runs.
    pub supervisor_pid: Option<u32>,
    /// Whether this request started it.
    pub supervisor_started: bool,
}

fn outcome(id: &str, outcome: &str) -> HubOutcome {
    HubOutcome {
        id: id.into(),
        outcome: outcome.into(),
        error: None,
    }
}

/// The request's body (an empty body is `{}`).
fn body_of(body: Result<Json<HubLoops>, JsonRejection>) -> Result<HubLoops, ApiError> {
    match body {
        Ok(Json(b)) => Ok(b),
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(HubLoops::default()),
        Err(e) => Err(ApiError::bad_request(e.body_text())),
    }
}

fn answer(control: HubControl) -> Result<Response, ApiError> {
    let ids = control.repos.iter().map(|r| r.id.clone()).collect();
    let mut resp = Json(super::to_json(&control)?).into_response();
    resp.extensions_mut().insert(AuditRepos(ids));
    Ok(resp)
}

/// Queues loops and makes sure the hub's supervisor runs.
#[utoipa::path(post, path = "/api/v1/hub/start", tag = "hub",
    request_body = HubLoops,
    responses((status = 200, body = HubControl), (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody), (status = 409, body = crate::ErrorBody)))]
pub(crate) async fn start(
    State(state): State<AppState>,
    body: Result<Json<HubLoops>, JsonRejection>,
) -> Result<Response, ApiError> {
    let hub = state.require_hub()?.hub().clone();
    let body = body_of(body)?;
    if body.all && !body.ids.is_empty() {
        return Err(ApiError::bad_request("give ids or all, not both"));
    }
    let program = state.inner.program.clone();
    let control = blocking(move || {
        let ids: Vec<String> = if body.all {
            hub.repos()?
                .into_iter()
                .filter(|r| r.enabled)
                .map(|r| r.id)
                .collect()
        } else {
            body.ids
        };
        let asked = hub.request_start(&ids)?;
        let repos = ids
            .iter()
            .map(|id| {
                let done = if asked.queued.contains(id) {
                    "queued"
                } else {
                    "already"
                };
                outcome(id, done)
            })
            .collect();
        let started = hub.spawn_supervisor(&program)?;
        Ok(HubControl {
            repos,
            supervisor_pid: started.or(hub.supervisor_pid()?),
            supervisor_started: started.is_some(),
        })
    })
    .await?;
    answer(control)
}

/// Unqueues loops and stops those running.
#[utoipa::path(post, path = "/api/v1/hub/stop", tag = "hub",
    request_body = HubLoops,
    responses((status = 200, body = HubControl), (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn stop(
    State(state): State<AppState>,
    ext: Extensions,
    body: Result<Json<HubLoops>, JsonRejection>,
) -> Result<Response, ApiError> {
    let hub = state.require_hub()?.hub().clone();
    let peer = super::tasks::peer(&ext);
    let body = body_of(body)?;
    let ids: Vec<String> = match (body.all, body.ids.is_empty()) {
        (true, true) => Vec::new(),
        (true, false) => return Err(ApiError::bad_request("give ids or all, not both")),
        (false, true) => {
            return Err(ApiError::bad_request(
                "name the repositories to stop (ids) or give all: true",
            ));
        }
        (false, false) => body.ids,
    };
    let control = blocking(move || {
        let ids = if body.all {
            hub.repos()?.into_iter().map(|r| r.id).collect()
        } else {
            ids
        };
        for id in &ids {
            hub.entry(id)?;
        }
        let unqueued = hub.request_stop(&ids)?;
        let repos = ids
            .iter()
            .map(|id| stop_one(&hub, id, unqueued.contains(id), body.now, peer))
            .collect();
        Ok(HubControl {
            repos,
            supervisor_pid: hub.supervisor_pid()?,
            supervisor_started: false,
        })
    })
    .await?;
    answer(control)
}

fn stop_one(
    hub: &Hub,
    id: &str,
    unqueued: bool,
    now: bool,
    peer: Option<SocketAddr>,
) -> HubOutcome {
    let repo = match hub.repo(id) {
        Ok(r) => r,
        Err(e) => {
            return HubOutcome {
                error: Some(e.to_string()),
                ..outcome(id, "error")
            };
        }
    };
    if !Hub::loop_running(repo.root()) {
        return outcome(id, if unqueued { "unqueued" } else { "not_running" });
    }
    let control = repo.control(requester(peer));
    let (asked, done) = if now {
        (control.stop_now(), "stopping_now")
    } else {
        (control.stop_after_run(), "stopping")
    };
    match asked {
        Ok(_) => outcome(id, done),
        Err(e) => HubOutcome {
            error: Some(e.to_string()),
            ..outcome(id, "error")
        },
    }
}
