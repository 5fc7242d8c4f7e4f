//! Terminal sessions of `car serve`: a PTY running `codex.binary` (here
//! `/bin/sh`, which echoes) over a WebSocket; replay on reattach, resize,
//! the cap per repository, the idle timeout, `car sessions` and `car
//! stop-session`, and no process left after a server's end.

use std::time::{Duration, Instant};

use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;

use crate::common::{TestEnv, alive};
use crate::serve_client::{REPO, Server, TOKEN};
use crate::serve_ws::{Socket, connect, token_protocols};

const TERMINALS: &str = "api/v1/repos/repo/terminals";

/// A repository whose terminal runs `sh` with `extra` config.
fn env_with(extra: &str) -> TestEnv {
    let env = TestEnv::new();
    env.config("codex:\n  binary: /bin/sh\n  terminal_args: []\n");
    if !extra.is_empty() {
        env.config(extra);
    }
    env
}

/// Starts a session: its id and pid.
fn open(server: &Server, body: &serde_json::Value) -> (String, i32) {
    let r = server.post(TERMINALS, body);
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "running");
    (
        v["id"].as_str().unwrap().to_string(),
        i32::try_from(v["pid"].as_u64().unwrap()).unwrap(),
    )
}

/// Attaches to session `tid`.
fn attach(server: &Server, tid: &str) -> Socket {
    let protocols = token_protocols();
    let (socket, proto) = connect(
        server,
        &format!("{TERMINALS}/{tid}/ws"),
        &[("Sec-WebSocket-Protocol", &protocols)],
    )
    .unwrap();
    assert_eq!(proto.as_deref(), Some("car.v1"));
    if let MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    socket
}

/// What the socket got until `until` holds on all of it, or it closed;
/// panics after `timeout`.
fn read_until(
    socket: &mut Socket,
    timeout: Duration,
    until: impl Fn(&str) -> bool,
) -> (String, Option<CloseFrame>) {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if until(&text) {
            return (text, None);
        }
        assert!(Instant::now() < deadline, "timed out; got {text:?}");
        match socket.read() {
            Ok(Message::Binary(b)) => got.extend_from_slice(&b),
            Ok(Message::Close(frame)) => {
                return (String::from_utf8_lossy(&got).into_owned(), frame);
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}; got {text:?}"),
        }
    }
}

fn type_in(socket: &mut Socket, text: &str) {
    socket
        .send(Message::Binary(text.as_bytes().to_vec().into()))
        .unwrap();
}

