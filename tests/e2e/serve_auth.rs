//! Who may use `car serve`: a matrix over every route x (no token, wrong
//! token, another scheme, right token), which the OpenAPI document must list exactly; no
//! non-loopback address without a token; `Host` and `Origin` checks.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN, TOKEN_ENV};

/// Every route: method, OpenAPI path, a concrete path, a body.
const ROUTES: &[(&str, &str, &str, Option<&str>)] = &[
    ("GET", "/health", "health", None),
    ("GET", "/api/v1/openapi.json", "api/v1/openapi.json", None),
    ("GET", "/api/v1/repos", "api/v1/repos", None),
    ("GET", "/api/v1/repos/{id}", "api/v1/repos/repo", None),
    (
        "GET",
        "/api/v1/repos/{id}/config",
        "api/v1/repos/repo/config",
        None,
    ),
    (
        "GET",
        "/api/v1/repos/{id}/docs/{doc}",
        "api/v1/repos/repo/docs/todo",
        None,
    ),
    (
        "PUT",
        "/api/v1/repos/{id}/docs/{doc}",
        "api/v1/repos/repo/docs/progress",
        Some(r#"{"text":"p\n"}"#),
    ),
    (
        "POST",
        "/api/v1/repos/{id}/loop/{action}",
        "api/v1/repos/repo/loop/stop",
        Some("{}"),
    ),
    (
        "POST",
        "/api/v1/repos/{id}/reply",
        "api/v1/repos/repo/reply",
        Some(r#"{"text":"yes"}"#),
    ),
    (
        "GET",
        "/api/v1/repos/{id}/runs",
        "api/v1/repos/repo/runs",
        None,
    ),
    (
        "GET",
        "/api/v1/repos/{id}/runs/{n}",
        "api/v1/repos/repo/runs/1",
        None,
    ),
    (
        "GET",
        "/api/v1/repos/{id}/runs/{n}/output",
        "api/v1/repos/repo/runs/1/output",
        None,
    ),
    (
        "GET",
        "/api/v1/repos/{id}/events",
        "api/v1/repos/repo/events",
        None,
    ),
    (
        "GET",
        "/api/v1/repos/{id}/stream",
        "api/v1/repos/repo/stream",
        None,
    ),
    (
        "POST",
        "/api/v1/repos/{id}/snapshot",
        "api/v1/repos/repo/snapshot",
        Some(r#"{"stdout":true}"#),
    ),
    (
        "POST",
        "/api/v1/repos/{id}/ingest-spec",
        "api/v1/repos/repo/ingest-spec",
        Some("{}"),
    ),
    (
        "GET",
        "/api/v1/repos/{id}/jobs/{job}",
        "api/v1/repos/repo/jobs/JOB",
        None,
    ),
    (
        "POST",
        "/api/v1/tasks",
        "api/v1/tasks",
        Some(r#"{"prompt":"p"}"#),
    ),
    ("GET", "/api/v1/tasks", "api/v1/tasks", None),
    ("GET", "/api/v1/tasks/{id}", "api/v1/tasks/TASK", None),
    (
        "POST",
        "/api/v1/tasks/{id}/reply",
        "api/v1/tasks/TASK/reply",
        Some(r#"{"message":"m"}"#),
    ),
    ("DELETE", "/api/v1/tasks/{id}", "api/v1/tasks/TASK", None),
    (
        "GET",
        "/api/v1/tasks/{id}/stream",
        "api/v1/tasks/TASK/stream",
        None,
    ),
];

/// A task that ended, with a Codex conversation a reply can continue:
/// its id.
fn ended_task(env: &TestEnv) -> String {
    env.config("codex:\n  args: [exec]\n");
    env.script(concat!(
        r#"out {"type":"thread.started","thread_id":"th-1"}"#,
        "\n",
        r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#,
        "\n",
    ));
    let out = env.run(&["task", "spawn", "first"]);
    out.expect_code(0);
    let id = out.stdout().trim().to_string();
    env.wait_for("the task's end", Duration::from_secs(30), || {
        let status = env.run(&["task", "status", &id, "--json"]).stdout();
        status.contains("\"succeeded\"") && status.contains("th-1")
    });
    id
}

#[test]
fn every_route_but_health_needs_the_right_token_and_every_route_is_in_the_openapi_document() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("out hi\ncheck-todo\n");
    env.run(&["once"]).expect_code(0);
    let task = ended_task(&env);
    let job = env
        .run(&["exec", "start", "true"])
        .stdout()
        .trim()
        .to_string();
    let server = Server::start(&env, &[]);
    assert_eq!(REPO, "repo");
    let right = format!("Bearer {TOKEN}");
    let mut cases = 0;
    for &(method, _, path, body) in ROUTES {
        let path = &path.replace("TASK", &task).replace("JOB", &job);
        let path = path.as_str();
        let public = path == "health";
        let mut with_match = vec![("If-Match", "*")];
        for auth in [
            None,
            Some("Bearer wrong-token"),
            Some("Basic czNjcmV0"),
            Some(right.as_str()),
        ] {
            cases += 1;
            with_match.truncate(1);
            if let Some(a) = auth {
                with_match.push(("Authorization", a));
            }
            if path.ends_with("/stream") && auth == Some(right.as_str()) {
                // Streams never end: only the headers are read.
                let events = server.sse(path, &[]);
                drop(events);
                continue;
            }
            let resp = server.send(method, path, &with_match, body);
            let allowed = public || auth == Some(right.as_str());
            if allowed {
                assert!(
                    (200..300).contains(&resp.status),
                    "{method} {path} with {auth:?}: {} {}",
                    resp.status,
                    resp.body
                );
            } else {
                assert_eq!(
                    resp.status, 401,
                    "{method} {path} with {auth:?}: {}",
                    resp.body
                );
                assert_eq!(resp.json()["error"]["kind"], "unauthorized");
                assert!(!resp.body.contains(TOKEN));
            }
            assert_eq!(resp.allow_origin, None, "CORS stays closed");
        }
    }
    assert_eq!(cases, 4 * ROUTES.len());
    // Nothing a refused request asked for was done.
    assert_eq!(env.read(".codex-autorunner/PROGRESS.md"), "p\n");

    // The OpenAPI document lists exactly these routes.
    let doc = server.get("api/v1/openapi.json").json();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let tested: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.0.to_string(), r.1.to_string()))
        .collect();
    assert_eq!(documented, tested);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[test]
fn a_non_loopback_address_needs_a_token() {
    let env = TestEnv::new();
    let err = Server::start_with(&env, None, &["--host", "0.0.0.0"])
        .err()
        .expect("it must refuse");
    assert!(
        err.contains("server.auth_token_env") && err.contains(TOKEN_ENV),
        "{err}"
    );
    assert!(err.contains("0.0.0.0"), "{err}");
    let refused = env.run(&["serve", "--host", "0.0.0.0", "--port", "0"]);
    assert_ne!(refused.code(), 0);
    assert_eq!(refused.stdout(), "", "nothing listens");
    // With a token it listens there.
    let server = Server::start(&env, &["--host", "0.0.0.0"]);
    assert_eq!(server.get("api/v1/repos").status, 200);
    // Loopback without a token serves, with a warning.
    let env = TestEnv::new();
    let open = Server::start_with(&env, None, &[]).unwrap();
    assert_eq!(open.send("GET", "api/v1/repos", &[], None).status, 200);
    assert!(open.stderr_has(Duration::from_secs(30), |l| l.contains("no token")));
}

#[test]
fn a_foreign_host_or_origin_is_refused() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let right = format!("Bearer {TOKEN}");
    let port = server.port;
    // DNS rebinding: a name that is not this server's.
    for host in [format!("evil.example:{port}"), "127.0.0.2".to_string()] {
        let r = server.send("GET", "health", &[("Host", &host)], None);
        assert_eq!(
            (r.status, r.json()["error"]["kind"].as_str()),
            (403, Some("forbidden")),
            "{host}"
        );
        let r = server.send(
            "GET",
            "api/v1/repos",
            &[("Host", &host), ("Authorization", &right)],
            None,
        );
        assert_eq!(r.status, 403);
    }
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
    ] {
        assert_eq!(
            server
                .send("GET", "health", &[("Host", &host)], None)
                .status,
            200,
            "{host}"
        );
    }
    // A state-changing request from a foreign page is refused, and does
    // nothing; the server's own origin passes.
    let reply = format!("api/v1/repos/{REPO}/reply");
    let body = Some(r#"{"text":"from evil"}"#);
    let foreign = server.send(
        "POST",
        &reply,
        &[("Authorization", &right), ("Origin", "http://evil.example")],
        body,
    );
    assert_eq!(
        (foreign.status, foreign.json()["error"]["kind"].as_str()),
        (403, Some("forbidden"))
    );
    assert!(
        env.state()
            .get("user_reply")
            .is_none_or(serde_json::Value::is_null)
    );
    let own = format!("http://127.0.0.1:{port}");
    let same = server.send(
        "POST",
        &reply,
        &[("Authorization", &right), ("Origin", &own)],
        Some(r#"{"text":"ok"}"#),
    );
    assert_eq!(same.status, 200, "{}", same.body);
    // Reads from another origin get no CORS header, so a browser hides them.
    let read = server.send(
        "GET",
        "api/v1/repos",
        &[("Authorization", &right), ("Origin", "http://evil.example")],
        None,
    );
    assert_eq!((read.status, read.allow_origin), (200, None));
}
