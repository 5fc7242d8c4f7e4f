//! `GET /api/v1/execs/{id}/logs/stream?stream=stdout|stderr`: one of a
//! command's logs as server-sent events, from the library's follower.
//!
//! - `event: log`, `id: <offset>`, `data: {line, ts, stream}`: each line
//!   of the log without its newline (bytes that are not UTF-8 replaced by
//!   U+FFFD: `GET .../logs` has them unchanged; a line longer than 64 KiB
//!   comes in pieces); `ts` is when the server read it. The `id` is the
//!   byte offset where the next line starts: a client reconnecting with
//!   `Last-Event-ID` (or `?offset=`) resumes right after the last line it
//!   got, with no gap and no duplicate; without either it starts at the
//!   log's beginning.
//! - `event: done`, `data: {state, exit_code, signal}`: the command is over
//!   and all its log was sent; the stream then ends.
//! - a comment (`:`) every 15 s keeps the connection open.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::Event;
use car_core::{ExecStream, Follow, Repo, TaskOutput};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use utoipa::IntoParams;

use super::sse::{Tx, shut_down};
use super::{blocking, requester};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest line held back waiting for its newline.
const MAX_LINE: usize = 64 * 1024;

/// Which log, and where the stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecStreamQuery {
    /// `stdout` (default) or `stderr`.
    stream: Option<String>,
    /// The byte offset in the log to start at (`Last-Event-ID` wins over it).
    offset: Option<u64>,
}

/// A command's log lines, then its end, as server-sent events.
///
/// `log` `{line, ts, stream}` for each line of the log, its `id` the byte
/// offset where the next line starts (reconnect with `Last-Event-ID` or
/// `?offset=` to resume after it; from the start otherwise); `done`
/// `{state, exit_code, signal}` once the command is over and all of its
/// log was sent, then the stream ends. A comment every 15 s.
#[utoipa::path(get, path = "/api/v1/execs/{id}/logs/stream", tag = "execs",
    params(("id" = String, Path, description = "command id"),
           ("Last-Event-ID" = Option<u64>, Header, description = "the id of the last log event received"),
           ExecStreamQuery),
    responses((status = 200, content_type = "text/event-stream",
               description = "`log` (id = byte offset) and `done` events; see the module docs"),
              (status = 400, body = crate::ErrorBody, description = "a stream that is not stdout or stderr"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ExecStreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let which = super::execs::parse_stream(q.stream.as_deref())?;
    let last = super::sse::last_event_id(&headers, "a byte offset")?;
    let offset = last.or(q.offset).unwrap_or(0);
    let (_, repo, _) = super::execs::find(&state, &ext, &id).await?;
    let follow = repo.execs(requester(None)).follow_log(&id, which, offset)?;
    let (tx, rx) = mpsc::channel(256);
    let lines = LogLines::new(offset, which);
    tokio::spawn(send(
        repo,
        id,
        lines,
        follow,
        tx,
        state.inner.shutdown.clone(),
    ));
    Ok(super::sse::respond(rx))
}

async fn send(
    repo: Repo,
    id: String,
    mut lines: LogLines,
    mut follow: Follow<TaskOutput>,
    tx: Tx,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            () = tx.closed() => return,
            () = shut_down(shutdown.clone()) => return,
            c = follow.next() => c,
        };
        let Some(chunk) = next else { break };
        for event in lines.push(chunk.offset, &chunk.bytes) {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
    }
    // The command is over and all of its log was delivered.
    if let Some(event) = lines.rest()
        && tx.send(Ok(event)).await.is_err()
    {
        return;
    }
    let Ok(rec) = blocking(move || Ok(repo.execs(requester(None)).status(&id)?)).await else {
        return;
    };
    let done = json!({ "state": rec.state, "exit_code": rec.exit_code, "signal": rec.signal });
    let _ = tx
        .send(Ok(Event::default().event("done").data(done.to_string())))
        .await;
}

/// Cuts a log into `log` events, each with the offset where the next
/// line starts.
struct LogLines {
    /// Where the held bytes start.
    start: u64,
    held: Vec<u8>,
    stream: ExecStream,
}

impl LogLines {
    fn new(offset: u64, stream: ExecStream) -> Self {
        Self {
            start: offset,
            held: Vec::new(),
            stream,
        }
    }

    fn push(&mut self, offset: u64, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        if offset != self.start + self.held.len() as u64 {
            // The log was cut or replaced: start over where the data is.
            self.held.clear();
            self.start = offset;
        }
        for &b in bytes {
            self.held.push(b);
            if b == b'\n' || self.held.len() >= MAX_LINE {
                out.push(self.take());
            }
        }
        out
    }

    /// The last line, when the log does not end with a newline.
    fn rest(&mut self) -> Option<Event> {
        (!self.held.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Event {
        let raw = std::mem::take(&mut self.held);
        self.start += raw.len() as u64;
        let text = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(&raw));
        Event::default()
            .event("log")
            .id(self.start.to_string())
            .data(
                json!({ "line": text, "ts": now_utc(), "stream": self.stream.as_str() })
                    .to_string(),
            )
    }
}

/// Now in UTC, as `2026-01-02T03:04:05.678Z`.
fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let t = now_utc();
        assert_eq!(
            (t.len(), &t[10..11], &t[19..20], &t[23..]),
            (24, "T", ".", "Z"),
            "{t}"
        );
    }

    #[test]
    fn each_line_ends_where_the_next_starts_across_chunks() {
        let mut l = LogLines::new(10, ExecStream::Stderr);
        assert!(l.push(10, b"ab").is_empty());
        assert_eq!(l.push(12, b"c\n\nd").len(), 2);
        assert_eq!(l.start, 10 + 4 + 1);
        assert!(l.rest().is_some());
        assert_eq!(l.start, 16);
        assert!(l.rest().is_none());
        // A piece that does not follow on (the log was replaced).
        assert_eq!(l.push(3, b"x\n").len(), 1);
        assert_eq!(l.start, 5);
    }
}