/// The session `tid` as listed.
fn listed(server: &Server, tid: &str) -> serde_json::Value {
    let list = server.get(TERMINALS).json();
    list["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == tid)
        .unwrap_or_else(|| panic!("{tid} not listed: {list}"))
        .clone()
}

fn wait_gone(pid: i32, what: &str) {
    let start = Instant::now();
    while alive(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: pid {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_terminal_echoes_resizes_replays_on_reattach_is_capped_and_closes_with_the_exit_code() {
    let env = env_with("server:\n  terminal:\n    max_sessions_per_repo: 2\n");
    let server = Server::start(&env, &[]);
    let (tid, pid) = open(&server, &serde_json::json!({"cols": 100, "rows": 30}));
    assert!(alive(pid));
    let first = listed(&server, &tid);
    assert_eq!(
        (first["cols"].as_u64(), first["rows"].as_u64()),
        (Some(100), Some(30))
    );
    assert!(
        first["started_by"]
            .as_str()
            .unwrap()
            .starts_with("http 127.0.0.1:")
    );
    let mut ws = attach(&server, &tid);
    type_in(&mut ws, "echo hel''lo\n");
    read_until(&mut ws, Duration::from_secs(10), |t| t.contains("hello"));

    // Input to echo, one line at a time.
    let mut rtts = Vec::new();
    for i in 0..50 {
        let mark = format!("k{i}z");
        let t0 = Instant::now();
        type_in(&mut ws, &mark);
        read_until(&mut ws, Duration::from_secs(5), |t| t.contains(&mark));
        rtts.push(t0.elapsed());
        type_in(&mut ws, "\u{15}"); // Ctrl-U: the line is dropped.
    }
    rtts.sort();
    let median = rtts[rtts.len() / 2];
    eprintln!(
        "terminal input->echo round trip: median {:.2} ms, p90 {:.2} ms, max {:.2} ms (n={})",
        median.as_secs_f64() * 1e3,
        rtts[rtts.len() * 9 / 10].as_secs_f64() * 1e3,
        rtts[rtts.len() - 1].as_secs_f64() * 1e3,
        rtts.len()
    );
    // A write held back by Nagle's algorithm would take about 40 ms.
    assert!(median < Duration::from_millis(25), "median {median:?}");

    // A resize reaches the program.
    ws.send(Message::Text(r#"{"resize":{"cols":123,"rows":45}}"#.into()))
        .unwrap();
    type_in(&mut ws, "stty size\n");
    read_until(&mut ws, Duration::from_secs(10), |t| t.contains("45 123"));
    env.wait_for(
        "the new size in the record",
        Duration::from_secs(10),
        || listed(&server, &tid)["cols"] == 123,
    );

    // A client that reattaches gets the recent output first.
    ws.close(None).unwrap();
    drop(ws);
    let mut again = attach(&server, &tid);
    let (replay, _) = read_until(&mut again, Duration::from_secs(10), |t| {
        t.contains("45 123")
    });
    assert!(replay.contains("hello"), "{replay:?}");

    // The cap: a second session fits, a third does not.
    let (second, second_pid) = open(&server, &serde_json::json!({}));
    let r = server.post(TERMINALS, &serde_json::json!({}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("server.terminal.max_sessions_per_repo: 2"),
        "{}",
        r.body
    );
    // Bad sizes and bodies are refused, naming the field.
    let r = server.post(TERMINALS, &serde_json::json!({"cols": 0}));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("cols"), "{}", r.body);
    let r = server.post(TERMINALS, &serde_json::json!({"colour": 1}));
    assert_eq!(r.status, 400);

    // The process ends: the rest of its output, then a close with its code.
    type_in(&mut again, "echo bye; exit 3\n");
    let (rest, close) = read_until(&mut again, Duration::from_secs(10), |_| false);
    assert!(rest.contains("bye"), "{rest:?}");
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    assert_eq!(close.reason.as_str(), "exit code 3");
    wait_gone(pid, "the exited shell");
    env.wait_for("the end in the record", Duration::from_secs(10), || {
        listed(&server, &tid)["status"] == "ended"
    });
    let ended = listed(&server, &tid);
    assert_eq!(ended["exit_code"], 3);
    assert_eq!(ended["end_reason"], "exited");
    // An ended session cannot be attached; a new one fits again.
    let protocols = token_protocols();
    let refused = connect(
        &server,
        &format!("{TERMINALS}/{tid}/ws"),
        &[("Sec-WebSocket-Protocol", &protocols)],
    );
    assert_eq!(refused.err(), Some(404));
    let r = server.send(
        "DELETE",
        &format!("{TERMINALS}/{second}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ended");
    assert_eq!(r.json()["end_reason"], "stopped");
    wait_gone(second_pid, "the stopped session");
}

#[test]
fn an_idle_session_is_stopped_and_the_cli_lists_and_stops_sessions() {
    let env = env_with("server:\n  terminal:\n    idle_timeout_seconds: 1\n");
    let server = Server::start(&env, &[]);
    let (idle, idle_pid) = open(&server, &serde_json::json!({}));
    let (kept, kept_pid) = open(&server, &serde_json::json!({}));
    // An attached client keeps a session from being idle.
    let mut ws = attach(&server, &kept);
    wait_gone(idle_pid, "the idle session");
    env.wait_for(
        "the idle end in the record",
        Duration::from_secs(10),
        || listed(&server, &idle)["end_reason"] == "idle",
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(alive(kept_pid), "an attached session is not idle");

    let out = env.run(&["sessions"]);
    out.expect_code(0);
    let text = out.stdout();
    let line = text
        .lines()
        .find(|l| l.starts_with(&kept))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("running") && line.contains(&kept_pid.to_string()),
        "{line}"
    );
    assert!(
        text.contains(&format!("{idle} ")) && text.contains("ended (idle"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["sessions", "--json"]).stdout()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    let out = env.run(&["stop-session", &kept]);
    out.expect_code(0);
    assert!(
        out.stdout()
            .contains(&format!("stopped terminal session {kept}")),
        "{}",
        out.stdout()
    );
    wait_gone(kept_pid, "the session car stop-session stopped");
    let (_, close) = read_until(&mut ws, Duration::from_secs(10), |_| false);
    assert!(close.unwrap().reason.as_str().starts_with("exit"));
    assert_eq!(listed(&server, &kept)["end_reason"], "stopped");
    env.run(&["stop-session", "p-nope"]).expect_code(1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&env.run(&["sessions", "--json"]).stdout())
            .unwrap()[0]["status"],
        "ended"
    );
    let _ = REPO;
}

#[test]
fn a_server_stopping_ends_its_sessions_and_a_killed_servers_sessions_are_swept() {
    // A program that ignores the hang-up its terminal's end sends.
    let env = env_with(
        "codex:\n  terminal_args: ['-c', 'trap \"\" HUP; echo ready; while :; do sleep 0.2; done']\n",
    );
    let server = Server::start(&env, &[]);
    let (a, a_pid) = open(&server, &serde_json::json!({}));
    let (b, b_pid) = open(&server, &serde_json::json!({}));
    let mut ws = attach(&server, &a);
    let pid = server.pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (_, close) = read_until(&mut ws, Duration::from_secs(10), |_| false);
    assert!(close.is_some());
    // Not a second signal (that exits at once): the server ends by itself.
    wait_gone(pid, "the server");
    drop(server);
    for p in [a_pid, b_pid] {
        wait_gone(p, "a session of a server that stopped");
    }
    env.expect_no_agent_process("after the server stopped", Duration::from_secs(10));
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["sessions", "--json"]).stdout()).unwrap();
    for rec in json.as_array().unwrap() {
        assert!(rec["id"] == a || rec["id"] == b);
        assert_eq!(rec["status"], "ended", "{rec}");
        assert_eq!(rec["end"]["reason"], "server_stopped", "{rec}");
    }

    // A server killed outright leaves its session's program running (it
    // ignores SIGHUP); the next car that looks ends it.
    let server = Server::start(&env, &[]);
    let (c, c_pid) = open(&server, &serde_json::json!({}));
    // Past its `trap` before its server goes.
    let mut ws = attach(&server, &c);
    read_until(&mut ws, Duration::from_secs(10), |t| t.contains("ready"));
    server.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(c_pid), "the program outlives its PTY");
    let out = env.run(&["sessions"]);
    out.expect_code(0);
    assert!(
        out.stdout().contains("ended (server_gone"),
        "{}",
        out.stdout()
    );
    wait_gone(c_pid, "the leftover of a killed server");
    env.expect_no_agent_process("after the sweep", Duration::from_secs(10));
    let _ = c;
}
