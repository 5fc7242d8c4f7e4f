//! Commands through `car serve`: start one, read its result and both logs
//! byte-exact, tail them, follow a log over SSE and resume it with
//! `Last-Event-ID`, cancel one that ignores SIGTERM (nothing left
//! running), and the working-directory rules with `server.allowed_roots`
//! (an absolute path, `..` or a symlink leading out is refused; a
//! directory under an allowed root works), for commands and tasks alike.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive, read_pid};
use crate::serve_client::{REPO, Server, TOKEN, read_until};

type Events = mpsc::Receiver<(String, Option<u64>, serde_json::Value)>;
type Event = (String, Option<u64>, serde_json::Value);

const OUT: &[u8] = b"one\ntwo\r\n\xff\xfethree\n";
const ERR: &[u8] = b"e1\0\nlast";

/// Every event until the stream ends (panics after `timeout`).
fn all_events(events: &Events, timeout: Duration) -> Vec<Event> {
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

/// The `line` of each `log` event.
fn lines(got: &[Event]) -> Vec<String> {
    got.iter()
        .filter(|e| e.0 == "log")
        .map(|e| e.2["line"].as_str().unwrap().to_string())
        .collect()
}

/// A GET with the token: status, `Content-Type`, `X-Log-Offset` and the
/// body's bytes, unchanged.
fn raw(server: &Server, path: &str) -> (u16, String, Option<u64>, Vec<u8>) {
    let resp = match ureq::get(&format!("{}{path}", server.base))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let status = resp.status();
    let ctype = resp.header("content-type").unwrap_or("").to_string();
    let offset = resp.header("x-log-offset").map(|v| v.parse().unwrap());
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    (status, ctype, offset, body)
}

fn delete(server: &Server, path: &str) -> crate::serve_client::Resp {
    let right = format!("Bearer {TOKEN}");
    server.send("DELETE", path, &[("Authorization", &right)], None)
}

/// Starts `cmd` (in `cwd`, when given): its id.
fn start(server: &Server, cmd: &str, cwd: Option<&str>) -> String {
    let r = server.post("api/v1/execs", &serde_json::json!({"cmd": cmd, "cwd": cwd}));
    assert_eq!(r.status, 202, "{cmd}: {}", r.body);
    let body = r.json();
    assert_eq!(
        (body["status"].as_str(), body["repo"].as_str()),
        (Some("queued"), Some(REPO))
    );
    let id = body["exec_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("x-"), "{id}");
    id
}

/// The command's record once it is over.
fn wait_done(server: &Server, id: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let rec = server.get(&format!("api/v1/execs/{id}")).json();
        if ["succeeded", "failed", "cancelled"].contains(&rec["state"].as_str().unwrap()) {
            return rec;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{rec:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ledger's events of `kind`.
fn ledger(env: &TestEnv, kind: &str) -> Vec<serde_json::Value> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == kind)
        .collect()
}

/// The ledger's events of `kind`, once there are at least `n` (10 s at most).
fn wait_ledger(env: &TestEnv, kind: &str, n: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let got = ledger(env, kind);
        if got.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_command_is_started_its_logs_read_byte_exact_tailed_and_streamed_with_resume() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("sub")).unwrap();
    let server = Server::start(&env, &[]);
    let cmd = r"printf 'one\ntwo\r\n\377\376three\n'; printf 'e1\000\nlast' >&2; exit 7";
    let id = start(&server, cmd, Some("sub"));

    // Followed live from the start to its end.
    let got = all_events(
        &server.sse(&format!("api/v1/execs/{id}/logs/stream"), &[]),
        Duration::from_secs(30),
    );
    assert_eq!(lines(&got), ["one", "two\r", "\u{fffd}\u{fffd}three"]);
    let (last, logs) = got.split_last().unwrap();
    assert_eq!(last.0, "done", "{got:#?}");
    assert_eq!(
        (last.2["state"].as_str(), last.2["exit_code"].as_i64()),
        (Some("failed"), Some(7))
    );
    assert!(
        logs.iter()
            .all(|e| e.2["stream"] == "stdout"
                && e.2["ts"].as_str().is_some_and(|t| t.ends_with('Z')))
    );
    // Each id is where the next line starts.
    let ids: Vec<u64> = logs.iter().map(|e| e.1.unwrap()).collect();
    assert_eq!(ids, [4, 9, OUT.len() as u64]);

    // The result.
    let rec = server.get(&format!("api/v1/execs/{id}")).json();
    assert_eq!(rec["state"], "failed");
    assert_eq!(rec["exit_code"], 7);
    assert_eq!(rec["signal"], serde_json::Value::Null);
    assert_eq!(rec["cmd"], cmd);
    assert_eq!(rec["repo"], REPO);
    let sub = std::fs::canonicalize(env.path("sub")).unwrap();
    assert_eq!(rec["cwd"], sub.display().to_string());
    assert!(rec["created_at"].is_string() && rec["started_at"].is_string());
    assert!(rec["finished_at"].is_string());
    assert_eq!(rec["requested_by"], "api");
    assert!(
        rec["origin"]
            .as_str()
            .unwrap()
            .starts_with("http 127.0.0.1:"),
        "{rec:#}"
    );
    let cli = env.run(&["exec", "status", &id, "--json"]);
    let cli: serde_json::Value = serde_json::from_str(&cli.stdout()).unwrap();
    assert_eq!(
        (cli["state"].as_str(), cli["exit_code"].as_i64()),
        (Some("failed"), Some(7))
    );

    // Both logs, byte for byte, whole and tailed.
    let logs_of = |query: &str| raw(&server, &format!("api/v1/execs/{id}/logs{query}"));
    let (status, ctype, offset, body) = logs_of("");
    assert_eq!(
        (status, ctype.as_str(), offset),
        (200, "text/plain", Some(0))
    );
    assert_eq!(body, OUT);
    assert_eq!(logs_of("?stream=stdout").3, OUT);
    assert_eq!(logs_of("?stream=stderr").3, ERR);
    let tail = logs_of("?tail=2");
    assert_eq!((tail.2, tail.3.as_slice()), (Some(4), &OUT[4..]));
    assert_eq!(logs_of("?stream=stderr&tail=1").3, b"last");
    assert_eq!(logs_of("?tail=0").3, b"");
    assert_eq!(logs_of("?tail=0").2, Some(OUT.len() as u64));

    // Reconnecting after the first line: the rest, no gap, no duplicate.
    let first = ids[0].to_string();
    let again = all_events(
        &server.sse(
            &format!("api/v1/execs/{id}/logs/stream"),
            &[("Last-Event-ID", &first)],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(lines(&again), lines(&got)[1..]);
    assert_eq!(again.last().unwrap().0, "done");
    let by_query = all_events(
        &server.sse(
            &format!("api/v1/execs/{id}/logs/stream?offset={}", ids[1]),
            &[],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(lines(&by_query), lines(&got)[2..]);
    let stderr = all_events(
        &server.sse(&format!("api/v1/execs/{id}/logs/stream?stream=stderr"), &[]),
        Duration::from_secs(30),
    );
    assert_eq!(lines(&stderr), ["e1\0", "last"]);
    assert!(
        stderr
            .iter()
            .filter(|e| e.0 == "log")
            .all(|e| e.2["stream"] == "stderr")
    );
    assert_eq!(stderr[1].1, Some(ERR.len() as u64));

    // A page, newest first.
    let ok = start(&server, "true", None);
    assert_eq!(wait_done(&server, &ok)["state"], "succeeded");
    let page = server.get("api/v1/execs?limit=1").json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["execs"].as_array().unwrap().len(), 1);
    assert_eq!(page["execs"][0]["id"], ok.as_str());
    let page = server.get("api/v1/execs?offset=1").json();
    assert_eq!(page["execs"][0]["id"], id.as_str());

    // The ledger: who started them, how they ended, the audit of each call.
    let started = ledger(&env, "exec_started");
    assert_eq!(started.len(), 2);
    assert_eq!(started[0]["exec_id"], id.as_str());
    assert_eq!(started[0]["requested_by"], "api");
    assert!(
        started[0]["origin"]
            .as_str()
            .unwrap()
            .starts_with("http 127.0.0.1:")
    );
    // The runner finishes its record, then appends `exec_done`: a moment
    // may pass between the two.
    let done = wait_ledger(&env, "exec_done", 2);
    let done: Vec<_> = done.iter().map(|e| e["state"].clone()).collect();
    assert_eq!(done, ["failed", "succeeded"]);
    let audits: Vec<_> = ledger(&env, "audit")
        .iter()
        .map(|e| (e["method"].clone(), e["path"].clone(), e["status"].clone()))
        .collect();
    assert_eq!(
        audits,
        [
            ("POST".into(), "/api/v1/execs".into(), 202.into()),
            ("POST".into(), "/api/v1/execs".into(), 202.into())
        ]
    );
}

#[test]
fn bad_command_requests_are_4xx_and_unknown_commands_404() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let cases = [
        (serde_json::json!({"cmd": "  "}), 400),
        (
            serde_json::json!({"cmd": "true", "cwd": "missing-dir"}),
            400,
        ),
        (serde_json::json!({"cmd": "true", "repo": "nope"}), 404),
        (serde_json::json!({"cmd": "true", "shell": "bash"}), 400),
        (serde_json::json!({"prompt": "x"}), 400),
        (serde_json::json!({"cmd": 5}), 400),
    ];
    for (body, want) in cases {
        let r = server.post("api/v1/execs", &body);
        assert_eq!(r.status, want, "{body}: {}", r.body);
        assert!(r.json()["error"]["message"].is_string());
    }
    assert_eq!(server.get("api/v1/execs").json()["total"], 0, "nothing ran");
    for path in [
        "api/v1/execs/x-nope",
        "api/v1/execs/..%2Fx",
        "api/v1/execs/x-nope/logs",
        "api/v1/execs/x-nope/logs/stream",
        "api/v1/execs/t-a-task",
    ] {
        assert_eq!(server.get(path).status, 404, "{path}");
    }
    assert_eq!(delete(&server, "api/v1/execs/x-nope").status, 404);
    let id = start(&server, "echo hi", None);
    wait_done(&server, &id);
    for query in ["?stream=both", "?tail=x", "?tail=-1", "?follow=1"] {
        let r = server.get(&format!("api/v1/execs/{id}/logs{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        let r = server.get(&format!("api/v1/execs/{id}/logs/stream{query}"));
        assert_eq!(r.status, 400, "stream {query}: {}", r.body);
    }
    let right = format!("Bearer {TOKEN}");
    let r = server.send(
        "GET",
        &format!("api/v1/execs/{id}/logs/stream"),
        &[("Authorization", &right), ("Last-Event-ID", "soon")],
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(server.get("api/v1/execs?limit=x").status, 400);
}

#[test]
fn delete_cancels_a_command_ignoring_sigterm_with_its_whole_tree() {
    let env = TestEnv::new();
    env.config("runner:\n  kill_grace_seconds: 1\n");
    let server = Server::start(&env, &[]);
    let cmd = "trap '' TERM; echo $$ > sh.pid; sleep 600 & echo $! > sleep.pid; \
               setsid sh -c 'echo $$ > child.pid; exec sleep 600' & echo ready; wait";
    let id = start(&server, cmd, None);
    let events = server.sse(&format!("api/v1/execs/{id}/logs/stream"), &[]);
    read_until(&events, Duration::from_secs(30), |k, d| {
        k == "log" && d["line"] == "ready"
    });
    env.wait_for(
        "the child in its own session",
        Duration::from_secs(10),
        || env.path("child.pid").exists(),
    );
    let rec = server.get(&format!("api/v1/execs/{id}")).json();
    assert_eq!(rec["state"], "running");
    let runner = rec["runner_pid"].as_i64().unwrap() as i32;
    let pids = [
        runner,
        read_pid(&env.path("sh.pid")),
        read_pid(&env.path("sleep.pid")),
        read_pid(&env.path("child.pid")),
    ];
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");

    let t = Instant::now();
    let del = delete(&server, &format!("api/v1/execs/{id}"));
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(del.json()["state"], "cancelled");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    env.wait_for(
        "nothing of the command left",
        Duration::from_secs(3),
        || pids.iter().all(|&p| !alive(p)),
    );
    // The open stream ends with the command.
    let rest = all_events(&events, Duration::from_secs(20));
    let last = rest.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.2["state"].as_str()),
        ("done", Some("cancelled")),
        "{rest:#?}"
    );
    // Cancelling again leaves it as it is.
    let again = delete(&server, &format!("api/v1/execs/{id}"));
    assert_eq!(
        (again.status, again.json()["state"].as_str()),
        (200, Some("cancelled"))
    );
    let cancelled = ledger(&env, "exec_cancelled");
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(cancelled[0]["requested_by"], "api");
    assert!(
        cancelled[0]["origin"]
            .as_str()
            .unwrap()
            .starts_with("http 127.0.0.1:")
    );
    let done = wait_ledger(&env, "exec_done", 1);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["state"], "cancelled");
    let audited = ledger(&env, "audit");
    assert!(
        audited
            .iter()
            .any(|e| e["method"] == "DELETE" && e["path"] == format!("/api/v1/execs/{id}")),
        "{audited:?}"
    );
}

#[test]
fn a_cwd_must_resolve_under_the_repository_or_an_allowed_root() {
    let env = TestEnv::new();
    let top = env.path("..");
    for dir in ["outside", "allowed/deep", "home/work"] {
        std::fs::create_dir_all(top.join(dir)).unwrap();
    }
    std::os::unix::fs::symlink("../outside", env.path("escape")).unwrap();
    std::os::unix::fs::symlink("../allowed/deep", env.path("in-link")).unwrap();
    std::fs::create_dir_all(env.path("sub")).unwrap();
    env.config("codex:\n  args: [exec]\nserver:\n  allowed_roots: [../allowed, ~/work]\n");
    env.script(concat!(
        r#"out {"type":"thread.started","thread_id":"th-1"}"#,
        "\n",
        r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#,
        "\n",
    ));
    let canon = |p: &str| std::fs::canonicalize(top.join(p)).unwrap();
    let outside = canon("outside").display().to_string();
    let server = Server::start(&env, &[]);

    // Out: an absolute path, `..`, a symlink, `..` through a symlink.
    for cwd in [
        outside.as_str(),
        "/",
        "../outside",
        "sub/../../outside",
        "escape",
        "in-link/../../outside",
    ] {
        for (route, body) in [
            (
                "api/v1/execs",
                serde_json::json!({"cmd": "true", "cwd": cwd}),
            ),
            (
                "api/v1/tasks",
                serde_json::json!({"prompt": "p", "cwd": cwd}),
            ),
        ] {
            let r = server.post(route, &body);
            assert_eq!(r.status, 400, "{route} {cwd}: {}", r.body);
            let message = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(
                message.contains(cwd) && message.contains("server.allowed_roots"),
                "{cwd}: {message}"
            );
            if cwd.contains("..") || cwd == "escape" {
                assert!(
                    message.contains(&format!("(resolved: {outside})")),
                    "{message}"
                );
            }
        }
    }
    assert_eq!(server.get("api/v1/execs").json()["total"], 0);
    assert_eq!(server.get("api/v1/tasks").json()["total"], 0);

    // In: under an allowed root (as asked, through `..` or a symlink,
    // under `~`), or in the repository.
    let deep = canon("allowed/deep").display().to_string();
    for (cwd, want) in [
        (deep.as_str(), deep.clone()),
        ("../allowed", canon("allowed").display().to_string()),
        ("in-link", deep.clone()),
        (
            "sub/..",
            std::fs::canonicalize(env.path(""))
                .unwrap()
                .display()
                .to_string(),
        ),
        (
            &canon("home/work").display().to_string(),
            canon("home/work").display().to_string(),
        ),
    ] {
        let id = start(&server, "pwd", Some(cwd));
        let rec = wait_done(&server, &id);
        assert_eq!(rec["state"], "succeeded", "{cwd}: {rec:#}");
        assert_eq!(rec["cwd"], want.as_str());
        let out = raw(&server, &format!("api/v1/execs/{id}/logs")).3;
        assert_eq!(String::from_utf8(out).unwrap(), format!("{want}\n"));
    }
    let task = server.post(
        "api/v1/tasks",
        &serde_json::json!({"prompt": "p", "cwd": deep}),
    );
    assert_eq!(task.status, 202, "{}", task.body);
    let task = task.json()["task_id"].as_str().unwrap().to_string();
    env.wait_for("the task's end", Duration::from_secs(30), || {
        server.get(&format!("api/v1/tasks/{task}")).json()["state"] == "succeeded"
    });

    // The command line keeps to the same roots.
    let out = env.run(&["exec", "start", "true", "--cwd", &outside]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr().contains("server.allowed_roots"),
        "{}",
        out.stderr()
    );
    let out = env.run(&["exec", "start", "true", "--cwd", &deep]);
    out.expect_code(0);
    let out = env.run(&["task", "spawn", "p", "--cwd", "escape"]);
    assert!(out.stderr().contains("(resolved: "), "{}", out.stderr());
    drop(server);

    // A root that does not exist is a configuration error naming the key.
    env.config("server:\n  allowed_roots: [../allowed, ../gone]\n");
    let err = Server::start_with(&env, Some(TOKEN), &[]).err().unwrap();
    assert!(
        err.contains("`server.allowed_roots`") && err.contains("item 2") && err.contains("../gone"),
        "{err}"
    );
    let out = env.run(&["exec", "start", "true"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr().contains("server.allowed_roots"),
        "{}",
        out.stderr()
    );
}
