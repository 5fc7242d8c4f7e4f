//! The live stream of `car serve` over a WebSocket: the same items as the
//! SSE stream, as JSON text messages; authenticated through a subprotocol
//! (never the URL) or the session cookie; resumed with `?since=`.

use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN};

/// A WebSocket client's socket.
pub(crate) type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens `path` (relative to the base) as a WebSocket with extra headers:
/// the socket and the subprotocol the server chose, or the HTTP status
/// of the refusal.
pub(crate) fn connect(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Socket, Option<String>), u16> {
    let url = format!("{}{path}", server.base).replacen("http://", "ws://", 1);
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    match tungstenite::connect(req) {
        Ok((socket, resp)) => {
            let proto = resp
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_string());
            Ok((socket, proto))
        }
        Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("ws {path}: {e}"),
    }
}

/// The subprotocols that carry the right token.
pub(crate) fn token_protocols() -> String {
    format!("car.v1, car.token.{TOKEN}")
}

/// The JSON messages of `socket`, on a channel (pings are answered by
/// the library as the socket is read).
pub(crate) fn messages(mut socket: Socket) -> mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(msg) = socket.read() {
            if let Message::Text(text) = msg {
                let value = serde_json::from_str(text.as_str()).unwrap();
                if tx.send(value).is_err() {
                    let _ = socket.close(None);
                    break;
                }
            }
        }
    });
    rx
}

/// Messages until one satisfies `until` (included); panics after `timeout`.
fn read_until(
    rx: &mpsc::Receiver<serde_json::Value>,
    timeout: Duration,
    until: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(m) => {
                let done = until(&m);
                got.push(m);
                if done {
                    return got;
                }
            }
            Err(_) => panic!("timed out; got {got:#?}"),
        }
    }
}

fn seqs(got: &[serde_json::Value]) -> Vec<u64> {
    got.iter()
        .filter(|m| m["event"] == "event")
        .map(|m| {
            assert_eq!(m["id"], m["data"]["seq"], "the id is the seq: {m}");
            m["id"].as_u64().unwrap()
        })
        .collect()
}

fn ledger(m: &serde_json::Value, kind: &str) -> bool {
    m["event"] == "event" && m["data"]["type"] == kind
}

#[test]
fn a_websocket_follows_a_loop_to_its_end_and_resumes_with_since_without_gap_or_duplicate() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("sleep 0.3\nout working\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n");
    let server = Server::start(&env, &[]);
    let path = format!("api/v1/repos/{REPO}/ws");
    let protocols = token_protocols();
    let (socket, proto) = connect(
        &server,
        &format!("{path}?since=1"),
        &[("Sec-WebSocket-Protocol", &protocols)],
    )
    .unwrap();
    assert_eq!(proto.as_deref(), Some("car.v1"));
    let first = messages(socket);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    let part = read_until(&first, Duration::from_secs(180), |m| {
        ledger(m, "run_finished")
    });
    drop(first);
    let part_messages = part.clone();
    let part = seqs(&part);
    let last = *part.last().unwrap();
    let (socket, _) = connect(
        &server,
        &format!("{path}?since={}", last + 1),
        &[("Sec-WebSocket-Protocol", &protocols)],
    )
    .unwrap();
    let second = messages(socket);
    let rest = read_until(&second, Duration::from_secs(120), |m| ledger(m, "stopped"));
    // The last run's output may come after the stop.
    let mut late = Vec::new();
    while let Ok(m) = second.recv_timeout(Duration::from_millis(500)) {
        late.push(m);
    }
    let lines: Vec<&str> = part_messages
        .iter()
        .chain(&rest)
        .chain(&late)
        .filter(|m| m["event"] == "output")
        .map(|m| m["data"]["line"].as_str().unwrap())
        .collect();
    // The log's own lines: `[ts] stdout: ...`.
    assert!(
        lines.iter().any(|l| l.ends_with("] stdout: working")),
        "live output lines come too: {lines:?}"
    );
    let rest = seqs(&rest);
    assert_eq!(rest[0], last + 1);
    let all: Vec<u64> = part.iter().chain(rest.iter()).copied().collect();
    assert_eq!(
        all,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    assert_eq!(env.state()["stop_reason"], "completed");
    // The same events as the SSE stream, in the same order.
    let sse = server.stream(REPO, "?since=1", &[]);
    let sse = crate::serve_client::read_until(&sse, Duration::from_secs(180), |k, d| {
        k == "event" && d["type"] == "stopped"
    });
    let sse: Vec<u64> = sse.iter().filter_map(|e| e.1).collect();
    assert_eq!(sse, all);
    // A since that is not a number is a 400 before any upgrade.
    assert_eq!(
        connect(
            &server,
            &format!("{path}?since=x"),
            &[("Sec-WebSocket-Protocol", &protocols)]
        )
        .err(),
        Some(400)
    );
}

#[test]
fn a_websocket_ends_with_a_close_when_the_server_shuts_down() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let protocols = token_protocols();
    let (mut socket, _) = connect(
        &server,
        &format!("api/v1/repos/{REPO}/ws"),
        &[("Sec-WebSocket-Protocol", &protocols)],
    )
    .unwrap();
    // A pong proves the server side is serving the socket.
    socket.send(Message::Ping(b"p".to_vec().into())).unwrap();
    loop {
        match socket.read().unwrap() {
            Message::Pong(p) if p.as_ref() == b"p" => break,
            _ => {}
        }
    }
    let pid = nix::unistd::Pid::from_raw(server.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    let close = loop {
        match socket.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    assert!(start.elapsed() < Duration::from_secs(5));
}
