//! Users and scoped tokens against a real `car serve`: a role × route
//! matrix (allowed / 403), expiry and revocation taking effect at once
//! (no restart), two users' concurrent tasks kept apart, and rate limits
//! and audit records per user.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN};

/// `car serve tokens create ARGS`: the token (stdout's one line).
fn token(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["serve", "tokens", "create"];
    all.extend_from_slice(args);
    let run = env.run(&all);
    run.expect_code(0);
    let t = run.stdout().trim().to_string();
    assert!(t.starts_with("car_u_"), "{t:?} / {}", run.stderr());
    t
}

fn add_user(env: &TestEnv, name: &str, role: &str) {
    env.run(&["serve", "users", "add", name, "--role", role])
        .expect_code(0);
}

/// `method path` with `token` (`body` as JSON): the answer.
fn call(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> crate::serve_client::Resp {
    server.send(
        method,
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        body,
    )
}

/// The status of `GET path` (a stream: only its head is read).
fn stream_status(server: &Server, token: &str, path: &str) -> u16 {
    let r = ureq::get(&format!("{}{path}", server.base))
        .set("Authorization", &format!("Bearer {token}"))
        .timeout(Duration::from_secs(30))
        .call();
    match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// A task spawned with `token`, once it is over.
fn spawned_task(server: &Server, token: &str, prompt: &str) -> String {
    let r = call(
        server,
        token,
        "POST",
        "api/v1/tasks",
        Some(&json!({ "prompt": prompt }).to_string()),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["task_id"].as_str().unwrap().to_string()
}

fn wait_over(server: &Server, id: &str) {
    let start = Instant::now();
    loop {
        let rec = server.get(&format!("api/v1/tasks/{id}")).json();
        if ["succeeded", "failed", "cancelled"].contains(&rec["state"].as_str().unwrap_or("")) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{rec:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_scope_reaches_its_routes_and_gets_403_naming_the_scope_elsewhere() {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env.script("last-message done\n");
    add_user(&env, "rita", "viewer");
    add_user(&env, "olly", "operator");
    add_user(&env, "ada", "admin");
    add_user(&env, "owner", "operator");
    // A role caps the scope: a viewer's reply token is refused.
    let refused = env.run(&[
        "serve", "tokens", "create", "--user", "rita", "--scope", "reply",
    ]);
    assert_ne!(refused.code(), 0);
    assert!(
        refused.stderr().contains("at most the scope \"read\""),
        "{}",
        refused.stderr()
    );
    let read = token(&env, &["--user", "rita"]);
    let reply = token(&env, &["--user", "olly", "--scope", "reply"]);
    let tasks = token(&env, &["--user", "olly", "--scope", "tasks"]);
    let admin = token(&env, &["--user", "ada", "--scope", "admin"]);
    let owner = token(&env, &["--user", "owner", "--scope", "tasks"]);
    let server = Server::start(&env, &[]);
    let others = spawned_task(&server, &owner, "the owner's task");
    wait_over(&server, &others);

    // (route, method, path, body, the scope it needs). Bodies that are
    // refused as bad (400) once past the scope check change nothing.
    let repo = format!("api/v1/repos/{REPO}");
    let rows: Vec<(&str, &str, String, Option<&str>, usize)> = vec![
        ("GET state", "GET", repo.clone(), None, 0),
        ("GET stream", "GET", format!("{repo}/stream"), None, 0),
        ("GET events", "GET", format!("{repo}/events"), None, 0),
        ("GET tasks", "GET", "api/v1/tasks".into(), None, 0),
        (
            "POST reply",
            "POST",
            format!("{repo}/reply"),
            Some(r#"{"text":" "}"#),
            1,
        ),
        (
            "POST resume",
            "POST",
            format!("{repo}/loop/resume"),
            Some(r#"{"max_runs":0}"#),
            1,
        ),
        (
            "POST tasks",
            "POST",
            "api/v1/tasks".into(),
            Some(r#"{"nope":1}"#),
            2,
        ),
        (
            "DELETE another's task",
            "DELETE",
            format!("api/v1/tasks/{others}"),
            None,
            2,
        ),
        (
            "POST loop/run",
            "POST",
            format!("{repo}/loop/run"),
            Some(r#"{"max_runs":0}"#),
            3,
        ),
        ("PUT docs", "PUT", format!("{repo}/docs/todo"), Some("{"), 3),
        ("GET config", "GET", format!("{repo}/config"), None, 3),
        ("GET terminals", "GET", format!("{repo}/terminals"), None, 3),
        ("GET sessions", "GET", "api/v1/sessions".into(), None, 3),
        (
            "POST worktrees",
            "POST",
            "api/v1/worktrees".into(),
            Some("{"),
            3,
        ),
    ];
    let scopes = [
        ("read", &read),
        ("reply", &reply),
        ("tasks", &tasks),
        ("admin", &admin),
    ];
    let names = ["read", "reply", "tasks", "admin"];
    let mut matrix = String::new();
    for (what, method, path, body, needs) in &rows {
        // The server's own token (admin) answers what an allowed call gets.
        let expected = if path.ends_with("/stream") {
            stream_status(&server, TOKEN, path)
        } else {
            call(&server, TOKEN, method, path, *body).status
        };
        assert!(![401, 403].contains(&expected), "{what}: {expected}");
        matrix.push_str(&format!("{what:<24}"));
        for (i, (scope, t)) in scopes.iter().enumerate() {
            let (status, text) = if path.ends_with("/stream") {
                (stream_status(&server, t, path), String::new())
            } else {
                let r = call(&server, t, method, path, *body);
                (r.status, r.body)
            };
            matrix.push_str(&format!(" {scope}={status}"));
            if i < *needs {
                assert_eq!(status, 403, "{what} with {scope}: {text}");
                if !text.is_empty() {
                    let need = format!("needs the scope \\\"{}\\\"", names[*needs]);
                    assert!(text.contains(&need), "{what} with {scope}: {text}");
                }
            } else if *what == "DELETE another's task" && *scope != "admin" {
                // Another user's task is not there for a non-admin.
                assert_eq!(status, 404, "{what} with {scope}: {text}");
            } else {
                assert_eq!(status, expected, "{what} with {scope}: {text}");
            }
        }
        matrix.push('\n');
    }
    eprintln!("{matrix}");
}
