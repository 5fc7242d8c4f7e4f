//! Driving a loop through `car serve`: one runner at a time, stop, kill
//! and resume, each recorded as asked by the api from the peer's address.

use std::time::Duration;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, read_until};

fn stopped(kind: &str, data: &serde_json::Value) -> bool {
    kind == "event" && data["type"] == "stopped"
}

/// How long a stream may stay silent before a test gives up: long, since a
/// loaded machine has stalled a runner's writes for over 30 s.
const PATIENCE: Duration = Duration::from_secs(180);

type Item = (String, Option<u64>, serde_json::Value);

/// Reads the stream until the loop's `stopped`; on a timeout, panics with
/// what the loop itself recorded (state, ledger, log), to tell a stalled
/// stream from a stalled loop.
fn until_stopped(env: &TestEnv, events: &std::sync::mpsc::Receiver<Item>) -> Vec<Item> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_until(events, PATIENCE, stopped)
    }))
    .unwrap_or_else(|_| {
        let logs = std::fs::read_dir(env.path(".codex-autorunner/logs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!(
                    "{}:\n{}",
                    e.path().display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "no stop on the stream within {PATIENCE:?}; state: {}\nledger:\n{}\nlogs:\n{logs}",
            env.state(),
            std::fs::read_to_string(env.path(".codex-autorunner/events.jsonl")).unwrap_or_default()
        )
    })
}

#[test]
fn a_second_start_is_refused_and_stop_through_the_api_names_the_api() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("sleep 1\ncheck-todo\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let first = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(first.status, 202, "{}", first.body);
    read_until(&events, PATIENCE, |k, d| {
        k == "event" && d["type"] == "run_started"
    });
    let again = server.post(
        &format!("api/v1/repos/{REPO}/loop/once"),
        &serde_json::json!({}),
    );
    assert_eq!(
        (again.status, again.json()["error"]["kind"].as_str()),
        (409, Some("busy"))
    );
    let stop = server.post(
        &format!("api/v1/repos/{REPO}/loop/stop"),
        &serde_json::json!({}),
    );
    assert_eq!(
        (stop.status, stop.json()["result"].as_str()),
        (200, Some("requested")),
        "{}",
        stop.body
    );
    let got = until_stopped(&env, &events);
    let last = &got.last().unwrap().2;
    assert_eq!(last["requested_by"], "api", "{last:#}");
    assert!(
        last["origin"]
            .as_str()
            .unwrap()
            .starts_with("http 127.0.0.1:"),
        "{last:#}"
    );
    assert_eq!(env.agent_runs(), 1);
}

#[test]
fn kill_through_the_api_stops_the_loop_now_and_resume_starts_it_again() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script(
        "sleep 30\ncheck-todo\n---\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n",
    );
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    read_until(&events, PATIENCE, |k, d| {
        k == "event" && d["type"] == "run_started"
    });
    // Kill waits for the runner: it answers once the loop stopped.
    let killed = server.post(
        &format!("api/v1/repos/{REPO}/loop/kill"),
        &serde_json::json!({}),
    );
    assert_eq!(killed.status, 200, "{}", killed.body);
    assert_ne!(killed.json()["result"], "not_running", "{}", killed.body);
    let got = until_stopped(&env, &events);
    let last = &got.last().unwrap().2;
    assert_eq!(last["reason"], "killed", "{last:#}");
    assert_eq!(last["requested_by"], "api");
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [ ] a\n- [ ] b\n");
    let status = server.get(&format!("api/v1/repos/{REPO}")).json();
    assert_eq!(status["running"], false);
    // Nothing to kill now.
    let again = server.post(
        &format!("api/v1/repos/{REPO}/loop/kill"),
        &serde_json::json!({}),
    );
    assert_eq!(again.json()["result"], "not_running", "{}", again.body);
    // Resume: a new runner goes on to the end.
    let resumed = server.post(
        &format!("api/v1/repos/{REPO}/loop/resume"),
        &serde_json::json!({}),
    );
    assert_eq!(
        (resumed.status, resumed.json()["result"].as_str()),
        (202, Some("started")),
        "{}",
        resumed.body
    );
    let got = until_stopped(&env, &events);
    assert_eq!(got.last().unwrap().2["reason"], "completed", "{got:#?}");
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [x] a\n- [x] b\n");
    let unknown = server.post(
        &format!("api/v1/repos/{REPO}/loop/explode"),
        &serde_json::json!({}),
    );
    assert_eq!(
        (unknown.status, unknown.json()["error"]["kind"].as_str()),
        (404, Some("not_found"))
    );
}

