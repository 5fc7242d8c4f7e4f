//! `GET /api/v1/stream`: one stream of the ledger events of every
//! repository served (a hub's, or the one repository), built on
//! [`car_core::follow_many`].
//!
//! - `event: event`, `id:` a resume token (a small JSON object of
//!   repository id to the last `seq` sent, [`ResumeToken::encode`]),
//!   `data:` a ledger event with `repo` naming its repository. A client
//!   that reconnects with that id in `Last-Event-ID` gets every event after
//!   it, with no gap and no duplicate; a repository the token does not name
//!   is sent from the start of its ledger.
//! - Without `Last-Event-ID`, `?since=now` (the default) starts with the
//!   events appended from this request on, `?since=all` with every stored
//!   event.
//! - A repository registered while the stream is open joins it within
//!   [`JOIN_CHECK`]: with the events it appended since the last look
//!   before it was there (every event with `?since=all`).
//! - For a user token below `admin`, the `task_*` and `exec_*` events of
//!   other users' tasks and commands are left out (`event_filter.rs`).
//! - A comment every 15 s keeps the connection open; the stream ends when
//!   the server shuts down. Events of one repository come in `seq` order;
//!   across repositories, in the order they are found.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use axum::response::sse::Event;
use car_core::{EventEnvelope, Follow, Repo, ResumeToken};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::SelectAll;
use serde::Deserialize;
use utoipa::IntoParams;

use super::blocking;
use super::event_filter::EventFilter;
use super::sse::{Tx, respond, shut_down};
use crate::error::ApiError;
use crate::state::AppState;

/// How often the stream looks for repositories registered since.
pub(crate) const JOIN_CHECK: Duration = Duration::from_secs(1);

/// Where the stream starts without `Last-Event-ID`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MergedQuery {
    /// `now` (the default): the events appended from now on; `all`: every
    /// stored event first.
    pub(crate) since: Option<String>,
}

/// Every repository's events as one stream of server-sent events.
#[utoipa::path(get, path = "/api/v1/stream", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "the id of the last event received (a resume token)"),
           MergedQuery),
    responses((status = 200, content_type = "text/event-stream",
               description = "`event` events naming their `repo`, each id a resume token; see the module docs"),
              (status = 400, body = crate::ErrorBody)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    query: Result<Query<MergedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let filter = EventFilter::new(&crate::user_auth::caller_of(&ext));
    let from_start = match q.since.as_deref() {
        None | Some("now") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "since must be `now` or `all`, not {other:?}"
            )));
        }
    };
    let resume = match headers
        .get("last-event-id")
        .filter(|v| !v.as_bytes().trim_ascii().is_empty())
    {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| ResumeToken::decode(t.trim()).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID must be the id of an event of this stream (a JSON object of repository id to seq)",
                    )
                })?,
        ),
    };
    let repos: Vec<(String, Repo)> = state
        .repos()
        .iter()
        .map(|e| (e.id.clone(), e.repo.clone()))
        .collect();
    let connected_at = Utc::now();
    // The followers start before the answer goes out: "from now on" means
    // from this request.
    let (follow, ids, token) = blocking(move || {
        let token = match resume {
            Some(t) => t,
            None if from_start => ResumeToken::new(),
            None => ends_of(&repos),
        };
        let ids = repos.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
        Ok((car_core::follow_many(repos, Some(&token)), ids, token))
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let pump = Pump {
        state: state.clone(),
        follows: SelectAll::new(),
        token,
        known: ids,
        cutoff: HashMap::new(),
        from_start,
        last_look: connected_at,
        filter,
    };
    tokio::spawn(pump.run(follow, tx));
    Ok(respond(rx))
}

/// What one open stream keeps.
struct Pump {
    state: AppState,
    follows: SelectAll<Follow<EventEnvelope>>,
    token: ResumeToken,
    /// The repositories followed.
    known: Vec<String>,
    /// For a repository that joined: events older than this are not sent.
    cutoff: HashMap<String, DateTime<Utc>>,
    from_start: bool,
    /// When the repositories were last looked at.
    last_look: DateTime<Utc>,
    /// The events the caller sees.
    filter: EventFilter,
}

impl Pump {
    async fn run(mut self, first: Follow<EventEnvelope>, tx: Tx) {
        self.follows.push(first);
        let shutdown = self.state.inner.shutdown.clone();
        let mut tick = tokio::time::interval(JOIN_CHECK);
        loop {
            tokio::select! {
                () = tx.closed() => return,
                () = shut_down(shutdown.clone()) => return,
                _ = tick.tick() => self.join_new().await,
                Some(event) = self.follows.next(), if !self.follows.is_empty() => {
                    self.token.advance(&event);
                    if self.too_old(&event) || !self.sees(&event).await {
                        continue;
                    }
                    let sse = Event::default()
                        .event("event")
                        .id(self.token.encode())
                        .data(serde_json::to_string(&event).unwrap_or_default());
                    if tx.send(Ok::<_, Infallible>(sse)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Follows the repositories registered since the last look.
    async fn join_new(&mut self) {
        let now = Utc::now();
        let new: Vec<(String, Repo)> = self
            .state
            .repos()
            .iter()
            .filter(|e| !self.known.contains(&e.id))
            .map(|e| (e.id.clone(), e.repo.clone()))
            .collect();
        if !new.is_empty() {
            for (id, _) in &new {
                self.known.push(id.clone());
                if !self.from_start {
                    self.cutoff.insert(id.clone(), self.last_look);
                }
            }
            let token = self.token.clone();
            let follow = blocking(move || Ok(car_core::follow_many(new, Some(&token)))).await;
            if let Ok(f) = follow {
                self.follows.push(f);
            }
        }
        self.last_look = now;
    }

    /// Whether the caller sees `event` (of the repository it names).
    async fn sees(&mut self, event: &EventEnvelope) -> bool {
        let id = event.repo.clone().unwrap_or_default();
        let state = &self.state;
        self.filter.keeps(&id, || state.repo(&id).ok(), event).await
    }

    /// Whether `event` is of a repository that joined after it happened.
    fn too_old(&self, event: &EventEnvelope) -> bool {
        let Some(cutoff) = event.repo.as_ref().and_then(|r| self.cutoff.get(r)) else {
            return false;
        };
        DateTime::parse_from_rfc3339(&event.ts).is_ok_and(|ts| ts.with_timezone(&Utc) < *cutoff)
    }
}

/// A token at the end of every repository's ledger now (a repository with
/// an empty ledger is not named: all its events are new).
fn ends_of(repos: &[(String, Repo)]) -> ResumeToken {
    let ends: HashMap<&str, u64> = repos
        .iter()
        .filter_map(|(id, repo)| Some((id.as_str(), repo.last_event_seq()?)))
        .collect();
    serde_json::to_string(&ends)
        .ok()
        .and_then(|t| ResumeToken::decode(&t).ok())
        .unwrap_or_default()
}
