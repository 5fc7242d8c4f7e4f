//! Following a server-sent event stream across dropped connections: the
//! reader reconnects with `Last-Event-ID` (the id of the last event
//! received), so the server sends what follows it, with no gap and no
//! duplicate, until the caller has what it wants.

use std::io::BufReader;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::ClientError;
use crate::sse::{Item, SseEvent, SseReader};

/// What a follower is told.
#[derive(Debug)]
pub enum StreamItem<'a> {
    /// An event.
    Event(&'a SseEvent),
    /// The server's heartbeat: the connection is alive and nothing
    /// happened.
    Heartbeat,
    /// The stream is connected: first (`again` false: a good time to
    /// start what the follower waits for), or again after it dropped
    /// (what happened meanwhile follows, when the stream's ids allow it).
    Connected {
        /// Whether it had been connected before.
        again: bool,
    },
}

/// Whether to go on following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop: return from [`Client::follow`].
    Stop,
}

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Client {
    /// Follows the event stream at `path` (relative to the base, with its
    /// query), starting after event `last_id` when given, calling `on` for
    /// each connection, event and heartbeat, until `on` says stop.
    ///
    /// A connection that drops, or ends, or stays silent longer than the
    /// heartbeat allows, is opened again with `Last-Event-ID`; a server
    /// that cannot be reached for `give_up_after` in a row is an error, as
    /// is any error answer (a wrong token, an unknown repository) and a
    /// server not reachable at the first attempt.
    pub fn follow<F>(
        &self,
        path: &str,
        mut last_id: Option<String>,
        give_up_after: Duration,
        mut on: F,
    ) -> Result<(), ClientError>
    where
        F: FnMut(StreamItem<'_>) -> Result<Flow, ClientError>,
    {
        let mut connected_once = false;
        let mut failing_since: Option<Instant> = None;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.open_stream(path, last_id.as_deref()) {
                Ok(resp) => {
                    failing_since = None;
                    backoff = FIRST_BACKOFF;
                    let again = connected_once;
                    connected_once = true;
                    if on(StreamItem::Connected { again })? == Flow::Stop {
                        return Ok(());
                    }
                    let mut reader = SseReader::new(BufReader::new(resp.into_reader()));
                    // Ends at the end of the stream or a broken connection.
                    while let Ok(Some(item)) = reader.next_item() {
                        let flow = match &item {
                            Item::Event(e) => {
                                if let Some(id) = &e.id {
                                    last_id = Some(id.clone());
                                }
                                on(StreamItem::Event(e))?
                            }
                            Item::Comment => on(StreamItem::Heartbeat)?,
                        };
                        if flow == Flow::Stop {
                            return Ok(());
                        }
                    }
                }
                Err(e @ ClientError::Unreachable { .. }) => {
                    if !connected_once {
                        return Err(e);
                    }
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= give_up_after {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// Answers one request on `listener` with `body` as an event stream,
    /// then closes; returns the request's `Last-Event-ID`.
    fn serve_once(listener: &TcpListener, body: &str) -> Option<String> {
        let (mut conn, _) = listener.accept().unwrap();
        let mut last = None;
        let mut reader = BufReader::new(conn.try_clone().unwrap());
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
        last
    }

    #[test]
    fn a_dropped_stream_is_resumed_after_the_last_event_received() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let first = serve_once(&listener, ":\n\nid: 1\ndata: a\n\nid: 2\ndata: b\n\n");
            let second = serve_once(&listener, "id: 3\ndata: c\n\n");
            (first, second)
        });
        let client = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let mut seen = Vec::new();
        client
            .follow("s", None, Duration::from_secs(5), |item| {
                seen.push(match item {
                    StreamItem::Event(e) => e.data.clone(),
                    StreamItem::Heartbeat => "heartbeat".into(),
                    StreamItem::Connected { again } => format!("connected again={again}"),
                });
                Ok(if seen.last().is_some_and(|s| s == "c") {
                    Flow::Stop
                } else {
                    Flow::Continue
                })
            })
            .unwrap();
        assert_eq!(
            seen,
            [
                "connected again=false",
                "heartbeat",
                "a",
                "b",
                "connected again=true",
                "c"
            ]
        );
        assert_eq!(server.join().unwrap(), (None, Some("2".to_string())));
    }
}
