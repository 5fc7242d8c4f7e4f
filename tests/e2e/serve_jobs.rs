//! `car snapshot` and `car ingest-spec` as jobs of `car serve`: started
//! by `POST .../snapshot` and `POST .../ingest-spec`, run as processes of
//! their own (they outlive the server), read at `GET .../jobs/{job}`, and
//! recorded in the ledger with who asked.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN};

/// Starts a job with `body`; returns its id.
fn start(server: &Server, kind: &str, body: &serde_json::Value) -> String {
    let r = server.post(&format!("api/v1/repos/{REPO}/{kind}"), body);
    assert_eq!(r.status, 202, "{}", r.body);
    let v = r.json();
    assert_eq!(
        (v["status"].as_str(), v["kind"].as_str()),
        (Some("queued"), Some(kind))
    );
    let id = v["job_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("x-"), "{id}");
    id
}

/// The job's result once it ended.
fn ended(server: &Server, id: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let r = server.get(&format!("api/v1/repos/{REPO}/jobs/{id}"));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        if ["succeeded", "failed", "cancelled"].contains(&v["state"].as_str().unwrap()) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job {id} did not end: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ledger(env: &TestEnv) -> Vec<serde_json::Value> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_snapshot_job_runs_on_its_own_and_its_result_holds_the_output() {
    let env = TestEnv::new();
    env.write("README.md", "# demo\n");
    env.script("out # printed only\n---\nsleep 1\nout # Repo snapshot\n---\nout partial\nexit 3\n");
    let server = Server::start(&env, &[]);

    // `stdout`: the snapshot is the job's output; nothing is written.
    let id = start(&server, "snapshot", &serde_json::json!({"stdout": true}));
    let done = ended(&server, &id);
    assert_eq!(
        (done["state"].as_str(), done["exit_code"].as_i64()),
        (Some("succeeded"), Some(0)),
        "{done:#}"
    );
    assert_eq!(done["job_id"], id.as_str());
    assert_eq!(done["stdout"], "# printed only\n");
    assert_eq!(done["requested_by"], "api");
    assert!(done["finished_at"].is_string(), "{done:#}");
    assert!(!env.path(".codex-autorunner/SNAPSHOT.md").exists());
    assert!(
        env.path(&format!(".codex-autorunner/jobs/{id}/exec.json"))
            .is_file()
    );

    // Without a body: SNAPSHOT.md is written, by a job that outlives a
    // server killed while it runs.
    let id = start(&server, "snapshot", &serde_json::json!({}));
    server.kill9();
    let server = Server::start(&env, &[]);
    let done = ended(&server, &id);
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert!(
        done["stdout"]
            .as_str()
            .unwrap()
            .contains("snapshot written to"),
        "{done:#}"
    );
    assert_eq!(
        env.read(".codex-autorunner/SNAPSHOT.md"),
        "# Repo snapshot\n"
    );

    // A failing agent: the job fails with car's exit code and its error,
    // and the old snapshot is kept.
    let id = start(
        &server,
        "snapshot",
        &serde_json::json!({"from_scratch": true}),
    );
    let done = ended(&server, &id);
    assert_eq!(
        (done["state"].as_str(), done["exit_code"].as_i64()),
        (Some("failed"), Some(1)),
        "{done:#}"
    );
    assert!(
        done["stderr"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{done:#}"
    );
    assert_eq!(
        env.read(".codex-autorunner/SNAPSHOT.md"),
        "# Repo snapshot\n"
    );

    // The ledger: each start and end with who asked, and the audit (a job
    // appends its end just after it finished its record).
    let start = Instant::now();
    while ledger(&env)
        .iter()
        .filter(|e| e["type"] == "exec_done")
        .count()
        < 3
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = ledger(&env);
    let started: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "exec_started")
        .collect();
    assert_eq!(started.len(), 3, "{events:#?}");
    assert!(started.iter().all(|e| e["requested_by"] == "api"
        && e["origin"].as_str().unwrap().starts_with("http 127.0.0.1:")));
    assert_eq!(
        events.iter().filter(|e| e["type"] == "exec_done").count(),
        3
    );
    let audits = events
        .iter()
        .filter(|e| e["type"] == "audit" && e["path"] == format!("/api/v1/repos/{REPO}/snapshot"))
        .count();
    assert_eq!(audits, 3, "{events:#?}");
}

#[test]
fn an_ingest_spec_job_reads_the_spec_asked_for_and_keeps_cars_refusal() {
    let env = TestEnv::new();
    env.write("docs/my spec.md", "# Spec\nA parser.\n");
    env.todo("- [ ] my own task\n");
    env.script(
        "out <TODO>\nout - [ ] Build the parser\nout </TODO>\nout <PROGRESS>\nout Started.\nout </PROGRESS>\nout <OPINIONS>\nout - Small.\nout </OPINIONS>\n",
    );
    let server = Server::start(&env, &[]);

    // A TODO with content is not overwritten without `force`.
    let id = start(
        &server,
        "ingest-spec",
        &serde_json::json!({"spec": "docs/my spec.md"}),
    );
    let done = ended(&server, &id);
    assert_eq!(
        (done["state"].as_str(), done["exit_code"].as_i64()),
        (Some("failed"), Some(2))
    );
    assert!(
        done["stderr"].as_str().unwrap().contains("--force"),
        "{done:#}"
    );
    assert_eq!(env.agent_runs(), 0);

    let id = start(
        &server,
        "ingest-spec",
        &serde_json::json!({"spec": "docs/my spec.md", "force": true}),
    );
    let done = ended(&server, &id);
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert!(
        done["stdout"].as_str().unwrap().contains("TODO: 1 items"),
        "{done:#}"
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [ ] Build the parser\n"
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md.bak"),
        "- [ ] my own task\n"
    );
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(prompt.contains("# Spec\nA parser.\n"), "{prompt}");
}

#[test]
fn bad_job_requests_are_4xx_and_start_nothing() {
    let env = TestEnv::new();
    std::fs::write(env.root.parent().unwrap().join("outside.md"), "# o\n").unwrap();
    let server = Server::start(&env, &[]);
    let cases = [
        ("ingest-spec", r#"{"spec": "../outside.md"}"#, 400),
        ("ingest-spec", r#"{"spec": "/etc/hostname"}"#, 400),
        ("ingest-spec", r#"{"spec": "missing.md"}"#, 400),
        ("ingest-spec", r#"{"spec": ".codex-autorunner"}"#, 400),
        ("ingest-spec", r#"{"spec": 3}"#, 400),
        ("ingest-spec", r#"{"shell": "rm"}"#, 400),
        ("snapshot", r#"{"stdout": "yes"}"#, 400),
        ("snapshot", "not json", 400),
        ("snapshot", "[]", 400),
    ];
    let auth = format!("Bearer {TOKEN}");
    for (kind, body, want) in cases {
        let r = server.send(
            "POST",
            &format!("api/v1/repos/{REPO}/{kind}"),
            &[("Authorization", &auth)],
            Some(body),
        );
        assert_eq!(r.status, want, "{kind} {body}: {}", r.body);
        assert!(r.json()["error"]["message"].is_string(), "{}", r.body);
    }
    let r = server.post("api/v1/repos/nope/snapshot", &serde_json::json!({}));
    assert_eq!(r.status, 404);
    assert!(
        !env.path(".codex-autorunner/jobs").exists(),
        "nothing was started"
    );
    for path in [
        format!("api/v1/repos/{REPO}/jobs/x-nope"),
        format!("api/v1/repos/{REPO}/jobs/..%2Fstate.json"),
        "api/v1/repos/nope/jobs/x-1".to_string(),
    ] {
        assert_eq!(server.get(&path).status, 404, "{path}");
    }
}
