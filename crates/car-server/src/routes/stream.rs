//! `GET .../stream`: server-sent events from the library's followers.
//!
//! - `event: event`, `id: <seq>`, `data:` a ledger event as in the ledger
//!   (`{v, seq, ts, run_id, type, ...}`): the loop's happenings and its
//!   state changes (`started`, `run_started`, `stopped`, ...). A client
//!   that reconnects with `Last-Event-ID: N` gets every event after `N`,
//!   with no gap and no duplicate. Without it, `?since=SEQ` starts at
//!   that `seq` (inclusive); with neither, the stream starts with the
//!   events appended from now on.
//! - `event: output`, no `id:`, `data:` `{run_id, offset, line}`: each
//!   line the agent prints (without its newline; `offset` is where the
//!   line starts in that run's output log), live: from the connection on,
//!   moving on to each new run. Output before the connection is at
//!   `GET .../runs/{n}/output`; a line is sent once its newline is
//!   written (or once 64 KiB of it are).
//! - a comment (`:`) every 15 s keeps the connection open.
//!
//! For a user token below `admin`, the `task_*` and `exec_*` events of
//! other users' tasks and commands are left out (`event_filter.rs`).
//!
//! The stream ends when the server shuts down. The same items go over a
//! WebSocket (`routes/ws.rs`) from [`open`].

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use axum::response::sse::Event;
use car_core::{EventEnvelope, Follow, OutputChunk, OutputOf, Repo};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use utoipa::IntoParams;

use super::event_filter::EventFilter;
use super::sse::shut_down;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest output line held back waiting for its newline.
const MAX_LINE: usize = 64 * 1024;

/// Where the stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// The first ledger `seq` wanted (`Last-Event-ID` wins over it).
    pub(crate) since: Option<u64>,
}

#[derive(Serialize)]
struct OutputLine<'a> {
    run_id: u64,
    offset: u64,
    line: &'a str,
}

/// Live events and output of the loop, as server-sent events.
#[utoipa::path(get, path = "/api/v1/repos/{id}/stream", tag = "events",
    params(("id" = String, Path, description = "repository id"),
           ("Last-Event-ID" = Option<u64>, Header, description = "the last ledger seq received"),
           StreamQuery),
    responses((status = 200, content_type = "text/event-stream",
               description = "`event` (id = seq) and `output` events; see the module docs"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let last = super::sse::last_event_id(&headers, "a ledger seq")?;
    let since = last.map(|n| n + 1).or(q.since);
    let filter = EventFilter::new(&crate::user_auth::caller_of(&ext));
    let items = open(&state, &id, since, filter).await?;
    let events = futures_util::stream::unfold(items, |mut rx| async move {
        rx.recv().await.map(|item| (Ok(item.to_sse()), rx))
    });
    Ok(super::sse::respond_with(events))
}

/// One item of a repository's live stream: a ledger event (with its seq)
/// or an output line, its data as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// A ledger event.
    Event { seq: Option<u64>, data: String },
    /// A line of the agent's output.
    Output { data: String },
}

impl Item {
    fn to_sse(&self) -> Event {
        match self {
            Item::Event { seq, data } => {
                let event = Event::default().event("event").data(data);
                match seq {
                    Some(seq) => event.id(seq.to_string()),
                    None => event,
                }
            }
            Item::Output { data } => Event::default().event("output").data(data),
        }
    }

