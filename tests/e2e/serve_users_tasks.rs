//! Two users' concurrent tasks through `car serve`: each lists and
//! reaches only its own (another's answers 404), neither can reply to or
//! cancel the other's; commands are admin's alone (a tasks token gets 403
//! and does not see an admin's); rate limits and audit records are per
//! user.

use serde_json::json;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server};
use crate::serve_users::{add_user, call, spawned_task, stream_status, token, wait_over};

#[test]
fn two_users_concurrent_tasks_are_each_their_own_and_limited_and_audited_per_user() {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\nserver:\n  rate_limit_per_minute: 8\n");
    // Both tasks run at once: each waits for a file the test writes.
    env.script("wait-file go 20\nlast-message done\n");
    add_user(&env, "ann", "operator");
    add_user(&env, "bob", "operator");
    add_user(&env, "ada", "admin");
    let ada = token(&env, &["--user", "ada", "--scope", "admin"]);
    let ann = token(&env, &["--user", "ann", "--scope", "tasks"]);
    let bob = token(&env, &["--user", "bob", "--scope", "tasks"]);
    let confined = token(
        &env,
        &["--user", "ann", "--scope", "tasks", "--repo-id", REPO],
    );
    let server = Server::start(&env, &[]);
    let a = spawned_task(&server, &ann, "ann's work");
    let b = spawned_task(&server, &bob, "bob's work");

    for (me, mine, theirs) in [(&ann, &a, &b), (&bob, &b, &a)] {
        let list = call(&server, me, "GET", "api/v1/tasks", None).json();
        assert_eq!(list["total"], 1, "{list:#}");
        assert_eq!(list["tasks"][0]["id"], mine.as_str(), "{list:#}");
        assert_eq!(
            call(&server, me, "GET", &format!("api/v1/tasks/{mine}"), None).status,
            200
        );
        for (method, path, body) in [
            ("GET", format!("api/v1/tasks/{theirs}"), None),
            ("GET", format!("api/v1/tasks/{theirs}/output"), None),
            (
                "POST",
                format!("api/v1/tasks/{theirs}/reply"),
                Some(r#"{"message":"hi"}"#),
            ),
            ("DELETE", format!("api/v1/tasks/{theirs}"), None),
        ] {
            let r = call(&server, me, method, &path, body);
            assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        }
        assert_eq!(
            stream_status(&server, me, &format!("api/v1/tasks/{theirs}/stream")),
            404
        );
    }
    // Both still run: neither was cancelled by the other.
    for id in [&a, &b] {
        let rec = server.get(&format!("api/v1/tasks/{id}")).json();
        assert!(
            ["queued", "running"].contains(&rec["state"].as_str().unwrap()),
            "{rec:#}"
        );
    }
    // The server's token sees both, each naming its user.
    let all = server.get("api/v1/tasks").json();
    assert_eq!(all["total"], 2, "{all:#}");
    let owners: Vec<_> = all["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["user"].clone()))
        .collect();
    assert!(owners.contains(&(a.clone(), json!("ann"))), "{owners:?}");
    assert!(owners.contains(&(b.clone(), json!("bob"))), "{owners:?}");
    env.write("go", "");
    wait_over(&server, &a);
    wait_over(&server, &b);

    // A command is `sh -c CMD` as the server's user (it could rewrite the
    // users file): a tasks token may not start one, nothing runs.
    let r = call(
        &server,
        &ann,
        "POST",
        "api/v1/execs",
        Some(r#"{"cmd":"touch ann-ran"}"#),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains(r#"needs the scope \"admin\""#),
        "{}",
        r.body
    );
    // An admin's command: named as hers; a tasks token neither lists,
    // reads nor cancels it.
    let r = call(
        &server,
        &ada,
        "POST",
        "api/v1/execs",
        Some(r#"{"cmd":"echo ada-secret"}"#),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let x = r.json()["exec_id"].as_str().unwrap().to_string();
    let listed = call(&server, &ada, "GET", "api/v1/execs", None).json();
    assert_eq!(listed["total"], 1, "{listed:#}");
    assert_eq!(listed["execs"][0]["user"], "ada", "{listed:#}");
    let theirs = call(&server, &bob, "GET", "api/v1/execs", None).json();
    assert_eq!(theirs["total"], 0, "{theirs:#}");
    for (method, path, status) in [
        ("GET", format!("api/v1/execs/{x}"), 404),
        ("GET", format!("api/v1/execs/{x}/logs"), 404),
        ("GET", format!("api/v1/repos/{REPO}/jobs/{x}"), 404),
        ("DELETE", format!("api/v1/execs/{x}"), 403),
    ] {
        let r = call(&server, &bob, method, &path, None);
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert!(!r.body.contains("ada-secret"), "{}", r.body);
    }
    assert!(!env.root.join("ann-ran").exists(), "ann's command ran");

    // A token confined to the repository sees its user's tasks, not the
    // hub-wide stream.
    let list = call(&server, &confined, "GET", "api/v1/tasks", None).json();
    assert_eq!(list["total"], 1, "{list:#}");
    assert_eq!(stream_status(&server, &confined, "api/v1/stream"), 403);

    // Rate limits are per user, whatever the token: ann's budget of 8
    // (spent above on a spawn, a reply and a cancel refused with 404; a
    // 403 is refused before the limit counts) runs out; bob's is his own.
    let reply = format!("api/v1/repos/{REPO}/reply");
    let mut ann_limited = false;
    for _ in 0..10 {
        let r = call(&server, &ann, "POST", &reply, Some(r#"{"text":" "}"#));
        if r.status == 429 {
            ann_limited = true;
            break;
        }
        assert_eq!(r.status, 400, "{}", r.body);
    }
    assert!(ann_limited, "ann was never limited");
    let r = call(&server, &bob, "POST", &reply, Some(r#"{"text":" "}"#));
    assert_eq!(r.status, 400, "bob has a budget of his own: {}", r.body);

    // The audit records name the user.
    let ledger = env.read(".codex-autorunner/events.jsonl");
    let audits: Vec<serde_json::Value> = ledger
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["type"] == "audit")
        .collect();
    for (user, path) in [("ann", "/api/v1/tasks"), ("bob", "/api/v1/tasks")] {
        assert!(
            audits
                .iter()
                .any(|e| e["user"] == user && e["path"] == path && e["status"] == 202),
            "no audit of {user}'s spawn: {audits:#?}"
        );
    }
    assert!(
        audits
            .iter()
            .any(|e| e["user"] == "bob" && e["path"] == "/api/v1/tasks/".to_string() + &a),
        "bob's refused cancel of ann's task is audited as his: {audits:#?}"
    );
}
