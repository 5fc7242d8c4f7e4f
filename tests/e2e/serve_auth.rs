//! Who may use `car serve`: a matrix over every route x (no token, wrong
//! token, another scheme, right token, session cookie, revoked cookie),
//! which the OpenAPI document must list exactly, and over the WebSocket x
//! (no token, wrong subprotocol token, right one, cookie, ...); no
//! non-loopback address without a token; `Host` and `Origin` checks.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::TestEnv;
use crate::serve_auth_routes::ROUTES;
use crate::serve_client::{REPO, Server, TOKEN, TOKEN_ENV};
use crate::serve_sessions::{fresh_link, login, own_origin, session_id, visit};
use crate::serve_ws::{connect, token_protocols};

/// The credentials of a request in the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    None,
    WrongToken,
    OtherScheme,
    Token,
    Cookie,
    RevokedCookie,
}

const CREDS: [Cred; 6] = [
    Cred::None,
    Cred::WrongToken,
    Cred::OtherScheme,
    Cred::Token,
    Cred::Cookie,
    Cred::RevokedCookie,
];

/// The status of a GET of `path` without reading its body (a stream's).
fn open_status(server: &Server, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = ureq::get(&format!("{}{path}", server.base)).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// A command that ended: its id.
fn ended_exec(env: &TestEnv) -> String {
    let out = env.run(&["exec", "start", "echo hi"]);
    out.expect_code(0);
    let id = out.stdout().trim().to_string();
    env.wait_for("the command's end", Duration::from_secs(30), || {
        env.run(&["exec", "status", &id, "--json"])
            .stdout()
            .contains("\"succeeded\"")
    });
    id
}

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
    wait_task_ended(env, &id);
    id
}

/// Waits until task `id`'s turn has ended well.
fn wait_task_ended(env: &TestEnv, id: &str) {
    env.wait_for("the task's end", Duration::from_secs(30), || {
        let status = env.run(&["task", "status", id, "--json"]).stdout();
        let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
        status["state"] == "succeeded" && status["thread_id"] == "th-1"
    });
}

