//! `car remote exec logs`: a command's log as JSON lines on stdout.
//!
//! - `{"stream", "offset", "next", "line"}` for each line: `line` without
//!   its newline (bytes that are not UTF-8 replaced by U+FFFD), `offset`
//!   the byte offset where it starts in the log, `next` where the next one
//!   starts; `"partial": true` on a last line without a newline (and on
//!   the pieces of a line longer than 64 KiB).
//! - then `{"stream", "next", "done", "state", "exit_code", "signal"}`:
//!   where to go on from (`--offset NEXT`) and where the command stands.
//!
//! Without `-f`, the lines written so far (a last line still being
//! written is left for the next call, unless the command is over); with
//! `-f`, each line as it is written until the command ends, across
//! dropped connections (resumed at `next`, retried for a minute), so
//! every line comes once.

use std::time::Duration;

use anyhow::Result;
use car_client::{Client, ExecLine, Flow};
use car_core::{ExecStream, TaskState};
use serde_json::json;

use super::agent::print;

/// How long `-f` retries a server it cannot reach before giving up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// What the agent asked for.
pub(super) struct Ask {
    pub(super) id: String,
    pub(super) stream: ExecStream,
    pub(super) tail: Option<usize>,
    pub(super) offset: Option<u64>,
    pub(super) follow: bool,
}

pub(super) fn run(client: &Client, ask: &Ask) -> Result<u8> {
    let (id, stream) = (ask.id.as_str(), ask.stream);
    // The state before the log is read: when the command was over then,
    // the log read is all of it.
    let before = client.exec(id)?.record;
    let mut next = ask.offset.unwrap_or(0);
    if ask.tail.is_some() || !ask.follow {
        let piece = client.exec_logs(id, stream, ask.tail)?;
        let from = next.saturating_sub(piece.offset);
        let bytes = usize::try_from(from)
            .ok()
            .and_then(|f| piece.bytes.get(f..))
            .unwrap_or_default();
        let start = piece.offset.max(next);
        let whole = !ask.follow && before.state.is_done();
        next = print_lines(stream, start, bytes, whole);
    }
    if !ask.follow {
        print_end(stream, next, before.state, before.exit_code, before.signal);
        return Ok(crate::EXIT_OK);
    }
    let end = client.exec_follow(id, stream, next, GIVE_UP_AFTER, |l| {
        print_line(stream, l);
        next = l.next;
        Ok(Flow::Continue)
    })?;
    if let Some(end) = end {
        print_end(stream, next, end.state, end.exit_code, end.signal);
    }
    Ok(crate::EXIT_OK)
}

/// Prints the lines of `bytes` (starting at byte `start` of the log):
/// the last one without its newline only when `whole`. Returns where the
/// next line starts.
fn print_lines(stream: ExecStream, start: u64, bytes: &[u8], whole: bool) -> u64 {
    let mut at = start;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (text, len, newline) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], i + 1, true),
            None if whole => (rest, rest.len(), false),
            None => break,
        };
        let next = at + len as u64;
        print_line(
            stream,
            &ExecLine {
                offset: at,
                next,
                line: String::from_utf8_lossy(text).into_owned(),
                newline,
            },
        );
        at = next;
        rest = &rest[len..];
    }
    at
}

fn print_line(stream: ExecStream, l: &ExecLine) {
    let mut v = json!({ "stream": stream, "offset": l.offset, "next": l.next, "line": l.line });
    if !l.newline {
        v["partial"] = true.into();
    }
    print(&v);
}

fn print_end(
    stream: ExecStream,
    next: u64,
    state: TaskState,
    exit_code: Option<i32>,
    signal: Option<i32>,
) {
    print(&json!({
        "stream": stream,
        "next": next,
        "done": state.is_done(),
        "state": state,
        "exit_code": exit_code,
        "signal": signal,
    }));
}