#[test]
fn a_reply_through_the_api_reaches_the_next_prompt() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script("out NEED_INPUT: Which database?\n---\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    assert_eq!(
        server
            .post(
                &format!("api/v1/repos/{REPO}/loop/run"),
                &serde_json::json!({})
            )
            .status,
        202
    );
    let got = until_stopped(&env, &events);
    assert_eq!(got.last().unwrap().2["reason"], "needs_input", "{got:#?}");
    let empty = server.post(
        &format!("api/v1/repos/{REPO}/reply"),
        &serde_json::json!({"text": "  "}),
    );
    assert_eq!(empty.status, 400);
    let reply = server.post(
        &format!("api/v1/repos/{REPO}/reply"),
        &serde_json::json!({"text": "Postgres"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.json()["question"].is_object(), "{}", reply.body);
    assert_eq!(
        server
            .post(
                &format!("api/v1/repos/{REPO}/loop/resume"),
                &serde_json::json!({})
            )
            .status,
        202
    );
    until_stopped(&env, &events);
    let prompt = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(prompt.contains("Postgres"), "{prompt}");
}

#[test]
fn a_run_started_through_the_api_keeps_to_its_run_limit() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("check-todo\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let path = format!("api/v1/repos/{REPO}/loop/run");
    let zero = server.post(&path, &serde_json::json!({"max_runs": 0}));
    assert_eq!(zero.status, 400);
    let unknown = server.post(&path, &serde_json::json!({"runs": 1}));
    assert_eq!(unknown.status, 400);
    assert_eq!(
        server
            .post(&path, &serde_json::json!({"max_runs": 1}))
            .status,
        202
    );
    let got = until_stopped(&env, &events);
    assert_eq!(got.last().unwrap().2["reason"], "run_limit", "{got:#?}");
    assert_eq!(env.agent_runs(), 1);
}

#[test]
fn a_loop_seen_stopped_can_be_started_again_at_once_and_the_ledger_keeps_order() {
    const LOOPS: usize = 20;
    let env = TestEnv::new();
    env.todo(&"- [ ] item\n".repeat(LOOPS + 1));
    env.script("check-todo\n");
    env.config("server:\n  rate_limit_per_minute: 0\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let path = format!("api/v1/repos/{REPO}/loop/once");
    for i in 0..LOOPS {
        // Right after `stopped`: the stopped runner has let its lock go.
        let start = server.post(&path, &serde_json::json!({}));
        assert_eq!(start.status, 202, "start {i}: {}", start.body);
        until_stopped(&env, &events);
    }
    assert_eq!(env.agent_runs(), LOOPS);
    // Each loop's `loop_started` comes after the previous one's `stopped`.
    let kinds: Vec<String> = env
        .read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
        .filter(|t| t == "\"loop_started\"" || t == "\"stopped\"")
        .collect();
    let want: Vec<&str> = ["\"loop_started\"", "\"stopped\""].repeat(LOOPS);
    assert_eq!(kinds, want);
}

#[test]
fn stop_now_through_the_api_answers_at_once_and_the_loop_records_whose_stop() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script("sleep 30\ncheck-todo\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    read_until(&events, PATIENCE, |k, d| {
        k == "event" && d["type"] == "run_started"
    });
    let t = std::time::Instant::now();
    let stopped = server.post(
        &format!("api/v1/repos/{REPO}/loop/stop_now"),
        &serde_json::json!({}),
    );
    assert_eq!(
        (stopped.status, stopped.json()["result"].as_str()),
        (200, Some("requested")),
        "{}",
        stopped.body
    );
    // It does not wait for the agent (which would sleep 30 s).
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let got = until_stopped(&env, &events);
    let last = &got.last().unwrap().2;
    assert_eq!(last["requested_by"], "api", "{last:#}");
    assert_eq!(last["reason"], "killed", "{last:#}");
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [ ] a\n");
    assert_eq!(
        server.get(&format!("api/v1/repos/{REPO}")).json()["running"],
        false
    );
}