#[test]
fn every_route_but_health_needs_the_right_token_and_every_route_is_in_the_openapi_document() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("out hi\ncheck-todo\n");
    env.run(&["once"]).expect_code(0);
    let task = ended_task(&env);
    let exec = ended_exec(&env);
    // Every state-changing request of the matrix passes: no rate limit here.
    env.config("server:\n  rate_limit_per_minute: 0\n");
    let job = env
        .run(&["exec", "start", "true"])
        .stdout()
        .trim()
        .to_string();
    env.config("server:\n  terminal:\n    max_sessions_per_repo: 10\n");
    let server = Server::start(&env, &[]);
    assert_eq!(REPO, "repo");
    let terminal = server
        .post("api/v1/repos/repo/terminals", &serde_json::json!({}))
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let right = format!("Bearer {TOKEN}");
    let cookie = login(&server);
    let revoked = login(&server);
    let gone = session_id(&server, &revoked);
    let r = server.send(
        "DELETE",
        &format!("api/v1/sessions/{gone}"),
        &[("Authorization", &right)],
        None,
    );
    assert_eq!(r.status, 200);
    let origin = own_origin(&server);
    let mut cases = 0;
    for &(method, _, path, body) in ROUTES {
        for cred in CREDS {
            cases += 1;
            let mut path = path
                .replace("TASK", &task)
                .replace("EXEC", &exec)
                .replace("JOB", &job)
                .replace("TERMINAL_ID", &terminal);
            if path.contains("SESSION") {
                // A session of its own to revoke, each time.
                path = path.replace("SESSION", &session_id(&server, &login(&server)));
            }
            let mut headers = vec![("If-Match", "*")];
            match cred {
                Cred::None => {}
                Cred::WrongToken => headers.push(("Authorization", "Bearer wrong-token")),
                Cred::OtherScheme => headers.push(("Authorization", "Basic czNjcmV0")),
                Cred::Token => headers.push(("Authorization", &right)),
                Cred::Cookie => headers.extend([("Cookie", cookie.as_str()), ("Origin", &origin)]),
                Cred::RevokedCookie => {
                    headers.extend([("Cookie", revoked.as_str()), ("Origin", &origin)]);
                }
            }
            let case = format!("{method} {path} with {cred:?}");
            if path.contains("CODE") {
                // The one-time code is the credential: the others do not matter.
                let code = fresh_link(&server);
                let code = code.split("code=").nth(1).unwrap();
                let v = visit(
                    &format!("{}{}", server.base, path.replace("CODE", code)),
                    &headers,
                );
                assert_eq!(v.status, 303, "{case}");
                assert!(v.set_cookie.is_some(), "{case}");
                continue;
            }
            let public = path == "health";
            let allowed = public || matches!(cred, Cred::Token | Cred::Cookie);
            if path.ends_with("/stream") && allowed {
                // Streams never end: only the status is read.
                assert_eq!(open_status(&server, &path, &headers), 200, "{case}");
                continue;
            }
            if allowed && path.ends_with("/reply") && path.contains("tasks/") {
                // A reply continues an ended turn only: the last one's first.
                wait_task_ended(&env, &task);
            }
            let resp = server.send(method, &path, &headers, body);
            if !allowed {
                assert_eq!(resp.status, 401, "{case}: {}", resp.body);
                assert_eq!(resp.json()["error"]["kind"], "unauthorized");
                assert!(!resp.body.contains(TOKEN));
            } else if path.ends_with("/ws") {
                // Past the checks, a plain GET is no WebSocket handshake.
                assert_eq!(resp.status, 400, "{case}: {}", resp.body);
            } else if path.starts_with("api/v1/worktrees") || path.starts_with("api/v1/hub/") {
                // A server in a repository is no hub.
                assert_eq!(resp.status, 404, "{case}: {}", resp.body);
                assert!(resp.body.contains("not a hub"), "{case}: {}", resp.body);
            } else if path.contains("/chat") {
                // Past the checks, a chat answers as its requests stand (a
                // second request while one runs is 409, an unknown job 404).
                assert!(
                    ![401, 403].contains(&resp.status) && resp.status < 500,
                    "{case}: {} {}",
                    resp.status,
                    resp.body
                );
            } else if path.ends_with("/voice/transcribe") {
                // Past the checks: no key is set here, which it says.
                assert_eq!(resp.status, 409, "{case}: {}", resp.body);
                assert!(
                    resp.body.contains("OPENAI_API_KEY"),
                    "{case}: {}",
                    resp.body
                );
            } else if path == "api/v1/sessions/link" && cred == Cred::Cookie {
                assert_eq!(resp.status, 403, "{case}: a session cannot make sessions");
            } else {
                assert!(
                    (200..300).contains(&resp.status),
                    "{case}: {} {}",
                    resp.status,
                    resp.body
                );
            }
            assert_eq!(resp.allow_origin, None, "CORS stays closed");
        }
    }
    assert_eq!(cases, CREDS.len() * ROUTES.len());
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
fn a_websocket_needs_the_token_as_a_subprotocol_or_a_cookie_from_this_origin() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let ws = format!("api/v1/repos/{REPO}/ws");
    let cookie = login(&server);
    let revoked = login(&server);
    let gone = session_id(&server, &revoked);
    let right = format!("Bearer {TOKEN}");
    let r = server.send(
        "DELETE",
        &format!("api/v1/sessions/{gone}"),
        &[("Authorization", &right)],
        None,
    );
    assert_eq!(r.status, 200);
    let origin = own_origin(&server);
    let good = token_protocols();
    let wrong = "car.v1, car.token.wrong-token".to_string();
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Result<Option<&'a str>, u16>,
    );
    let cases: Vec<Case> = vec![
        ("no token", vec![], Err(401)),
        (
            "only car.v1",
            vec![("Sec-WebSocket-Protocol", "car.v1")],
            Err(401),
        ),
        (
            "wrong subprotocol token",
            vec![("Sec-WebSocket-Protocol", &wrong)],
            Err(401),
        ),
        (
            "right subprotocol token",
            vec![("Sec-WebSocket-Protocol", &good)],
            Ok(Some("car.v1")),
        ),
        (
            "right token, foreign page",
            vec![
                ("Sec-WebSocket-Protocol", &good),
                ("Origin", "http://evil.example"),
            ],
            Err(403),
        ),
        ("bearer header", vec![("Authorization", &right)], Ok(None)),
        (
            "cookie",
            vec![
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Sec-WebSocket-Protocol", "car.v1"),
            ],
            Ok(Some("car.v1")),
        ),
        ("cookie without Origin", vec![("Cookie", &cookie)], Err(403)),
        (
            "cookie from a foreign page",
            vec![("Cookie", &cookie), ("Origin", "http://127.0.0.1:9")],
            Err(403),
        ),
        (
            "revoked cookie",
            vec![("Cookie", &revoked), ("Origin", &origin)],
            Err(401),
        ),
    ];
    for (what, headers, want) in cases {
        let got = connect(&server, &ws, &headers).map(|(_, proto)| proto);
        assert_eq!(
            got.as_ref().map(Option::as_deref),
            want.as_ref().map(|p| *p),
            "{what}"
        );
    }
    // A token in the URL counts for nothing.
    assert_eq!(
        connect(&server, &format!("{ws}?token={TOKEN}"), &[]).err(),
        Some(401)
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
