//! A question's ntfy notification has buttons that drive the loop from the
//! phone: the fake ntfy on 127.0.0.1 receives the `Actions` header, a
//! button is pressed exactly as the ntfy app would (the request parsed
//! from that header) against a real `car serve`, and the token it carries
//! can do nothing but what its buttons do.

use std::time::Duration;

use crate::common::TestEnv;
use crate::fake_http::{Answer, FakeHttp};
use crate::ntfy_buttons::{Button, parse, press};
use crate::serve_client::{REPO, Server, TOKEN};

const TOPIC: &str = "phone-topic-8c1e";
const PATIENCE: Duration = Duration::from_secs(120);

/// A repository whose server is up and whose `server.public_url` is that
/// server; its loop has asked `question` and the fake ntfy got it.
struct Asked {
    env: TestEnv,
    ntfy: FakeHttp,
    server: Server,
    buttons: Vec<Button>,
    header: String,
}

fn ask(script: &str) -> Asked {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"m-1"}"#));
    let env = TestEnv::new();
    env.config(&format!(
        "notifications:\n  ntfy:\n    server: {}\n",
        ntfy.url()
    ));
    env.todo("- [ ] a\n");
    env.script(script);
    // The server starts the resumed loop: it needs the topic as well.
    let server = Server::start_with_vars(&env, Some(TOKEN), &[], &[("CAR_NTFY_TOPIC", TOPIC)])
        .unwrap_or_else(|e| panic!("{e}"));
    env.config(&format!("server:\n  public_url: {}\n", server.base));
    let out = env
        .car(&["run"])
        .env("CAR_NTFY_TOPIC", TOPIC)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = ntfy.wait_for(1);
    let header = got[0]
        .header("Actions")
        .unwrap_or_else(|| panic!("no Actions header: {:?}", got[0]))
        .to_string();
    let buttons = parse(&header);
    Asked {
        env,
        ntfy,
        server,
        buttons,
        header,
    }
}

fn ledger(env: &TestEnv) -> Vec<serde_json::Value> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_questions_ntfy_buttons_resume_then_stop_the_loop() {
    let a = ask("out NEED_INPUT: Deploy to staging or production?\n---\n\
         out resumed\nwait-file go-on 60\nout finishing\n");
    let base = &a.server.base;
    eprintln!("Actions: {}", a.header);
    let b = &a.buttons;
    assert_eq!(b.len(), 3, "{}", a.header);
    assert_eq!(
        (b[0].action.as_str(), b[0].label.as_str(), b[0].url.clone()),
        ("view", "Answer", format!("{base}repos/{REPO}#answer"))
    );
    let (resume, stop) = (&b[1], &b[2]);
    assert_eq!(
        (resume.label.as_str(), resume.url.clone()),
        ("Resume", format!("{base}api/v1/repos/{REPO}/loop/resume"))
    );
    assert_eq!(
        (stop.label.as_str(), stop.url.clone()),
        ("Stop", format!("{base}api/v1/repos/{REPO}/loop/stop"))
    );
    for x in [resume, stop] {
        assert_eq!(x.action, "http");
        assert_eq!(x.method.as_deref(), Some("POST"));
        assert!(x.clear, "the notification goes once pressed");
        let auth = &x.headers["Authorization"];
        let token = auth.strip_prefix("Bearer ").unwrap();
        assert!(
            token.starts_with(&format!("car_act.{REPO}.resume-stop.")),
            "{auth}"
        );
        assert_ne!(token, TOKEN);
    }
    // The notification itself is unchanged: the question, urgent.
    let sent = &a.ntfy.requests()[0];
    assert_eq!(sent.header("Priority"), Some("5"));
    assert!(sent.body.contains("Deploy to staging or production?"));

    // Resume: the loop runs again.
    let (status, body) = press(resume);
    assert_eq!(status, 202, "{body}");
    a.env
        .wait_for("the resumed run", PATIENCE, || a.env.agent_runs() == 2);
    // Stop: the loop stops after this run.
    let (status, body) = press(stop);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["result"], "requested", "{body}");
    a.env.write("go-on", "");
    a.env.wait_for("the stop", PATIENCE, || {
        ledger(&a.env)
            .iter()
            .any(|e| e["type"] == "stopped" && e["reason"] == "stop_requested")
    });
    let events = ledger(&a.env);
    let stopped = events
        .iter()
        .rev()
        .find(|e| e["type"] == "stopped")
        .unwrap();
    assert_eq!(stopped["requested_by"], "api", "{stopped:#}");
    assert_eq!(a.env.agent_runs(), 2, "no run after the stop");
    // Both presses are in the audit trail.
    let audited: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "audit")
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(
        audited.contains(&"/api/v1/repos/repo/loop/resume")
            && audited.contains(&"/api/v1/repos/repo/loop/stop"),
        "{audited:?}"
    );
    a.env.wait_for("the runner's end", PATIENCE, || {
        a.server.get(&format!("api/v1/repos/{REPO}")).json()["running"] == false
    });
    // The server ends (it shares the test's marker); no agent is left.
    let Asked { env, server, .. } = a;
    drop(server);
    env.expect_no_agent_process("after the stop", Duration::from_secs(10));
}

