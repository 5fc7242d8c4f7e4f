//! Chat with a doc through `car serve`: the agent's proposal as a diff
//! (the doc untouched until applied), apply with the base version's
//! `If-Match` (a conflict loses nothing), discard, one request at a time
//! per doc, and clear errors.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::serve_client::{REPO, Resp, Server, TOKEN};

fn chat(doc: &str) -> String {
    format!("api/v1/repos/{REPO}/docs/{doc}/chat")
}

fn ask(server: &Server, doc: &str, request: &str) -> Resp {
    server.post(&chat(doc), &serde_json::json!({ "request": request }))
}

fn send(server: &Server, method: &str, path: &str) -> Resp {
    let auth = format!("Bearer {TOKEN}");
    server.send(method, path, &[("Authorization", auth.as_str())], None)
}

/// The request `job` of the TODO once it is no longer running.
fn settled(server: &Server, job: &str) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let got = server.get(&format!("{}/{job}", chat("todo")));
        assert_eq!(got.status, 200, "{}", got.body);
        let v = got.json();
        if v["state"] != "running" {
            return v;
        }
        assert!(Instant::now() < until, "still running: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn proposing(env: &TestEnv) {
    env.script(
        "out Sure.\nout <NEW_DOC>\nout - [x] one\nout - [ ] two\nout </NEW_DOC>\nout Done.\n",
    );
}

#[test]
fn the_agent_proposes_a_diff_and_apply_writes_it_on_the_base_version() {
    let env = TestEnv::new();
    env.todo("- [ ] one\n");
    proposing(&env);
    let server = Server::start(&env, &[]);
    // The docs stream tells the request's states as they change.
    let rx = server.sse(&format!("api/v1/repos/{REPO}/docs/stream"), &[]);
    let started = ask(&server, "todo", "tick one and add two");
    assert_eq!(started.status, 202, "{}", started.body);
    let job = started.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(started.json()["state"], "running");

    let done = settled(&server, &job);
    assert_eq!(done["state"], "ready", "{done}");
    let told = crate::serve_client::read_until(&rx, Duration::from_secs(20), |e, d| {
        e == "chat" && d["job"] == job.as_str() && d["state"] == "ready"
    });
    let states: Vec<&str> = told
        .iter()
        .filter(|(e, _, d)| e == "chat" && d["job"] == job.as_str())
        .filter_map(|(_, _, d)| d["state"].as_str())
        .collect();
    assert!(
        matches!(states.as_slice(), ["running", "ready"] | ["ready"]),
        "{told:?}"
    );
    assert!(
        states.iter().all(|s| *s == "running" || *s == "ready")
            && told
                .iter()
                .all(|(_, _, d)| d["doc"] == "todo" || d.get("etag").is_some()),
        "{told:?}"
    );
    assert_eq!(done["proposal"], "- [x] one\n- [ ] two\n");
    let diff: Vec<(String, String)> = done["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["tag"].as_str().unwrap().into(),
                l["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("del", "- [ ] one"),
        ("add", "- [x] one"),
        ("add", "- [ ] two"),
    ];
    assert_eq!(diff, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // The agent got the doc and the request; the doc is not touched yet.
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(
        prompt.contains("- [ ] one") && prompt.contains("tick one and add two"),
        "{prompt}"
    );
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [ ] one\n");
    // A reload finds it as the latest request.
    assert_eq!(server.get(&chat("todo")).json()["job_id"], job.as_str());

    let applied = server.post(
        &format!("{}/{job}/apply", chat("todo")),
        &serde_json::json!({}),
    );
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [x] one\n- [ ] two\n"
    );
    assert_eq!(applied.etag.as_deref(), applied.json()["etag"].as_str());
    assert_eq!(settled(&server, &job)["state"], "applied");
    let again = server.post(
        &format!("{}/{job}/apply", chat("todo")),
        &serde_json::json!({}),
    );
    assert_eq!(again.status, 409, "{}", again.body);
}

#[test]
fn applying_after_the_doc_changed_is_a_conflict_that_writes_nothing_then_discard() {
    let env = TestEnv::new();
    env.todo("- [ ] one\n");
    proposing(&env);
    let server = Server::start(&env, &[]);
    let job = ask(&server, "todo", "tick one").json()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ready = settled(&server, &job);
    assert_eq!(ready["state"], "ready", "{ready}");
    env.todo("- [ ] one\n- [ ] the agent's\n");
    let apply = server.post(
        &format!("{}/{job}/apply", chat("todo")),
        &serde_json::json!({}),
    );
    assert_eq!(apply.status, 409, "{}", apply.body);
    assert_eq!(
        apply.json()["current"]["text"],
        "- [ ] one\n- [ ] the agent's\n"
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [ ] one\n- [ ] the agent's\n"
    );
    assert_eq!(
        settled(&server, &job)["state"],
        "ready",
        "the proposal is kept"
    );

    let gone = send(&server, "DELETE", &format!("{}/{job}", chat("todo")));
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.json()["state"], "discarded");
    let late = server.post(
        &format!("{}/{job}/apply", chat("todo")),
        &serde_json::json!({}),
    );
    assert_eq!(late.status, 409, "{}", late.body);
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [ ] one\n- [ ] the agent's\n"
    );
}

