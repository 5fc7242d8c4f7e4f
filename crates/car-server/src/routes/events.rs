//! `GET .../events?since=SEQ&limit=`: the ledger's events, oldest first
//! (for a user token below `admin`, without other users' `task_*` and
//! `exec_*` events: see `event_filter.rs`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::Extensions;
use car_core::SinceFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::event_filter::EventFilter;
use super::{blocking, to_json};
use crate::error::ApiError;
use crate::state::AppState;

/// Most events in one answer.
const MAX_EVENTS: usize = 1000;

/// A page of events.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// The first `seq` wanted (default 1: from the oldest kept).
    since: Option<u64>,
    /// How many (default 200, at most 1000).
    limit: Option<usize>,
}

/// A page of ledger events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events (`{v, seq, ts, run_id, type, ...}`, as in the ledger),
    /// oldest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// The `since` of the next page, when this one was cut at `limit`.
    pub next: Option<u64>,
}

/// The ledger's events from `seq` `since` on (for a user token below
/// `admin`, without the `task_*` and `exec_*` events of other users'
/// tasks and commands).
#[utoipa::path(get, path = "/api/v1/repos/{id}/events", tag = "events",
    params(("id" = String, Path, description = "repository id"), EventsQuery),
    responses((status = 200, body = EventPage), (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(q) = query?;
    let repo = state.repo(&id)?.clone();
    let mut filter = EventFilter::new(&crate::user_auth::caller_of(&ext));
    let since = q.since.unwrap_or(1);
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_EVENTS);
    let page = blocking(move || {
        let all = repo.events(&mut SinceFilter::new(None));
        let mut kept = all
            .into_iter()
            .filter(|e| e.seq.is_some_and(|s| s >= since))
            .filter(|e| filter.keeps_now(&id, &repo, e));
        let events: Vec<_> = kept.by_ref().take(limit).collect();
        let next = kept.next().and_then(|e| e.seq);
        Ok(EventPage {
            events: events.iter().map(to_json).collect::<Result<_, _>>()?,
            next,
        })
    })
    .await?;
    Ok(Json(page))
}