#[test]
fn a_buttons_token_does_nothing_else_and_expires() {
    let a = ask("out NEED_INPUT: Which database?\n");
    let token = a.buttons[1].headers["Authorization"]
        .strip_prefix("Bearer ")
        .unwrap()
        .to_string();
    let s = &a.server;
    let send = |method: &str, path: &str, token: &str, body: Option<&str>| {
        s.send(
            method,
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            body,
        )
    };
    let text = r#"{"text": "x"}"#;
    for (method, path, body) in [
        ("PUT", format!("api/v1/repos/{REPO}/docs/todo"), Some(text)),
        (
            "POST",
            "api/v1/tasks".to_string(),
            Some(r#"{"prompt": "rm -rf"}"#),
        ),
        ("GET", format!("api/v1/repos/{REPO}/config"), None),
        ("GET", format!("api/v1/repos/{REPO}"), None),
        ("POST", format!("api/v1/repos/{REPO}/loop/run"), Some("{}")),
        ("POST", format!("api/v1/repos/{REPO}/loop/kill"), Some("{}")),
        (
            "POST",
            format!("api/v1/repos/{REPO}/loop/stop_now"),
            Some("{}"),
        ),
        (
            "POST",
            "api/v1/repos/other-repo/loop/stop".to_string(),
            Some("{}"),
        ),
        ("POST", "api/v1/sessions/link".to_string(), Some("{}")),
    ] {
        let r = send(method, &path, &token, body);
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains("scopes resume, stop"),
            "{method} {path}: {msg}"
        );
    }
    // A reply needs the reply scope, which the buttons do not carry.
    let r = send(
        "POST",
        &format!("api/v1/repos/{REPO}/reply"),
        &token,
        Some(text),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("lacks the scope \"reply\""), "{msg}");
    assert_eq!(a.env.agent_runs(), 1, "nothing ran");
    assert_eq!(a.env.read(".codex-autorunner/TODO.md"), "- [ ] a\n");

    // Changed, it is not valid: a wider scope, a later expiry.
    let wider = token.replacen(".resume-stop.", ".reply-resume-stop.", 1);
    let r = send(
        "POST",
        &format!("api/v1/repos/{REPO}/reply"),
        &wider,
        Some(text),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let mut parts: Vec<&str> = token.split('.').collect();
    let later = (parts[3].parse::<i64>().unwrap() + 3600).to_string();
    parts[3] = &later;
    let r = send(
        "POST",
        &format!("api/v1/repos/{REPO}/loop/stop"),
        &parts.join("."),
        Some(""),
    );
    assert_eq!(r.status, 401, "{}", r.body);

    // Expired: made with the same key, an hour ago.
    let key_dir = a.env.path(".codex-autorunner/server");
    // Ignored by git: no commit (git.auto_commit) takes the key.
    crate::common::git(
        &a.env.root,
        &[
            "check-ignore",
            "-q",
            ".codex-autorunner/server/action-token.key",
        ],
    );
    let key = car_core::action_token::ActionKey::load(&key_dir)
        .unwrap()
        .expect("the loop made the key");
    let expired = key.mint(&car_core::action_token::ActionGrant {
        repo: REPO.into(),
        scopes: vec![car_core::action_token::ActionScope::Stop],
        expires_at: chrono_now() - 3600,
    });
    let r = send(
        "POST",
        &format!("api/v1/repos/{REPO}/loop/stop"),
        &expired,
        Some(""),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("expired"), "{}", r.body);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(car_core::action_token::ActionKey::file_in(&key_dir))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // The server's own token still does everything.
    assert_eq!(s.get(&format!("api/v1/repos/{REPO}/config")).status, 200);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn without_public_url_the_question_goes_without_buttons() {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"m-1"}"#));
    let env = TestEnv::new();
    env.config(&format!(
        "notifications:\n  ntfy:\n    server: {}\n",
        ntfy.url()
    ));
    env.todo("- [ ] a\n");
    env.script("out NEED_INPUT: Which database?\n");
    let run = |args: &[&str]| env.car(args).env("CAR_NTFY_TOPIC", TOPIC).output().unwrap();
    assert_eq!(run(&["run"]).status.code(), Some(3));
    let got = ntfy.wait_for(1);
    assert_eq!(got[0].header("Actions"), None, "{:?}", got[0]);
    assert!(got[0].body.contains("Which database?"));
    let doctor = run(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("ntfy buttons") && text.contains("server.public_url is not set"),
        "{text}"
    );
    assert!(
        !env.path(".codex-autorunner/server/action-token.key")
            .exists(),
        "no key without buttons"
    );
}

#[test]
fn in_a_hub_the_buttons_name_the_job_and_its_token_is_refused_on_another() {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"m-1"}"#));
    let env = crate::hub_common::hub_of(&["alpha", "beta"], "- [ ] a\n");
    env.script("out NEED_INPUT: Which region?\n");
    let server = Server::start_with_vars(&env, Some(TOKEN), &[], &[("CAR_NTFY_TOPIC", TOPIC)])
        .unwrap_or_else(|e| panic!("{e}"));
    // What every job shares, once at the hub root.
    env.write(
        "codex-autorunner.yml",
        &format!(
            "notifications:\n  ntfy:\n    server: {}\nserver:\n  public_url: {}\n",
            ntfy.url(),
            server.base
        ),
    );
    let out = env
        .car(&["--repo", "alpha", "run"])
        .env("CAR_NTFY_TOPIC", TOPIC)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = ntfy.wait_for(1);
    let buttons = parse(got[0].header("Actions").expect("the buttons"));
    let base = &server.base;
    assert_eq!(buttons[0].url, format!("{base}repos/alpha#answer"));
    assert_eq!(
        buttons[1].url,
        format!("{base}api/v1/repos/alpha/loop/resume")
    );
    // The key is the hub's, where the hub's server finds it.
    assert!(
        env.path(".codex-autorunner/server/action-token.key")
            .is_file()
    );
    assert!(
        !env.path("alpha/.codex-autorunner/server/action-token.key")
            .exists()
    );

    let auth = buttons[2].headers["Authorization"].clone();
    let on_beta = server.send(
        "POST",
        "api/v1/repos/beta/loop/stop",
        &[("Authorization", &auth)],
        Some(""),
    );
    assert_eq!(on_beta.status, 403, "{}", on_beta.body);
    assert!(on_beta.body.contains("\\\"beta\\\""), "{}", on_beta.body);

    let (status, body) = press(&buttons[1]);
    assert_eq!(status, 202, "{body}");
    env.wait_for("alpha's resumed run", PATIENCE, || {
        std::fs::read_to_string(env.path("alpha/.codex-autorunner/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"run_started\""))
            .count()
            == 2
    });
    env.wait_for("alpha to ask again", PATIENCE, || {
        server.get("api/v1/repos/alpha").json()["running"] == false
    });
    let beta = server.get("api/v1/repos/beta").json();
    assert_eq!(beta["running"], false, "{beta:#}");
}
