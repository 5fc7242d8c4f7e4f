//! Users and scoped tokens against a real `car serve`: a role × route
//! matrix (allowed / 403), expiry and revocation taking effect at once
//! (no restart), a token confined to one repository of a hub, a WebSocket
//! with a user token (two users' tasks: `serve_users_tasks.rs`).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN};

/// `car serve tokens create ARGS`: the token (stdout's one line).
pub(crate) fn token(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["serve", "tokens", "create"];
    all.extend_from_slice(args);
    let run = env.run(&all);
    run.expect_code(0);
    let t = run.stdout().trim().to_string();
    assert!(t.starts_with("car_u_"), "{t:?} / {}", run.stderr());
    t
}

pub(crate) fn add_user(env: &TestEnv, name: &str, role: &str) {
    env.run(&["serve", "users", "add", name, "--role", role])
        .expect_code(0);
}

/// `method path` with `token` (`body` as JSON): the answer.
pub(crate) fn call(
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
pub(crate) fn stream_status(server: &Server, token: &str, path: &str) -> u16 {
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
pub(crate) fn spawned_task(server: &Server, token: &str, prompt: &str) -> String {
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

pub(crate) fn wait_over(server: &Server, id: &str) {
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
        // A command is `sh -c CMD` as the server's user: admin's alone.
        (
            "POST execs",
            "POST",
            "api/v1/execs".into(),
            Some(r#"{"nope":1}"#),
            3,
        ),
        (
            "DELETE execs",
            "DELETE",
            "api/v1/execs/x-none".into(),
            None,
            3,
        ),
        (
            "POST snapshot",
            "POST",
            format!("{repo}/snapshot"),
            Some(r#"{"nope":1}"#),
            3,
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

#[test]
fn expiry_revocation_and_removal_take_effect_at_once_with_401_saying_which() {
    let env = TestEnv::new();
    add_user(&env, "ann", "operator");
    add_user(&env, "bob", "viewer");
    let short = token(&env, &["--user", "ann", "--expires", "2s"]);
    let revoked = token(&env, &["--user", "ann", "--scope", "reply"]);
    let removed = token(&env, &["--user", "bob"]);
    let server = Server::start(&env, &[]);
    let state = format!("api/v1/repos/{REPO}");
    for t in [&short, &revoked, &removed] {
        assert_eq!(call(&server, t, "GET", &state, None).status, 200);
    }
    // An unknown secret for a known id: 401, not saying which part.
    let (id_part, _) = revoked.rsplit_once('_').unwrap();
    let forged = format!("{id_part}_{}", "0".repeat(64));
    let r = call(&server, &forged, "GET", &state, None);
    assert_eq!(r.status, 401);
    assert!(r.body.contains("the user token is not valid"), "{}", r.body);

    // Revoked and removed while the server runs: refused on the next request.
    let id = revoked.split('_').nth(2).unwrap();
    env.run(&["serve", "tokens", "revoke", id]).expect_code(0);
    let r = call(&server, &revoked, "GET", &state, None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("revoked at"), "{}", r.body);
    env.run(&["serve", "users", "remove", "bob"]).expect_code(0);
    let r = call(&server, &removed, "GET", &state, None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("revoked at"), "{}", r.body);

    // The short one stops at its time.
    let start = Instant::now();
    loop {
        let r = call(&server, &short, "GET", &state, None);
        if r.status == 401 {
            assert!(r.body.contains("expired at"), "{}", r.body);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(start.elapsed() < Duration::from_secs(10), "never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let list = env.run(&["serve", "tokens", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|t| t.get("sha256").is_none()), "{list:#?}");
    // Each was used: the server recorded it (at most once a minute).
    assert!(
        list.iter().all(|t| t["last_used_at"].is_string()),
        "{list:#?}"
    );
    let on_disk = env.read(".codex-autorunner/server/users.json");
    for t in [&short, &revoked, &removed] {
        let secret = t.rsplit('_').next().unwrap();
        assert!(!on_disk.contains(secret), "a secret is on disk");
    }
    // A broken file: the CLI names it, the server refuses with 500 naming it.
    env.write(".codex-autorunner/server/users.json", "{broken");
    let run = env.run(&["serve", "users", "list"]);
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr()
            .contains("users.json is not a valid users file"),
        "{}",
        run.stderr()
    );
    let r = call(&server, &short, "GET", &state, None);
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("users.json"), "{}", r.body);
    // The server's own token works whatever the users file holds.
    assert_eq!(server.get(&state).status, 200);
}

#[test]
fn a_token_confined_to_one_repository_of_a_hub_gets_403_for_the_others() {
    let env = crate::hub_common::hub_of(&["alpha", "beta"], "- [ ] one\n");
    add_user(&env, "ann", "operator");
    let bad = env.run(&[
        "serve",
        "tokens",
        "create",
        "--user",
        "ann",
        "--repo-id",
        "gamma",
    ]);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stderr().contains("no repository \"gamma\" in"),
        "{}",
        bad.stderr()
    );
    let ann = token(
        &env,
        &["--user", "ann", "--scope", "tasks", "--repo-id", "alpha"],
    );
    let server = Server::start(&env, &[]);

    let list = call(&server, &ann, "GET", "api/v1/repos", None).json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha"]);
    assert_eq!(
        server.get("api/v1/repos").json().as_array().unwrap().len(),
        2
    );
    assert_eq!(
        call(&server, &ann, "GET", "api/v1/repos/alpha", None).status,
        200
    );
    let r = call(&server, &ann, "GET", "api/v1/repos/beta", None);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("confined to the repository \\\"alpha\\\""),
        "{}",
        r.body
    );
    assert_eq!(stream_status(&server, &ann, "api/v1/stream"), 403);
    assert_eq!(
        stream_status(&server, &ann, "api/v1/repos/alpha/stream"),
        200
    );
    // A task in another repository is refused before anything starts; in
    // its own, the request goes through (here to the empty prompt's 400).
    let r = call(
        &server,
        &ann,
        "POST",
        "api/v1/tasks",
        Some(r#"{"repo":"beta","prompt":""}"#),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = call(
        &server,
        &ann,
        "POST",
        "api/v1/tasks",
        Some(r#"{"repo":"alpha","prompt":""}"#),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // Commands are admin's, in its repository or not.
    for repo in ["alpha", "beta"] {
        let body = format!(r#"{{"repo":"{repo}","cmd":"true"}}"#);
        let r = call(&server, &ann, "POST", "api/v1/execs", Some(&body));
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body.contains(r#"needs the scope \"admin\""#),
            "{}",
            r.body
        );
    }
}

#[test]
fn a_websocket_takes_a_user_token_as_its_subprotocol_within_its_scope() {
    use crate::serve_ws::connect;
    let env = TestEnv::new();
    add_user(&env, "vic", "viewer");
    let read = token(&env, &["--user", "vic"]);
    let server = Server::start(&env, &[]);
    let offer = format!("car.v1, car.token.{read}");
    let headers = [("Sec-WebSocket-Protocol", offer.as_str())];
    let (mut socket, proto) =
        connect(&server, &format!("api/v1/repos/{REPO}/ws"), &headers).expect("read may follow");
    assert_eq!(proto.as_deref(), Some("car.v1"));
    let _ = socket.close(None);
    // A terminal is admin's.
    let refused = connect(
        &server,
        &format!("api/v1/repos/{REPO}/terminals/x/ws"),
        &headers,
    );
    assert_eq!(refused.err(), Some(403));
    let id = read.split('_').nth(2).unwrap();
    env.run(&["serve", "tokens", "revoke", id]).expect_code(0);
    let refused = connect(&server, &format!("api/v1/repos/{REPO}/ws"), &headers);
    assert_eq!(refused.err(), Some(401));
}

/// The exit code, stdout and stderr of a `car serve` that must refuse to
/// start (one still running after 20 s is killed and fails the test).
fn refused(mut cmd: std::process::Command) -> (i32, String, String) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("car serve started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), out, err)
}

#[test]
fn a_server_with_users_and_no_token_refuses_to_start_naming_the_key_and_the_file() {
    use crate::serve_client::TOKEN_ENV;
    let env = TestEnv::new();
    add_user(&env, "vic", "viewer");
    let read = token(&env, &["--user", "vic"]);
    // No server.auth_token_env: a caller without any token would be
    // served as admin, and vic's read token would limit nothing.
    let (code, stdout, err) = refused(env.car(&["serve", "--port", "0"]));
    assert_eq!(code, 1, "{err}");
    assert_eq!(stdout, "", "nothing listens");
    assert!(
        err.contains("server.auth_token_env")
            && err.contains(".codex-autorunner/server/users.json holds 1 user:"),
        "{err}"
    );
    // The key set, its variable empty: refused alike, naming it.
    env.config(&format!("server:\n  auth_token_env: {TOKEN_ENV}\n"));
    let mut cmd = env.car(&["serve", "--port", "0"]);
    cmd.env(TOKEN_ENV, "");
    let (code, _, err) = refused(cmd);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{TOKEN_ENV} is empty or unset")),
        "{err}"
    );
    // With the token it serves, and the read token is one.
    let server = Server::start(&env, &[]);
    let state = format!("api/v1/repos/{REPO}");
    assert_eq!(server.send("GET", &state, &[], None).status, 401);
    assert_eq!(call(&server, &read, "GET", &state, None).status, 200);
    let r = call(
        &server,
        &read,
        "POST",
        &format!("{state}/loop/stop"),
        Some("{}"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    drop(server);
    // Without users, no token is needed (loopback).
    env.run(&["serve", "users", "remove", "vic"]).expect_code(0);
    let open = Server::start_with(&env, None, &[]).expect("no users: it serves");
    assert_eq!(open.send("GET", &state, &[], None).status, 200);
}
