//! `GET /api/v1/tasks/{id}/stream`: a task's progress as server-sent
//! events, from the library's follower of its output log.
//!
//! - `event: status`, `data: {state, ts}`: where the task stands (first
//!   on connecting, then on each change); `ts` is when it got there.
//! - `event: log`, `id: <offset>`, `data: {line, ts, stream}`: each line of
//!   the task's output log (every turn's), without its `[ts] stream: `
//!   prefix; `stream` is `stdout`, `stderr`, `codex` (Codex's events, said
//!   shortly) or `car`; `ts` is the line's time. The `id` is the byte
//!   offset where the next line starts: a client reconnecting with
//!   `Last-Event-ID` (or `?offset=`) resumes right after the last line it
//!   got, with no gap and no duplicate; without either it starts at the
//!   log's beginning.
//! - `event: done`, `data: {state, exit_code}`: the task's turn is over
//!   and all its output was sent; the stream then ends (a reply starts a
//!   new turn: reconnect to follow it).
//! - a comment (`:`) every 15 s keeps the connection open.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::Event;
use car_core::{Repo, TaskRecord, TaskState};
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

/// Where the stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskStreamQuery {
    /// The byte offset in the output log to start at (`Last-Event-ID`
    /// wins over it).
    offset: Option<u64>,
}

/// A task's status, log lines and end, as server-sent events.
///
/// `status` `{state, ts}` first and on each change; `log` `{line, ts,
/// stream}` for each line of the output log (every turn's), its `id` the
/// byte offset where the next line starts (reconnect with `Last-Event-ID`
/// or `?offset=` to resume after it; from the start otherwise); `done`
/// `{state, exit_code}` once the turn is over and all of it was sent,
/// then the stream ends. A comment every 15 s.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/stream", tag = "tasks",
    params(("id" = String, Path, description = "task id"),
           ("Last-Event-ID" = Option<u64>, Header, description = "the id of the last log event received"),
           TaskStreamQuery),
    responses((status = 200, content_type = "text/event-stream",
               description = "`status`, `log` (id = byte offset) and `done` events; see the module docs"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<TaskStreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let last = super::sse::last_event_id(&headers, "a byte offset")?;
    let offset = last.or(q.offset).unwrap_or(0);
    let (_, repo, rec) = super::tasks::find(&state, &ext, &id).await?;
    let follow = repo.tasks(requester(None)).follow_output(&id, offset)?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(send(
        repo,
        id,
        rec,
        offset,
        follow,
        tx,
        state.inner.shutdown.clone(),
    ));
    Ok(super::sse::respond(rx))
}

/// The `status` event of `rec`: its state and when it got there.
fn status_event(rec: &TaskRecord) -> Event {
    let turn = rec.current_turn();
    let ts = match rec.state {
        TaskState::Queued => turn.map(|t| t.requested_at.clone()),
        TaskState::Running => turn.and_then(|t| t.started_at.clone()),
        _ => rec.finished_at.clone(),
    };
    Event::default()
        .event("status")
        .data(json!({ "state": rec.state, "ts": ts }).to_string())
}

async fn reload(repo: &Repo, id: &str) -> Option<TaskRecord> {
    let (repo, id) = (repo.clone(), id.to_string());
    blocking(move || Ok(repo.tasks(requester(None)).status(&id)?))
        .await
        .ok()
}

async fn send(
    repo: Repo,
    id: String,
    mut rec: TaskRecord,
    offset: u64,
    mut follow: car_core::Follow<car_core::TaskOutput>,
    tx: Tx,
    shutdown: watch::Receiver<bool>,
) {
    if tx.send(Ok(status_event(&rec))).await.is_err() {
        return;
    }
    let mut lines = LogLines::new(offset);
    // Whether the task was found over while its output was still being
    // sent: its end is told after the output, never before.
    let mut over = false;
    loop {
        let next = tokio::select! {
            () = tx.closed() => return,
            () = shut_down(shutdown.clone()) => return,
            c = follow.next() => c,
        };
        let Some(chunk) = next else { break };
        if rec.state == TaskState::Queued
            && !over
            && let Some(now) = reload(&repo, &id).await
            && now.state != rec.state
        {
            if now.state.is_done() {
                over = true;
            } else {
                rec = now;
                if tx.send(Ok(status_event(&rec))).await.is_err() {
                    return;
                }
            }
        }
        for event in lines.push(chunk.offset, &chunk.bytes) {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
    }
    // The turn is over and all its output was delivered.
    if let Some(event) = lines.rest()
        && tx.send(Ok(event)).await.is_err()
    {
        return;
    }
    let Some(now) = reload(&repo, &id).await else {
        return;
    };
    if now.state != rec.state && tx.send(Ok(status_event(&now))).await.is_err() {
        return;
    }
    let done = json!({ "state": now.state, "exit_code": now.exit_code });
    let _ = tx
        .send(Ok(Event::default().event("done").data(done.to_string())))
        .await;
}

/// Cuts the output log into `log` events; continuation lines (a Codex
/// message's, indented) keep the time and stream of the line they continue.
struct LogLines {
    /// Where the held bytes start.
    start: u64,
    held: Vec<u8>,
    ts: Option<String>,
    stream: String,
}

impl LogLines {
    fn new(offset: u64) -> Self {
        Self {
            start: offset,
            held: Vec::new(),
            ts: None,
            stream: "car".into(),
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
                let line = std::mem::take(&mut self.held);
                self.start += line.len() as u64;
                out.push(self.event(&line));
            }
        }
        out
    }

    /// The last line, when the log does not end with a newline.
    fn rest(&mut self) -> Option<Event> {
        if self.held.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.held);
        self.start += line.len() as u64;
        Some(self.event(&line))
    }

    fn event(&mut self, raw: &[u8]) -> Event {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        let line = match parse_line(text) {
            Some((ts, stream, line)) => {
                self.ts = Some(ts.to_string());
                stream.clone_into(&mut self.stream);
                line
            }
            None => text,
        };
        Event::default()
            .event("log")
            .id(self.start.to_string())
            .data(json!({ "line": line, "ts": self.ts, "stream": self.stream }).to_string())
    }
}

