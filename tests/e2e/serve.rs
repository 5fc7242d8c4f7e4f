//! `car serve` with the real binary: the listening line, the read
//! routes, a loop driven through the API and followed over SSE, shutdown.

use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive};
use crate::serve_client::{REPO, Server, TOKEN_ENV, read_until};

fn stopped(kind: &str, data: &serde_json::Value) -> bool {
    kind == "event" && data["type"] == "stopped"
}

#[test]
fn the_first_line_says_where_it_listens_and_health_needs_no_token() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    assert!(server.base.starts_with("http://127.0.0.1:"));
    assert!(server.port > 0);
    let health = server.send("GET", "health", &[], None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["ok"], true);
    assert!(health.json()["version"].is_string());
    assert!(health.content_type.starts_with("application/json"));
    // The repository is listed under its directory name.
    let repos = server.get("api/v1/repos").json();
    assert_eq!(repos[0]["id"], REPO);
    assert_eq!(repos[0]["running"], false);
    // What `car status --json` says.
    let status = server.get(&format!("api/v1/repos/{REPO}")).json();
    let cli: serde_json::Value =
        serde_json::from_str(&env.run(&["status", "--json"]).stdout()).unwrap();
    assert_eq!(status["root"], cli["root"]);
    assert_eq!(status["state"]["status"], cli["state"]["status"]);
    assert_eq!(status["todo"], cli["todo"]);
    // The resolved configuration, with sources.
    let config = server.get(&format!("api/v1/repos/{REPO}/config")).json();
    let source = config["sources"]["server.auth_token_env"].as_str().unwrap();
    assert!(source.ends_with("config.yml"), "{source}");
    assert_eq!(config["config"]["server"]["auth_token_env"], TOKEN_ENV);
    // Unknown repositories and routes are JSON 404s.
    let missing = server.get("api/v1/repos/nope");
    assert_eq!(
        (missing.status, missing.json()["error"]["kind"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(server.get("api/v1/nothing").status, 404);
}

#[test]
fn a_base_path_prefixes_every_route_and_the_line_names_it() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["--base-path", "/car/"]);
    assert!(server.base.ends_with("/car/"), "{}", server.base);
    assert_eq!(server.send("GET", "health", &[], None).status, 200);
    let root = format!("http://127.0.0.1:{}/health", server.port);
    let outside = match ureq::get(&root).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(outside, 404);
}

#[test]
fn a_loop_started_through_the_api_is_followed_over_sse_to_its_stop() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script(
        "out hello from the agent\nenv-out CAR_TEST_SERVER_TOKEN\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n",
    );
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "?since=1", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.json()["result"], "started");
    let got = read_until(&events, Duration::from_secs(120), stopped);
    let (_, _, last) = got.last().unwrap();
    assert_eq!(last["reason"], "completed", "{got:#?}");
    // Ledger events carry their seq as id, in order, without gaps.
    let ids: Vec<u64> = got
        .iter()
        .filter(|e| e.0 == "event")
        .map(|e| e.1.unwrap())
        .collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    assert!(got.iter().any(|e| e.2["type"] == "loop_started"));
    // The agent's output arrives as lines. The last run's may come after
    // the stop.
    let mut lines: Vec<String> = got
        .iter()
        .filter(|e| e.0 == "output")
        .map(|e| e.2["line"].as_str().unwrap().to_string())
        .collect();
    while let Ok(e) = events.recv_timeout(Duration::from_millis(500)) {
        if e.0 == "output" {
            lines.push(e.2["line"].as_str().unwrap().to_string());
        }
    }
    assert!(
        // The log's own lines: `[ts] stdout: ...`.
        lines
            .iter()
            .any(|l| l.ends_with("] stdout: hello from the agent")),
        "{lines:?}"
    );
    // The server's token never reaches the agent.
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("] stdout: CAR_TEST_SERVER_TOKEN=<unset>")),
        "{lines:?}"
    );
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [x] a\n- [x] b\n");

    // The same through the read routes.
    let page = server
        .get(&format!("api/v1/repos/{REPO}/events?since=2&limit=3"))
        .json();
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    assert_eq!(page["next"], 5);
    let runs = server.get(&format!("api/v1/repos/{REPO}/runs")).json();
    let run_ids: Vec<u64> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(run_ids, vec![3, 2, 1], "newest first");
    let older = server
        .get(&format!("api/v1/repos/{REPO}/runs?before=3&limit=1"))
        .json();
    assert_eq!(older[0]["id"], 2);
    assert_eq!(older.as_array().unwrap().len(), 1);
    let run = server.get(&format!("api/v1/repos/{REPO}/runs/1")).json();
    assert_eq!(run["record"]["outcome"], "ok", "{run:#}");
    assert!(run["prompt"].as_str().unwrap().contains("- [ ] a"));
    assert!(run["final_output"].is_string());
    let whole = server
        .get(&format!("api/v1/repos/{REPO}/runs/1/output"))
        .json();
    let text = whole["text"].as_str().unwrap();
    assert_eq!(whole["size"].as_u64().unwrap(), text.len() as u64);
    assert_eq!(env.read(".codex-autorunner/runs/1/output.log"), text);
    let at = text.find("hello").unwrap();
    let out = server
        .get(&format!(
            "api/v1/repos/{REPO}/runs/1/output?offset={at}&limit=5"
        ))
        .json();
    assert_eq!(out["text"], "hello");
    assert_eq!(out["next_offset"], at as u64 + 5);
    assert_eq!(
        server.get(&format!("api/v1/repos/{REPO}/runs/9")).status,
        404
    );
    let bad = server.get(&format!("api/v1/repos/{REPO}/runs/x"));
    assert_eq!(
        (bad.status, bad.json()["error"]["kind"].as_str()),
        (400, Some("bad_request"))
    );
    let bad = server.get(&format!("api/v1/repos/{REPO}/events?since=minus"));
    assert_eq!(bad.status, 400);
    let state = env.state();
    assert_eq!(state["status"], "completed", "{state:#}");
    let status = server.get(&format!("api/v1/repos/{REPO}")).json();
    assert_eq!(status["state"]["status"], "completed");
}

#[test]
fn sigterm_ends_the_server_and_its_streams_but_never_the_loop() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("sleep 1\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    let runner = started.json()["pid"].as_i64().unwrap() as i32;
    read_until(&events, Duration::from_secs(60), |k, d| {
        k == "event" && d["type"] == "run_started"
    });
    let t = Instant::now();
    let pid = server.pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // The stream ends (its channel closes) and the server exits.
    while events.recv_timeout(Duration::from_secs(10)).is_ok() {}
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the stream stayed open"
    );
    env.wait_for("the server to exit", Duration::from_secs(10), || {
        !alive(pid)
    });
    assert!(server.stderr_has(Duration::from_secs(10), |l| l == "car: shutting down"));
    assert!(alive(runner), "the loop must go on");
    env.wait_for("the loop to finish", Duration::from_secs(120), || {
        !alive(runner)
    });
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [x] a\n- [x] b\n");
}
