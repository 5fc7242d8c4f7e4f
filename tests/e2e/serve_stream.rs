//! The live stream of `car serve`: reconnecting with `Last-Event-ID`
//! gives every event after it, once; killing the server never stops the
//! loop, and a new server streams it on.

use std::time::Duration;

use crate::common::{TestEnv, alive};
use crate::serve_client::{REPO, Server, read_until};

fn seqs(got: &[(String, Option<u64>, serde_json::Value)]) -> Vec<u64> {
    got.iter()
        .filter(|e| e.0 == "event")
        .map(|e| {
            assert_eq!(e.1, e.2["seq"].as_u64(), "the id is the seq");
            e.1.unwrap()
        })
        .collect()
}

fn stopped(kind: &str, d: &serde_json::Value) -> bool {
    kind == "event" && d["type"] == "stopped"
}

#[test]
fn reconnecting_with_last_event_id_gives_every_later_event_once() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("sleep 0.3\nout working\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n");
    let server = Server::start(&env, &[]);
    let first = server.stream(REPO, "?since=1", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202);
    // Drop the first connection in the middle of the loop.
    let part = read_until(&first, Duration::from_secs(180), |k, d| {
        k == "event" && d["type"] == "run_finished"
    });
    drop(first);
    let part = seqs(&part);
    let last = *part.last().unwrap();
    let second = server.stream(REPO, "", &[("Last-Event-ID", &last.to_string())]);
    let rest = seqs(&read_until(&second, Duration::from_secs(120), stopped));
    let all: Vec<u64> = part.iter().chain(rest.iter()).copied().collect();
    assert_eq!(
        all,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    assert_eq!(rest[0], last + 1);
    // After the loop's end, a reconnection from the start gives the same.
    let again = server.stream(REPO, "", &[("Last-Event-ID", "0")]);
    let whole = seqs(&read_until(&again, Duration::from_secs(180), stopped));
    assert_eq!(whole, all);
    let bad = server.send(
        "GET",
        &format!("api/v1/repos/{REPO}/stream"),
        &[
            (
                "Authorization",
                &format!("Bearer {}", crate::serve_client::TOKEN),
            ),
            ("Last-Event-ID", "abc"),
        ],
        None,
    );
    assert_eq!(bad.status, 400);
    // An empty one is none: the stream starts from now on.
    let fresh = server.stream(REPO, "", &[("Last-Event-ID", "")]);
    assert!(fresh.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn a_server_killed_mid_loop_leaves_the_loop_running_and_a_new_one_streams_it_on() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("sleep 0.5\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "?since=1", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    let runner = started.json()["pid"].as_i64().unwrap() as i32;
    let seen = seqs(&read_until(&events, Duration::from_secs(180), |k, d| {
        k == "event" && d["type"] == "run_started"
    }));
    server.kill9();
    assert!(alive(runner), "killing the server must not stop the loop");
    let server = Server::start(&env, &[]);
    let status = server.get(&format!("api/v1/repos/{REPO}")).json();
    assert_eq!(status["running"], true, "{status:#}");
    let last = seen.last().unwrap().to_string();
    let events = server.stream(REPO, "", &[("Last-Event-ID", &last)]);
    let rest = seqs(&read_until(&events, Duration::from_secs(120), stopped));
    let all: Vec<u64> = seen.iter().chain(rest.iter()).copied().collect();
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [x] a\n- [x] b\n- [x] c\n"
    );
    assert_eq!(env.state()["stop_reason"], "completed");
}

#[test]
fn an_idle_stream_gets_a_comment_heartbeat_within_15_seconds() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let resp = ureq::get(&format!("{}api/v1/repos/{REPO}/stream", server.base))
        .set(
            "Authorization",
            &format!("Bearer {}", crate::serve_client::TOKEN),
        )
        .call()
        .unwrap();
    let lines = crate::serve_client::lines_of(resp.into_reader());
    let start = std::time::Instant::now();
    let first = lines.recv_timeout(Duration::from_secs(40)).unwrap();
    assert!(first.starts_with(':'), "{first:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
