//! The event ledger through a user token below `admin`: `events`, the
//! repository's SSE stream and WebSocket and the hub-wide stream carry the `task_*` and
//! `exec_*` events of its user's own tasks and commands, not another
//! user's (ids, directories, command lines); the server's token sees
//! everything.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN, lines_of};
use crate::serve_users::{add_user, call, spawned_task, token, wait_over};

/// The `task_id`s and `exec_id`s named by `events`.
fn subjects(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["task_id"].as_str().or(e["exec_id"].as_str()))
        .map(str::to_string)
        .collect()
}

/// The ledger events of the SSE stream at `path` with `token`, up to the
/// one with `seq` `last` (an event of every caller's).
fn streamed(server: &Server, token: &str, path: &str, last: u64) -> Vec<Value> {
    let resp = ureq::get(&format!("{}{path}", server.base))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert!(resp.content_type().starts_with("text/event-stream"));
    let lines = lines_of(resp.into_reader());
    let start = Instant::now();
    let (mut event, mut got) = (String::new(), Vec::new());
    loop {
        let left = Duration::from_secs(20).saturating_sub(start.elapsed());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{path}: no seq {last} in {got:#?}"));
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim().to_string();
        }
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        if event != "event" {
            continue;
        }
        let data: Value = serde_json::from_str(data.trim()).unwrap();
        let seq = data["seq"].as_u64().unwrap_or(0);
        got.push(data);
        if seq >= last {
            return got;
        }
    }
}

/// The ledger events of the repository's WebSocket with `token`, up to
/// the one with `seq` `last`.
fn over_ws(server: &Server, token: &str, last: u64) -> Vec<Value> {
    let offer = format!("car.v1, car.token.{token}");
    let path = format!("api/v1/repos/{REPO}/ws?since=1");
    let (socket, _) =
        crate::serve_ws::connect(server, &path, &[("Sec-WebSocket-Protocol", &offer)])
            .unwrap_or_else(|s| panic!("{path}: {s}"));
    let rx = crate::serve_ws::messages(socket);
    let mut got = Vec::new();
    loop {
        let msg = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{path}: no seq {last} in {got:#?}"));
        if msg["event"] != "event" {
            continue;
        }
        let seq = msg["id"].as_u64().unwrap_or(0);
        got.push(msg["data"].clone());
        if seq >= last {
            return got;
        }
    }
}

#[test]
fn a_read_token_sees_only_its_users_task_and_exec_events_in_events_and_streams() {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env.script("last-message done\n");
    add_user(&env, "ann", "operator");
    add_user(&env, "bob", "operator");
    add_user(&env, "ada", "admin");
    let ann_tasks = token(&env, &["--user", "ann", "--scope", "tasks"]);
    let bob_tasks = token(&env, &["--user", "bob", "--scope", "tasks"]);
    let ada = token(&env, &["--user", "ada", "--scope", "admin"]);
    let ann_read = token(&env, &["--user", "ann"]);
    let server = Server::start(&env, &[]);
    let a = spawned_task(&server, &ann_tasks, "ann's work");
    let b = spawned_task(&server, &bob_tasks, "bob's work");
    wait_over(&server, &a);
    wait_over(&server, &b);
    let r = call(
        &server,
        &ada,
        "POST",
        "api/v1/execs",
        Some(&json!({ "cmd": "echo ada-secret" }).to_string()),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let x = r.json()["exec_id"].as_str().unwrap().to_string();
    // Every end recorded (a record may be over just before its event)...
    let events = format!("api/v1/repos/{REPO}/events?limit=1000");
    let start = Instant::now();
    loop {
        let all = server.get(&events).json()["events"].clone();
        let ended = |kind: &str, key: &str, id: &str| {
            all.as_array()
                .unwrap()
                .iter()
                .any(|e| e["type"] == kind && e[key] == id)
        };
        if ended("task_done", "task_id", &a)
            && ended("task_done", "task_id", &b)
            && ended("exec_done", "exec_id", &x)
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{all:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A request about bob's task: its audit record names the task.
    let r = call(
        &server,
        &bob_tasks,
        "POST",
        &format!("api/v1/tasks/{b}/reply"),
        Some("{}"),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // ... then a last event every caller sees (the audit of a refused reply).
    let r = server.post(
        &format!("api/v1/repos/{REPO}/reply"),
        &json!({ "text": " " }),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    let all = server.get(&events).json()["events"]
        .as_array()
        .unwrap()
        .clone();
    let last = all.last().unwrap()["seq"].as_u64().unwrap();
    assert_eq!(all.last().unwrap()["type"], "audit", "{all:#?}");
    let everyone = subjects(&all);
    for id in [&a, &b, &x] {
        assert!(
            everyone.contains(id),
            "the server token sees {id}: {all:#?}"
        );
    }

    let seen = call(&server, &ann_read, "GET", &events, None).json()["events"]
        .as_array()
        .unwrap()
        .clone();
    let ann_sees = subjects(&seen);
    assert!(ann_sees.contains(&a), "{seen:#?}");
    assert!(ann_sees.iter().all(|id| id == &a), "{seen:#?}");
    assert!(
        seen.iter()
            .any(|e| e["type"] == "task_done" && e["task_id"] == a.as_str()),
        "{seen:#?}"
    );
    assert!(!format!("{seen:?}").contains("ada-secret"), "{seen:#?}");
    assert!(
        !format!("{seen:?}").contains(b.as_str()),
        "bob's task: {seen:#?}"
    );
    assert!(
        format!("{all:?}").contains(&format!("/api/v1/tasks/{b}/reply")),
        "no audit of the request about bob's task: {all:#?}"
    );
    // Other events pass: the audit, and so the last seq.
    assert_eq!(seen.last().unwrap()["seq"].as_u64(), Some(last));

    // The repository's stream and the hub-wide one alike.
    for path in [
        format!("api/v1/repos/{REPO}/stream?since=1"),
        "api/v1/stream?since=all".to_string(),
    ] {
        let got = streamed(&server, &ann_read, &path, last);
        let ids = subjects(&got);
        assert!(ids.contains(&a), "{path}: {got:#?}");
        assert!(ids.iter().all(|id| id == &a), "{path}: {got:#?}");
        assert!(!format!("{got:?}").contains("ada-secret"), "{path}");
        let full = streamed(&server, TOKEN, &path, last);
        let ids = subjects(&full);
        for id in [&a, &b, &x] {
            assert!(ids.contains(id), "{path}: the server token sees {id}");
        }
    }
    let got = over_ws(&server, &ann_read, last);
    let ids = subjects(&got);
    assert!(
        ids.contains(&a) && ids.iter().all(|id| id == &a),
        "ws: {got:#?}"
    );
    let ids = subjects(&over_ws(&server, TOKEN, last));
    for id in [&a, &b, &x] {
        assert!(ids.contains(id), "ws: the server token sees {id}");
    }
}
