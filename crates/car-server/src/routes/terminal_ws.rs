//! `GET /api/v1/repos/{id}/terminals/{tid}/ws`: a terminal session over a
//! WebSocket, authenticated as the other WebSockets (`ws.rs`: the
//! subprotocols `car.v1, car.token.<token>`, or the session cookie from
//! this server's origin; the server answers with `car.v1`).
//!
//! - Server to client: binary frames of the PTY's output, first the
//!   recent output (up to 256 KiB, so a client that reattaches redraws),
//!   then the output as it comes. When the process ends, the rest of its
//!   output, then a close frame (1000) whose reason is `exit code N` or
//!   `exit signal NAME`. A client too slow to keep up is closed with 1013
//!   (reattach to get the replay); a server shutting down closes with 1001.
//! - Client to server: binary or text frames are typed into the terminal;
//!   a text frame `{"resize": {"cols": C, "rows": R}}` resizes it instead.
//! - While a client is attached the session is never idle; any number of
//!   clients may attach to one session and see the same output.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::sse::{HEARTBEAT, shut_down};
use super::terminals::MAX_SIDE;
use super::ws::PROTOCOL;
use crate::error::ApiError;
use crate::state::AppState;
use crate::terminal::Session;

/// Close code "going away": the server shuts down.
const GOING_AWAY: u16 = 1001;
/// Close code "try again later": the client fell behind the output.
const TRY_AGAIN: u16 = 1013;
/// Close code "normal": the process ended.
const NORMAL: u16 = 1000;

#[derive(Deserialize)]
struct Control {
    resize: Size,
}

#[derive(Deserialize)]
struct Size {
    cols: u16,
    rows: u16,
}

/// A terminal session's PTY, over a WebSocket.
#[utoipa::path(get, path = "/api/v1/repos/{id}/terminals/{tid}/ws", tag = "terminals",
    params(("id" = String, Path, description = "repository id"),
           ("tid" = String, Path, description = "terminal session id"),
           ("Sec-WebSocket-Protocol" = Option<String>, Header,
            description = "`car.v1, car.token.<token>` (or the session cookie)")),
    responses((status = 101, description = "a WebSocket of the PTY's bytes; see the module docs"),
              (status = 400, body = crate::ErrorBody, description = "not a WebSocket handshake"),
              (status = 404, body = crate::ErrorBody, description = "no such repository, or no live session with this id")))]
pub(crate) async fn ws(
    State(state): State<AppState>,
    Path((id, tid)): Path<(String, String)>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    state.repo(&id)?;
    let upgrade = upgrade.map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
    let session = state
        .inner
        .terminals
        .get(&id, &tid)
        .filter(|s| !s.ended())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no live terminal session {tid:?} in {id:?} (GET /api/v1/repos/{id}/terminals lists them)"
            ))
        })?;
    let shutdown = state.inner.shutdown.clone();
    Ok(upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            state.inner.sockets.send_modify(|n| *n += 1);
            session.attach();
            pump(socket, &session, shutdown).await;
            session.detach();
            state
                .inner
                .sockets
                .send_modify(|n| *n = n.saturating_sub(1));
        }))
}

/// Sends the output until the process ends, the client goes or the server
/// shuts down.
async fn pump(mut socket: WebSocket, session: &Arc<Session>, shutdown: watch::Receiver<bool>) {
    let (replay, mut live) = session.output.attach();
    if !replay.is_empty() && socket.send(Message::Binary(replay.into())).await.is_err() {
        return;
    }
    let mut exit = session.exit();
    let mut ping = tokio::time::interval(HEARTBEAT);
    ping.tick().await;
    let (code, reason) = loop {
        tokio::select! {
            chunk = live.recv() => match chunk {
                Ok(bytes) => {
                    if socket.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    break (TRY_AGAIN, "fell behind the output: reattach".to_string());
                }
                Err(RecvError::Closed) => break (NORMAL, "exit".to_string()),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(Message::Binary(b))) => session.write(b.to_vec()),
                Some(Ok(Message::Text(t))) => text(session, t.as_str()),
                Some(Ok(_)) => {}
            },
            () = Session::wait_ended(&mut exit) => {
                // The rest of the output, then the close.
                while let Ok(bytes) = live.try_recv() {
                    if socket.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                let reason = exit
                    .borrow()
                    .as_ref()
                    .map_or_else(|| "exit".to_string(), crate::terminal::Exit::close_reason);
                break (NORMAL, reason);
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            () = shut_down(shutdown.clone()) => {
                break (GOING_AWAY, "the server shuts down".to_string());
            }
        }
    };
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// A text frame: a resize, or input.
fn text(session: &Session, t: &str) {
    if t.starts_with('{')
        && let Ok(c) = serde_json::from_str::<Control>(t)
    {
        let Size { cols, rows } = c.resize;
        if (1..=MAX_SIDE).contains(&cols) && (1..=MAX_SIDE).contains(&rows) {
            let _ = session.resize((cols, rows));
        }
        return;
    }
    session.write(t.as_bytes().to_vec());
}
