//! Following a command's log on the server line by line, from a byte
//! offset, across dropped connections: each line once, in order, until
//! the command ends.

use std::time::Duration;

use car_core::{ExecStream, TaskState};
use serde::Deserialize;

use crate::client::Client;
use crate::error::ClientError;
use crate::follow::{Flow, StreamItem};

/// One line of a command's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLine {
    /// The byte offset in the log where the line starts.
    pub offset: u64,
    /// The byte offset where the next line starts.
    pub next: u64,
    /// The line without its newline (bytes that are not UTF-8 replaced
    /// by U+FFFD; a line longer than 64 KiB comes in pieces).
    pub line: String,
    /// Whether the line ended with a newline in the log (the last line of
    /// a command, or a piece of a long line, may not).
    pub newline: bool,
}

/// How a command ended, as its stream's last event says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecEnd {
    /// Its state: succeeded, failed or cancelled.
    pub state: TaskState,
    /// Its exit code, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    #[serde(default)]
    pub signal: Option<i32>,
}

#[derive(Deserialize)]
struct LogData {
    line: String,
}

impl Client {
    /// Follows command `id`'s `stream` from byte `offset` (the start of a
    /// line), calling `on` with each line, until the command is over and
    /// all of its log was delivered: then its end. A dropped connection
    /// is opened again after the last line received (waiting 0.1 s, then
    /// up to 2 s between attempts), so no line is lost or repeated; a
    /// server unreachable for `give_up_after` in a row is an error.
    /// Returns `None` when `on` says stop.
    pub fn exec_follow<F>(
        &self,
        id: &str,
        stream: ExecStream,
        offset: u64,
        give_up_after: Duration,
        mut on: F,
    ) -> Result<Option<ExecEnd>, ClientError>
    where
        F: FnMut(&ExecLine) -> Result<Flow, ClientError>,
    {
        let path = self.exec_stream_path(id, stream, offset);
        let url = format!("{}{path}", self.url());
        let protocol = |reason: String| ClientError::Protocol {
            url: url.clone(),
            reason,
        };
        let mut pos = offset;
        let mut end = None;
        self.follow(&path, None, give_up_after, |item| {
            let StreamItem::Event(e) = item else {
                return Ok(Flow::Continue);
            };
            match e.event.as_str() {
                "log" => {
                    let next = e
                        .id
                        .as_deref()
                        .and_then(|i| i.parse::<u64>().ok())
                        .ok_or_else(|| protocol(format!("a log event without an offset: {e:?}")))?;
                    if next <= pos {
                        return Ok(Flow::Continue); // had it already
                    }
                    let data: LogData = serde_json::from_str(&e.data)
                        .map_err(|err| protocol(format!("a log event's data: {err}")))?;
                    let len = next - pos;
                    let line = ExecLine {
                        offset: pos,
                        next,
                        // Exactly the line's bytes: no newline; replaced
                        // bytes make the lengths differ: a whole line.
                        newline: len != data.line.len() as u64,
                        line: data.line,
                    };
                    pos = next;
                    on(&line)
                }
                "done" => {
                    let done: ExecEnd = serde_json::from_str(&e.data)
                        .map_err(|err| protocol(format!("a done event's data: {err}")))?;
                    end = Some(done);
                    Ok(Flow::Stop)
                }
                _ => Ok(Flow::Continue),
            }
        })?;
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// Answers one request with `body` as an event stream, then closes;
    /// returns the request line and its `Last-Event-ID`.
    fn serve_once(listener: &TcpListener, body: &str) -> (String, Option<String>) {
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let (mut first, mut last) = (String::new(), None);
        reader.read_line(&mut first).unwrap();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("last-event-id")
            {
                last = Some(v.trim().to_string());
            }
        }
        write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}"
        )
        .unwrap();
        (first.trim().to_string(), last)
    }

    fn log(id: u64, line: &str) -> String {
        format!("event: log\nid: {id}\ndata: {{\"line\":\"{line}\",\"stream\":\"stdout\"}}\n\n")
    }

    #[test]
    fn lines_resume_after_the_last_offset_once_each_until_done() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let first = serve_once(&listener, &format!("{}{}", log(7, "abc"), log(10, "de")));
            // A server that sends a line again is not believed twice.
            let again = format!(
                "{}{}event: done\ndata: {{\"state\":\"failed\",\"exit_code\":3,\"signal\":null}}\n\n",
                log(10, "de"),
                log(12, "xy")
            );
            (first, serve_once(&listener, &again))
        });
        let client = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let mut lines = Vec::new();
        let end = client
            .exec_follow("x-1", ExecStream::Stdout, 3, Duration::from_secs(5), |l| {
                lines.push(l.clone());
                Ok(Flow::Continue)
            })
            .unwrap();
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.offset, l.next, l.line.as_str(), l.newline))
            .collect();
        assert_eq!(
            got,
            [
                (3, 7, "abc", true),
                (7, 10, "de", true),
                (10, 12, "xy", false)
            ]
        );
        assert_eq!(
            end,
            Some(ExecEnd {
                state: TaskState::Failed,
                exit_code: Some(3),
                signal: None
            })
        );
        let ((req1, last1), (_, last2)) = server.join().unwrap();
        assert!(
            req1.contains("/api/v1/execs/x-1/logs/stream?stream=stdout&offset=3"),
            "{req1}"
        );
        assert_eq!((last1, last2), (None, Some("10".to_string())));
    }
}
