//! `car serve` records every state-changing request in the ledger (an
//! `audit` event: method, path, status, who, from where; no body, no
//! token), and limits their rate.

use std::time::Duration;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN};

const THREAD: &str = r#"out {"type":"thread.started","thread_id":"th-7"}"#;
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;

/// A request: method, path, extra headers, body.
type Call<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, Option<&'a str>);

fn audits(env: &TestEnv) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.path(".codex-autorunner/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == "audit")
        .collect()
}

#[test]
fn every_state_changing_call_is_audited_without_its_body_or_the_token() {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env.script(&format!("{THREAD}\n{DONE}\n"));
    let server = Server::start(&env, &[]);
    let right = format!("Bearer {TOKEN}");
    let auth = [("Authorization", right.as_str())];
    // Reads are not recorded; neither is a request without the token.
    assert_eq!(server.get(&format!("api/v1/repos/{REPO}")).status, 200);
    let refused = server.send(
        "POST",
        &format!("api/v1/repos/{REPO}/reply"),
        &[],
        Some(r#"{"text":"x"}"#),
    );
    assert_eq!(refused.status, 401);
    assert!(audits(&env).is_empty(), "{:?}", audits(&env));

    let calls: Vec<Call> = vec![
        (
            "POST",
            format!("api/v1/repos/{REPO}/reply"),
            vec![],
            Some(r#"{"text":"the-private-answer"}"#),
        ),
        (
            "PUT",
            format!("api/v1/repos/{REPO}/docs/progress"),
            vec![("If-Match", "*")],
            Some(r#"{"text":"secret progress\n"}"#),
        ),
        (
            "POST",
            format!("api/v1/repos/{REPO}/loop/stop"),
            vec![],
            Some("{}"),
        ),
        (
            "POST",
            format!("api/v1/repos/{REPO}/loop/nothing"),
            vec![],
            None,
        ),
        (
            "POST",
            "api/v1/tasks".to_string(),
            vec![],
            Some(r#"{"prompt":"the-private-prompt"}"#),
        ),
    ];
    let mut want = Vec::new();
    for (method, path, extra, body) in &calls {
        let mut headers = auth.to_vec();
        headers.extend_from_slice(extra);
        let r = server.send(method, path, &headers, *body);
        want.push((method.to_string(), format!("/{path}"), r.status));
    }
    let task = server.get("api/v1/tasks").json()["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.wait_for("the task's end", Duration::from_secs(30), || {
        server.get(&format!("api/v1/tasks/{task}")).json()["state"] == "succeeded"
    });
    let reply = server.post(
        &format!("api/v1/tasks/{task}/reply"),
        &serde_json::json!({"message": "the-private-reply"}),
    );
    want.push((
        "POST".into(),
        format!("/api/v1/tasks/{task}/reply"),
        reply.status,
    ));
    let cancel = server.send("DELETE", &format!("api/v1/tasks/{task}"), &auth, None);
    want.push((
        "DELETE".into(),
        format!("/api/v1/tasks/{task}"),
        cancel.status,
    ));
    assert_eq!(
        want.iter().map(|w| w.2).collect::<Vec<_>>(),
        [200, 200, 200, 404, 202, 202, 200]
    );

    let got = audits(&env);
    let seen: Vec<(String, String, u16)> = got
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
                e["status"].as_u64().unwrap() as u16,
            )
        })
        .collect();
    assert_eq!(seen, want);
    for e in &got {
        assert_eq!(e["requested_by"], "api", "{e}");
        assert!(
            e["origin"].as_str().unwrap().starts_with("http 127.0.0.1:"),
            "{e}"
        );
        assert_eq!(e["run_id"], serde_json::Value::Null);
    }
    let ledger = env.read(".codex-autorunner/events.jsonl");
    for secret in [TOKEN, "the-private", "secret progress"] {
        let audit_lines: Vec<&str> = ledger.lines().filter(|l| l.contains("\"audit\"")).collect();
        assert!(
            audit_lines.iter().all(|l| !l.contains(secret)),
            "{secret} in {audit_lines:?}"
        );
    }
    // `car events` shows them like any event.
    let shown = env.run(&["events"]).stdout();
    assert!(
        shown.contains("audit") && shown.contains("path=/api/v1/tasks"),
        "{shown}"
    );
}

#[test]
fn state_changing_calls_over_the_rate_limit_get_429_with_retry_after() {
    let env = TestEnv::new();
    env.config("server:\n  rate_limit_per_minute: 3\n");
    let server = Server::start(&env, &[]);
    let reply = format!("api/v1/repos/{REPO}/reply");
    // Refused for want of the token: not counted.
    for _ in 0..5 {
        let r = server.send("POST", &reply, &[], Some(r#"{"text":"x"}"#));
        assert_eq!(r.status, 401);
    }
    for i in 0..3 {
        let r = server.post(&reply, &serde_json::json!({"text": format!("answer {i}")}));
        assert_eq!(r.status, 200, "{i}: {}", r.body);
    }
    let over = server.post(&reply, &serde_json::json!({"text": "one too many"}));
    assert_eq!(
        (over.status, over.json()["error"]["kind"].as_str()),
        (429, Some("rate_limited")),
        "{}",
        over.body
    );
    let after: u64 = over.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=20).contains(&after), "{after}");
    // What was refused was not done, nor audited; reads go on.
    assert_eq!(env.state()["user_reply"]["text"], "answer 2");
    assert_eq!(audits(&env).len(), 3);
    assert_eq!(server.get(&format!("api/v1/repos/{REPO}")).status, 200);
}