    /// The item as one JSON object: `{"event", "id"?, "data"}` (the
    /// fields of its server-sent event).
    pub(crate) fn to_json_text(&self) -> String {
        match self {
            Item::Event {
                seq: Some(seq),
                data,
            } => format!(r#"{{"event":"event","id":{seq},"data":{data}}}"#),
            Item::Event { seq: None, data } => format!(r#"{{"event":"event","data":{data}}}"#),
            Item::Output { data } => format!(r#"{{"event":"output","data":{data}}}"#),
        }
    }
}

/// The live items of repository `id` from ledger `seq` `since` on
/// (inclusive; `None`: from now on) that `filter` keeps, until the
/// receiver is dropped or the server shuts down.
pub(crate) async fn open(
    state: &AppState,
    id: &str,
    since: Option<u64>,
    filter: EventFilter,
) -> Result<mpsc::Receiver<Item>, ApiError> {
    let repo = state.repo(id)?.clone();
    let ledger = Ledger {
        id: id.to_string(),
        repo: repo.clone(),
        filter,
    };
    // Both followers start before the answer goes out: "from now on"
    // means from this request, so an event appended once the client has
    // its answer (a loop it starts next) is never missed.
    let (events, output) = super::blocking(move || {
        let events = repo.follow_events(since);
        let output = repo.follow_output(OutputOf::Current, current_output_size(&repo));
        Ok((events, output))
    })
    .await?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(send_events(
        events,
        ledger,
        tx.clone(),
        state.inner.shutdown.clone(),
    ));
    tokio::spawn(send_output(output, tx, state.inner.shutdown.clone()));
    Ok(rx)
}

/// The sending end of a stream's items.
type Tx = mpsc::Sender<Item>;

/// The repository whose events a stream sends, and what it keeps.
struct Ledger {
    id: String,
    repo: Repo,
    filter: EventFilter,
}

async fn send_events(
    mut follow: Follow<EventEnvelope>,
    mut ledger: Ledger,
    tx: Tx,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            () = tx.closed() => return,
            () = shut_down(shutdown.clone()) => return,
            e = follow.next() => e,
        };
        let Some(env) = next else { return };
        let repo = ledger.repo.clone();
        if !ledger.filter.keeps(&ledger.id, || Some(repo), &env).await {
            continue;
        }
        let item = Item::Event {
            seq: env.seq,
            data: serde_json::to_string(&env).unwrap_or_default(),
        };
        if tx.send(item).await.is_err() {
            return;
        }
    }
}

/// The size of the latest run's output log: live output starts there.
fn current_output_size(repo: &Repo) -> u64 {
    repo.run_ids()
        .last()
        .and_then(|&n| repo.output_log(n))
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len())
}

async fn send_output(mut follow: Follow<OutputChunk>, tx: Tx, shutdown: watch::Receiver<bool>) {
    let mut lines = LineSplitter::default();
    loop {
        let next = tokio::select! {
            () = tx.closed() => return,
            () = shut_down(shutdown.clone()) => return,
            c = follow.next() => c,
        };
        let Some(chunk) = next else { return };
        for (run_id, offset, line) in lines.push(&chunk) {
            let text = String::from_utf8_lossy(&line);
            let data = OutputLine {
                run_id,
                offset,
                line: &text,
            };
            let item = Item::Output {
                data: serde_json::to_string(&data).unwrap_or_default(),
            };
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }
}

/// Cuts output chunks into lines: `(run, offset, line)` for each line
/// complete, or held back too long, or left when a new run starts.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    run_id: u64,
    start: u64,
    held: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn push(&mut self, chunk: &OutputChunk) -> Vec<(u64, u64, Vec<u8>)> {
        let mut out = Vec::new();
        if chunk.run_id != self.run_id || chunk.offset != self.start + self.held.len() as u64 {
            if !self.held.is_empty() {
                out.push((self.run_id, self.start, std::mem::take(&mut self.held)));
            }
            self.run_id = chunk.run_id;
            self.start = chunk.offset;
        }
        for &b in &chunk.bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.held);
                let len = line.len() as u64 + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                out.push((self.run_id, self.start, line));
                self.start += len;
            } else {
                self.held.push(b);
                if self.held.len() >= MAX_LINE {
                    let len = self.held.len() as u64;
                    out.push((self.run_id, self.start, std::mem::take(&mut self.held)));
                    self.start += len;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(run_id: u64, offset: u64, bytes: &[u8]) -> OutputChunk {
        OutputChunk {
            run_id,
            offset,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn output_is_cut_into_lines_with_their_offsets_across_chunks_and_runs() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(&chunk(1, 0, b"ab")), vec![]);
        assert_eq!(
            s.push(&chunk(1, 2, b"c\r\nde\n")),
            vec![(1, 0, b"abc".to_vec()), (1, 5, b"de".to_vec())]
        );
        assert_eq!(s.push(&chunk(1, 8, b"tail")), vec![]);
        // A new run: the held part of the old one goes out first.
        assert_eq!(
            s.push(&chunk(2, 0, b"x\n")),
            vec![(1, 8, b"tail".to_vec()), (2, 0, b"x".to_vec())]
        );
    }
}