/// `[ts] stream: text` as `(ts, stream, text)`, `stream` being one word.
fn parse_line(text: &str) -> Option<(&str, &str, &str)> {
    let (ts, rest) = text.strip_prefix('[')?.split_once("] ")?;
    let (stream, line) = rest.split_once(": ").or_else(|| {
        rest.strip_suffix(':')
            .map(|s| (s, ""))
            .filter(|(s, _)| !s.is_empty())
    })?;
    if stream.is_empty()
        || !stream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    Some((ts, stream, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_is_split_into_its_time_stream_and_text() {
        assert_eq!(
            parse_line("[2026-01-01T00:00:00.000Z] stdout: hello: you"),
            Some(("2026-01-01T00:00:00.000Z", "stdout", "hello: you"))
        );
        assert_eq!(
            parse_line("[t] codex: turn completed"),
            Some(("t", "codex", "turn completed"))
        );
        assert_eq!(parse_line("    continued"), None);
        assert_eq!(parse_line("[t] run=3 stdout: x"), None);
    }

    #[test]
    fn each_line_ends_where_the_next_starts_across_chunks() {
        let mut l = LogLines::new(10);
        assert!(l.push(10, b"[t] stdout: a").is_empty());
        assert_eq!(l.push(23, b"b\n[u] stderr: c\n").len(), 2);
        assert_eq!(l.start, 10 + 14 + 15);
        assert_eq!(l.stream, "stderr");
        assert!(l.push(39, b"    more").is_empty());
        assert!(l.rest().is_some());
        assert_eq!((l.start, l.stream.as_str()), (47, "stderr"));
        assert!(l.rest().is_none());
    }
}
