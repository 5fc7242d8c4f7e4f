//! What the two event streams (a repository's and a task's) share: the
//! `Last-Event-ID` header, the response with its heartbeat and headers,
//! and the end of the stream at shutdown.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, watch};

use crate::error::ApiError;

/// The heartbeat's period.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);

/// The sending end of a stream's events.
pub(crate) type Tx = mpsc::Sender<Result<Event, Infallible>>;

/// The `Last-Event-ID` header as a number (`what` names it in the error);
/// an empty one is no id (as a browser's EventSource means it).
pub(crate) fn last_event_id(headers: &HeaderMap, what: &str) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers
        .get("last-event-id")
        .filter(|v| !v.as_bytes().trim_ascii().is_empty())
    else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(format!("Last-Event-ID must be {what}")))
}

/// The answer that streams what arrives on `rx`, with a comment heartbeat
/// and headers that keep proxies from buffering it.
pub(crate) fn respond(rx: mpsc::Receiver<Result<Event, Infallible>>) -> Response {
    respond_with(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }))
}

/// The answer that streams `events`, with a comment heartbeat and headers
/// that keep proxies from buffering it.
pub(crate) fn respond_with(
    events: impl futures_util::Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response {
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Resolves when the server shuts down (never if it cannot tell).
pub(crate) async fn shut_down(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}