#[test]
fn one_request_at_a_time_per_doc_and_a_discard_stops_the_agent() {
    let env = TestEnv::new();
    env.todo("- [ ] one\n");
    env.script(
        "write-pid agent.pid\nsleep 30\n---\nout <NEW_DOC>\nout - [x] one\nout </NEW_DOC>\n",
    );
    let server = Server::start(&env, &[]);
    let job = ask(&server, "todo", "slow").json()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let busy = ask(&server, "todo", "another");
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert!(
        busy.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("still working")
    );
    env.wait_for("agent.pid", Duration::from_secs(60), || {
        env.path("agent.pid").exists()
    });
    let pid = crate::common::read_pid(&env.path("agent.pid"));
    let gone = send(&server, "DELETE", &format!("{}/{job}", chat("todo")));
    assert_eq!(gone.json()["state"], "discarded", "{}", gone.body);
    env.wait_for(
        "the discarded request's agent to end",
        Duration::from_secs(60),
        || !crate::common::alive(pid),
    );
    // Once its run has ended, the doc takes a new request.
    let until = Instant::now() + Duration::from_secs(60);
    let next = loop {
        let next = ask(&server, "todo", "quick");
        if next.status != 409 || Instant::now() > until {
            break next;
        }
        assert!(next.body.contains("still stopping"), "{}", next.body);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(next.status, 202, "{}", next.body);
    let job2 = next.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(settled(&server, &job2)["state"], "ready");
    // The new request replaced the discarded one.
    let old = server.get(&format!("{}/{job}", chat("todo")));
    assert_eq!(old.status, 404, "{}", old.body);
}

#[test]
fn a_failing_agent_gives_a_clear_error_and_bad_names_get_404() {
    let env = TestEnv::new();
    env.todo("- [ ] one\n");
    env.script("err boom\nexit 3\n");
    let server = Server::start(&env, &[]);
    let job = ask(&server, "todo", "anything").json()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = settled(&server, &job);
    assert_eq!(failed["state"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("exited with code 3"), "{error}");
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [ ] one\n");

    let nope = ask(&server, "notes", "x");
    assert_eq!(nope.status, 404, "{}", nope.body);
    assert!(
        nope.body
            .contains("todo, progress, opinions, spec and summary"),
        "{}",
        nope.body
    );
    assert_eq!(server.get(&format!("{}/todo-1", chat("todo"))).status, 404);
    assert_eq!(server.get(&chat("spec")).status, 404);
    let empty = ask(&server, "todo", "  ");
    assert_eq!(empty.status, 400, "{}", empty.body);
    let bad = server.send(
        "POST",
        &chat("todo"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        Some("{\"text\": 1}"),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn a_server_killed_outright_leaves_no_chat_agent_behind() {
    let env = TestEnv::new();
    env.todo("- [ ] one\n");
    env.script("write-pid agent.pid\nsleep 60\n");
    let server = Server::start(&env, &[]);
    let asked = ask(&server, "todo", "slow");
    assert_eq!(asked.status, 202, "{}", asked.body);
    env.wait_for("agent.pid", Duration::from_secs(60), || {
        env.path("agent.pid").exists()
    });
    let pid = crate::common::read_pid(&env.path("agent.pid"));
    assert!(crate::common::alive(pid));
    server.kill9();
    // The agent's supervisor sees the server go and ends its tree.
    env.wait_for(
        "the agent to end with the server",
        Duration::from_secs(10),
        || !crate::common::alive(pid),
    );
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [ ] one\n");
}
