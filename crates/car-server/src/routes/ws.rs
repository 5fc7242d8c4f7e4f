//! `GET .../ws`: the repository's live stream (`routes/stream.rs`) over a
//! WebSocket, one JSON text message per item, the fields of its
//! server-sent event: `{"event": "event", "id": SEQ, "data": {ledger
//! event}}` or `{"event": "output", "data": {run_id, offset, line}}`.
//!
//! - Resume with `?since=SEQ` (inclusive): the last `id` received plus one
//!   gives everything after it, with no gap and no duplicate. Without it
//!   the stream starts with the events appended from now on.
//! - Authentication: the client offers the subprotocols `car.v1,
//!   car.token.<token>` (a browser's `new WebSocket(url, ["car.v1",
//!   "car.token." + token])`), or sends its session cookie from this
//!   server's own origin; the server answers with `car.v1`. A token never
//!   goes in the URL, where logs would keep it.
//! - For a user token below `admin`, other users' `task_*` and `exec_*`
//!   events are left out, as in the SSE stream.
//! - A ping every 15 s keeps the connection open; the server closes it
//!   (code 1001) when it shuts down. What the client sends is ignored.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use tokio::sync::{mpsc, watch};

use super::sse::{HEARTBEAT, shut_down};
use super::stream::{Item, StreamQuery, open};
use crate::error::ApiError;
use crate::state::AppState;

/// The subprotocol the server speaks.
pub(crate) const PROTOCOL: &str = "car.v1";

/// Close code "going away": the server shuts down.
const GOING_AWAY: u16 = 1001;

/// Live events and output of the loop, over a WebSocket.
#[utoipa::path(get, path = "/api/v1/repos/{id}/ws", tag = "events",
    params(("id" = String, Path, description = "repository id"),
           ("Sec-WebSocket-Protocol" = Option<String>, Header,
            description = "`car.v1, car.token.<token>` (or the session cookie)"),
           StreamQuery),
    responses((status = 101, description = "a WebSocket of JSON messages; see the module docs"),
              (status = 400, body = crate::ErrorBody, description = "not a WebSocket handshake"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn ws(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    query: Result<Query<StreamQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let upgrade = upgrade.map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
    // The followers start before the handshake's answer, as the SSE
    // stream's: nothing appended after it is missed.
    let filter = super::event_filter::EventFilter::new(&crate::user_auth::caller_of(&ext));
    let items = open(&state, &id, q.since, filter).await?;
    let shutdown = state.inner.shutdown.clone();
    Ok(upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            state.inner.sockets.send_modify(|n| *n += 1);
            pump(socket, items, shutdown).await;
            state
                .inner
                .sockets
                .send_modify(|n| *n = n.saturating_sub(1));
        }))
}

/// Sends the items until the client goes or the server shuts down.
async fn pump(
    mut socket: WebSocket,
    mut items: mpsc::Receiver<Item>,
    shutdown: watch::Receiver<bool>,
) {
    let mut ping = tokio::time::interval(HEARTBEAT);
    ping.tick().await;
    loop {
        tokio::select! {
            item = items.recv() => {
                let Some(item) = item else { break };
                if socket.send(Message::Text(item.to_json_text().into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            () = shut_down(shutdown.clone()) => break,
        }
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: GOING_AWAY,
            reason: "the server shuts down".into(),
        })))
        .await;
}
