//! Codex tasks through `car serve`, with the fake agent speaking Codex's
//! `--json` events: spawn, follow over SSE to `done`, reconnect with
//! `Last-Event-ID`, reply in the same conversation, cancel an agent that
//! ignores SIGTERM, and a task outliving a killed server.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive, read_pid};
use crate::serve_client::{REPO, Server, TOKEN, read_until};

const THREAD: &str = r#"out {"type":"thread.started","thread_id":"th-7"}"#;
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;

type Events = mpsc::Receiver<(String, Option<u64>, serde_json::Value)>;

/// A repo whose agent is run as `codex exec`.
fn codex_env() -> TestEnv {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env
}

/// Every event until the stream ends (panics after `timeout`).
fn all_events(events: &Events, timeout: Duration) -> Vec<(String, Option<u64>, serde_json::Value)> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) => got.push(e),
            Err(mpsc::RecvTimeoutError::Disconnected) => return got,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the stream did not end: {got:#?}"),
        }
    }
}

/// The task's record once its final output is `text` (the record says
/// the turn ended a moment before the final output is written).
fn wait_final(server: &Server, id: &str, text: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let rec = server.get(&format!("api/v1/tasks/{id}")).json();
        if rec["final_output"] == text {
            return rec;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "task {id}'s final output is not {text:?}: {rec:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(got: &[(String, Option<u64>, serde_json::Value)]) -> Vec<String> {
    got.iter()
        .filter(|e| e.0 == "log")
        .map(|e| {
            format!(
                "{}: {}",
                e.2["stream"].as_str().unwrap(),
                e.2["line"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_task_is_spawned_followed_to_done_resumed_by_offset_and_replied_to() {
    let env = codex_env();
    env.script(&format!(
        "{THREAD}\nout first line\nerr a warning\nlast-message The answer is 4.\n{DONE}\n---\n\
         save-prompt reply-seen\nout second turn\nlast-message second answer\n{DONE}\n"
    ));
    std::fs::create_dir_all(env.path("sub")).unwrap();
    let server = Server::start(&env, &[]);
    let spawned = server.post(
        "api/v1/tasks",
        &serde_json::json!({"prompt": "What is 2+2?", "cwd": "sub", "model": "m-9"}),
    );
    assert_eq!(spawned.status, 202, "{}", spawned.body);
    let body = spawned.json();
    assert_eq!(
        (body["status"].as_str(), body["repo"].as_str()),
        (Some("queued"), Some(REPO))
    );
    assert_eq!(body["turn"], 1);
    let id = body["task_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("t-"), "{id}");

    let got = all_events(
        &server.sse(&format!("api/v1/tasks/{id}/stream"), &[]),
        Duration::from_secs(60),
    );
    assert_eq!(got[0].0, "status", "{got:#?}");
    assert!(got[0].2["ts"].is_string(), "{got:#?}");
    let (last, before) = got.split_last().unwrap();
    assert_eq!(last.0, "done", "{got:#?}");
    assert_eq!(
        (last.2["exit_code"].as_i64(), last.2["state"].as_str()),
        (Some(0), Some("succeeded"))
    );
    assert_eq!(before.last().unwrap().2["state"], "succeeded", "{got:#?}");
    let text = lines(&got);
    assert!(text.contains(&"stdout: first line".to_string()), "{text:?}");
    assert!(text.contains(&"stderr: a warning".to_string()), "{text:?}");
    assert!(text.iter().any(|l| l.starts_with("codex: ")), "{text:?}");
    let logs: Vec<_> = got.iter().filter(|e| e.0 == "log").collect();
    assert!(logs.iter().all(|e| e.2["ts"].is_string()), "{logs:#?}");
    // Each log event's id is where the next line starts in the log.
    let log = env.read(&format!(".codex-autorunner/jobs/{id}/output.log"));
    assert_eq!(logs.last().unwrap().1, Some(log.len() as u64));

    // Reconnecting after the second line gives the rest, no gap, no duplicate.
    let second = logs[1].1.unwrap().to_string();
    let again = all_events(
        &server.sse(
            &format!("api/v1/tasks/{id}/stream"),
            &[("Last-Event-ID", &second)],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(lines(&again), lines(&got)[2..], "{again:#?}");
    let by_query = all_events(
        &server.sse(&format!("api/v1/tasks/{id}/stream?offset={second}"), &[]),
        Duration::from_secs(30),
    );
    assert_eq!(lines(&by_query), lines(&got)[2..]);

    // The record, the list.
    let rec = wait_final(&server, &id, "The answer is 4.");
    assert_eq!(rec["thread_id"], "th-7");
    assert_eq!(rec["model"], "m-9");
    assert_eq!(rec["requested_by"], "api");
    assert!(
        rec["origin"]
            .as_str()
            .unwrap()
            .starts_with("http 127.0.0.1:"),
        "{rec:#}"
    );
    assert_eq!(rec["repo"], REPO);
    let cwd = std::fs::canonicalize(env.path("sub")).unwrap();
    assert_eq!(rec["cwd"], cwd.display().to_string());
    // The CLI sees the same task.
    let cli = env.run(&["task", "status", &id, "--json"]);
    let cli: serde_json::Value = serde_json::from_str(&cli.stdout()).unwrap();
    assert_eq!(cli["state"], "succeeded");

    // A reply continues the conversation as turn 2; the stream resumes
    // from where it stopped and carries only the new turn.
    let reply = server.post(
        &format!("api/v1/tasks/{id}/reply"),
        &serde_json::json!({"message": "and now the tests"}),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.json()["turn"], 2);
    let end = log.len().to_string();
    let turn2 = all_events(
        &server.sse(
            &format!("api/v1/tasks/{id}/stream"),
            &[("Last-Event-ID", &end)],
        ),
        Duration::from_secs(60),
    );
    let text2 = lines(&turn2);
    assert!(
        text2.contains(&"stdout: second turn".to_string()),
        "{text2:?}"
    );
    assert!(
        !text2.contains(&"stdout: first line".to_string()),
        "{text2:?}"
    );
    assert_eq!(turn2.last().unwrap().0, "done");
    assert_eq!(env.read("sub/reply-seen"), "and now the tests");
    let rec = wait_final(&server, &id, "second answer");
    assert_eq!(rec["state"], "succeeded");
    assert_eq!(rec["turns"].as_array().unwrap().len(), 2);

    // Pages, newest first.
    let other = server.post(
        "api/v1/tasks",
        &serde_json::json!({"prompt": "second task"}),
    );
    assert_eq!(other.status, 202, "{}", other.body);
    let other = other.json()["task_id"].as_str().unwrap().to_string();
    let page = server.get("api/v1/tasks?limit=1").json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(page["tasks"][0]["id"], other.as_str());
    let page = server.get("api/v1/tasks?offset=1&limit=5").json();
    assert_eq!(page["tasks"][0]["id"], id.as_str());
    let start = Instant::now();
    while !["succeeded", "failed"].contains(
        &server.get(&format!("api/v1/tasks/{other}")).json()["state"]
            .as_str()
            .unwrap(),
    ) {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_task_requests_are_4xx_and_unknown_tasks_404() {
    let env = codex_env();
    env.script(&format!("{THREAD}\n{DONE}\n"));
    let server = Server::start(&env, &[]);
    let cases = [
        (serde_json::json!({"prompt": "  "}), 400),
        (serde_json::json!({"prompt": "x", "cwd": "/"}), 400),
        (
            serde_json::json!({"prompt": "x", "cwd": "missing-dir"}),
            400,
        ),
        (serde_json::json!({"prompt": "x", "repo": "nope"}), 404),
        (serde_json::json!({"prompt": "x", "shell": "rm"}), 400),
        (serde_json::json!({"text": "x"}), 400),
    ];
    for (body, want) in cases {
        let r = server.post("api/v1/tasks", &body);
        assert_eq!(r.status, want, "{body}: {}", r.body);
        assert!(r.json()["error"]["kind"].is_string());
    }
    assert_eq!(
        server.get("api/v1/tasks").json()["total"],
        0,
        "nothing was spawned"
    );
    for path in [
        "api/v1/tasks/t-nope",
        "api/v1/tasks/..%2Fx",
        "api/v1/tasks/t-nope/stream",
    ] {
        assert_eq!(server.get(path).status, 404, "{path}");
    }
    let right = format!("Bearer {TOKEN}");
    let del = server.send(
        "DELETE",
        "api/v1/tasks/t-nope",
        &[("Authorization", &right)],
        None,
    );
    assert_eq!(del.status, 404);
    let r = server.post(
        "api/v1/tasks/t-nope/reply",
        &serde_json::json!({"message": "m"}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(server.get("api/v1/tasks?limit=x").status, 400);
}

#[test]
fn a_task_outlives_a_killed_server_and_delete_ends_its_whole_tree() {
    let env = codex_env();
    env.config("runner:\n  kill_grace_seconds: 1\n");
    let grandchild = env.path("grandchild.pid");
    env.script(&format!(
        "{THREAD}\nignore-term\nspawn-grandchild {} 120\nwrite-pid agent.pid\nout-every 0.1 busy\n",
        grandchild.display()
    ));
    let server = Server::start(&env, &[]);
    let id = server
        .post(
            "api/v1/tasks",
            &serde_json::json!({"prompt": "work forever"}),
        )
        .json()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.wait_for("the agent", Duration::from_secs(30), || {
        env.path("agent.pid").exists() && grandchild.exists()
    });
    server.kill9();
    let (agent, gc) = (read_pid(&env.path("agent.pid")), read_pid(&grandchild));
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(agent), "the task must go on without the server");

    let server = Server::start(&env, &[]);
    let events = server.sse(&format!("api/v1/tasks/{id}/stream"), &[]);
    let first = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (first.0.as_str(), first.2["state"].as_str()),
        ("status", Some("running"))
    );
    // The log from its beginning, then live.
    read_until(&events, Duration::from_secs(10), |k, d| {
        k == "log" && d["line"] == "busy"
    });
    // A running task takes no reply.
    let r = server.post(
        &format!("api/v1/tasks/{id}/reply"),
        &serde_json::json!({"message": "m"}),
    );
    assert_eq!(
        (r.status, r.json()["error"]["kind"].as_str()),
        (409, Some("busy"))
    );

    let runner = server.get(&format!("api/v1/tasks/{id}")).json()["runner_pid"]
        .as_i64()
        .unwrap() as i32;
    let right = format!("Bearer {TOKEN}");
    let t = Instant::now();
    let del = server.send(
        "DELETE",
        &format!("api/v1/tasks/{id}"),
        &[("Authorization", &right)],
        None,
    );
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(del.json()["state"], "cancelled");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(
        !alive(agent) && !alive(gc),
        "agent {agent} or grandchild {gc} survived"
    );
    assert!(!alive(runner), "the task's process {runner} survived");
    // The open stream ends with the task.
    let rest = all_events(&events, Duration::from_secs(20));
    let (last, _) = rest.split_last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.2["state"].as_str()),
        ("done", Some("cancelled"))
    );
    assert!(
        rest.iter()
            .any(|e| e.0 == "status" && e.2["state"] == "cancelled")
    );
    // Cancelling again leaves it as it is.
    let again = server.send(
        "DELETE",
        &format!("api/v1/tasks/{id}"),
        &[("Authorization", &right)],
        None,
    );
    assert_eq!(
        (again.status, again.json()["state"].as_str()),
        (200, Some("cancelled"))
    );
    let ledger = env.read(".codex-autorunner/events.jsonl");
    let aborted: serde_json::Value = ledger
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["type"] == "task_aborted")
        .unwrap();
    assert_eq!(aborted["requested_by"], "api");
}

#[test]
fn fifty_concurrent_tasks_all_end_each_with_only_its_own_output_and_nothing_left_running() {
    const TASKS: usize = 50;
    let env = codex_env();
    env.config("server:\n  rate_limit_per_minute: 0\n");
    env.script(&format!(
        "{THREAD}\ncat-prompt\nout\nlast-message done\n{DONE}\n"
    ));
    let server = Server::start(&env, &[]);
    let started = Instant::now();
    let ids: Vec<String> = std::thread::scope(|s| {
        let spawns: Vec<_> = (0..TASKS)
            .map(|i| {
                let url = format!("{}api/v1/tasks", server.base);
                s.spawn(move || {
                    // A client of its own (the server's handle stays here).
                    let r = ureq::post(&url)
                        .set("Authorization", &format!("Bearer {TOKEN}"))
                        .timeout(Duration::from_secs(60))
                        .send_json(serde_json::json!({"prompt": format!("only-task-{i:02}")}))
                        .unwrap_or_else(|e| panic!("task {i}: {e}"));
                    assert_eq!(r.status(), 202, "task {i}");
                    let body: serde_json::Value = r.into_json().unwrap();
                    body["task_id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        spawns.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), TASKS, "{ids:?}");

    // Every task ends, succeeded.
    loop {
        let page = server.get(&format!("api/v1/tasks?limit={TASKS}")).json();
        assert_eq!(page["total"], TASKS);
        let states: Vec<&str> = page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].as_str().unwrap())
            .collect();
        if states.iter().all(|s| *s == "succeeded") {
            break;
        }
        assert!(
            states
                .iter()
                .all(|s| ["queued", "running", "succeeded"].contains(s)),
            "{states:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "not all tasks ended: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{TASKS} tasks spawned and ended in {:?}", started.elapsed());

    // Each task's output holds its own prompt and no other's.
    for (i, id) in ids.iter().enumerate() {
        let log = env.read(&format!(".codex-autorunner/jobs/{id}/output.log"));
        let own = format!("only-task-{i:02}");
        let seen: Vec<&str> = log
            .match_indices("only-task-")
            .map(|(at, _)| &log[at..at + own.len()])
            .collect();
        assert_eq!(seen, [own.as_str()], "task {id}'s output: {log}");
        let rec = server.get(&format!("api/v1/tasks/{id}")).json();
        assert_eq!(
            (rec["final_output"].as_str(), rec["runner_pid"].as_i64()),
            (Some("done"), None),
            "{rec:#}"
        );
    }

    // No task process and no agent is left (the server carries the
    // agent's script in its environment too).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<i32> = env
            .agent_processes()
            .into_iter()
            .filter(|&p| p != server.pid())
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes left: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
