//! The Runs and Tasks pages over HTTP (no browser): signed in they show
//! the data (a run's figures, output, final message and highlighted doc
//! diffs; the list paged; a task's status, output and reply box), an
//! unknown run or task is a 404 page saying so, and without credentials
//! each is the sign-in page with none of the data.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, read_until};
use crate::serve_sessions::login;

/// A GET with the session cookie: status and body.
fn get(server: &Server, path: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = ureq::get(&format!("{}{path}", server.base)).timeout(Duration::from_secs(30));
    if let Some(c) = cookie {
        req = req.set("Cookie", c);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    (resp.status(), resp.into_string().unwrap())
}

/// Runs the loop once and waits until it stopped.
fn run_once(server: &Server) {
    let events = server.stream(REPO, "", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/once"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    read_until(&events, Duration::from_secs(120), |k, d| {
        k == "event" && d["type"] == "stopped"
    });
}

#[test]
fn the_runs_pages_show_a_run_with_its_output_and_highlighted_doc_diff() {
    let env = TestEnv::new();
    env.todo("- [ ] first item\n- [ ] second item\n");
    env.script("out hello from the agent\nerr a warning line\ncheck-todo\nout All <done>.\n");
    let server = Server::start(&env, &[]);
    run_once(&server);
    // Without credentials: the sign-in page, none of the data.
    for path in [
        format!("repos/{REPO}/runs"),
        format!("repos/{REPO}/runs/1"),
        format!("ui/fragments/repos/{REPO}/runs"),
    ] {
        let (status, body) = get(&server, &path, None);
        assert!(!body.contains("hello from the agent") && !body.contains("first item"));
        if path.starts_with("ui/") {
            assert_eq!(status, 401, "{path}");
        } else {
            assert_eq!(status, 200, "{path}");
            assert!(body.contains("<h1>Sign in</h1>"), "{path}: {body}");
        }
    }
    let cookie = login(&server);
    let c = Some(cookie.as_str());
    let (status, list) = get(&server, &format!("repos/{REPO}/runs"), c);
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains(&format!("href=\"/repos/{REPO}/runs/1\"")),
        "{list}"
    );
    assert!(list.contains("TODO 0&#x2f;2 → 1&#x2f;2"), "{list}");
    assert!(list.contains("aria-current=\"page\">Runs<"), "{list}");
    assert!(list.contains(">ok · exit 0<"), "{list}");

    let (status, run) = get(&server, &format!("repos/{REPO}/runs/1"), c);
    assert_eq!(status, 200, "{run}");
    // The output's lines, styled by stream.
    assert!(
        run.contains("<div class=\"l out\">hello from the agent</div>"),
        "{run}"
    );
    assert!(
        run.contains("<div class=\"l err\">a warning line</div>"),
        "{run}"
    );
    // The TODO diff, its lines coloured.
    assert!(run.contains(".codex-autorunner&#x2f;TODO.md"), "{run}");
    assert!(
        run.contains("<span class=\"d del\">-- [ ] first item</span>"),
        "{run}"
    );
    assert!(
        run.contains("<span class=\"d add\">+- [x] first item</span>"),
        "{run}"
    );
    assert!(run.contains("class=\"add-n\">+1<"), "{run}");
    // Text is escaped; the final message is there.
    assert!(run.contains("All &lt;done&gt;."), "{run}");
    assert!(!run.contains("All <done>"), "{run}");
    assert!(run.contains("id=\"final-h\""), "{run}");
    assert!(!run.contains("<script>") && !run.contains("style="));

    for (path, says) in [
        (format!("repos/{REPO}/runs/99"), "no run 99"),
        (format!("repos/{REPO}/runs/x"), "is not a run id"),
        ("repos/nope/runs".to_string(), "no repository with id"),
    ] {
        let (status, body) = get(&server, &path, c);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
    for path in [
        format!("repos/{REPO}/runs?before=x"),
        format!("repos/{REPO}/tasks?offset=-1"),
    ] {
        let (status, body) = get(&server, &path, c);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("bad query"), "{path}: {body}");
    }
    let (status, body) = get(&server, "repos/nope/runs/1", c);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no repository with id"), "{body}");
}

#[test]
fn the_runs_list_is_paged_newest_first() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("check-todo\n");
    let server = Server::start(&env, &[]);
    run_once(&server);
    // 119 more runs, copies of the first one's record.
    let runs = env.path(".codex-autorunner/runs");
    let record = std::fs::read_to_string(runs.join("1/run.json")).unwrap();
    for n in 2..=120 {
        std::fs::create_dir_all(runs.join(n.to_string())).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&record).unwrap();
        v["id"] = n.into();
        std::fs::write(runs.join(format!("{n}/run.json")), v.to_string()).unwrap();
    }
    let cookie = login(&server);
    let c = Some(cookie.as_str());
    let started = Instant::now();
    let (status, first) = get(&server, &format!("repos/{REPO}/runs"), c);
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(first.contains("120 in all"), "{first}");
    let shown = |html: &str| html.matches("class=\"run-id\"").count();
    assert_eq!(shown(&first), 50);
    assert!(first.contains("Run #120<") && first.contains("Run #71<"));
    assert!(!first.contains("Run #70<"));
    assert!(first.contains("runs?before=71\""), "{first}");
    assert!(!first.contains("Newest runs"));
    let (_, last) = get(&server, &format!("repos/{REPO}/runs?before=21"), c);
    assert_eq!(shown(&last), 20);
    assert!(last.contains("Run #20<") && last.contains("Run #1<"));
    assert!(!last.contains("?before="), "{last}");
    assert!(last.contains("Newest runs"), "{last}");
    // The fragment its script fetches: the list alone.
    let (status, frag) = get(&server, &format!("ui/fragments/repos/{REPO}/runs"), c);
    assert_eq!(status, 200);
    assert!(frag.contains("id=\"runs\"") && !frag.contains("<html"));
    eprintln!("runs page with 120 runs: {took:?}");
}

#[test]
fn the_tasks_pages_show_the_composer_the_history_and_a_task() {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n  model: gpt-test-1\n");
    env.script("out task line one\nlast-message Task <answer>\n");
    let server = Server::start(&env, &[]);
    let spawned = server.post(
        "api/v1/tasks",
        &serde_json::json!({"prompt": "Count the files\nin the repo"}),
    );
    assert_eq!(spawned.status, 202, "{}", spawned.body);
    let id = spawned.json()["task_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.get(&format!("api/v1/tasks/{id}")).json()["final_output"] != "Task <answer>" {
        assert!(Instant::now() < deadline, "the task did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    for path in [
        format!("repos/{REPO}/tasks"),
        format!("repos/{REPO}/tasks/{id}"),
    ] {
        let (status, body) = get(&server, &path, None);
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("<h1>Sign in</h1>"), "{body}");
        assert!(!body.contains("Count the files") && !body.contains(&id));
    }
    let cookie = login(&server);
    let c = Some(cookie.as_str());
    let (status, page) = get(&server, &format!("repos/{REPO}/tasks"), c);
    assert_eq!(status, 200, "{page}");
    // The composer, its model from codex.model; one repository: no select.
    assert!(page.contains("id=\"compose\""), "{page}");
    assert!(page.contains("value=\"gpt-test-1\""), "{page}");
    assert!(!page.contains("<select"), "{page}");
    // The history: the first line of the prompt, the status, the exit code.
    assert!(
        page.contains(&format!(
            "href=\"/repos/{REPO}/tasks/{id}\">Count the files</a>"
        )),
        "{page}"
    );
    assert!(page.contains("succeeded · exit 0"), "{page}");
    assert!(page.contains("1 task<"), "{page}");

    let (status, one) = get(&server, &format!("repos/{REPO}/tasks/{id}"), c);
    assert_eq!(status, 200, "{one}");
    assert!(one.contains("data-state=\"succeeded\""), "{one}");
    assert!(
        one.contains("<div class=\"l out\">task line one</div>"),
        "{one}"
    );
    assert!(one.contains("Task &lt;answer&gt;"), "{one}");
    // Over: a reply box, no cancel.
    assert!(
        one.contains("id=\"reply\"") && !one.contains("id=\"cancel\""),
        "{one}"
    );
    let (status, frag) = get(
        &server,
        &format!("ui/fragments/repos/{REPO}/tasks?task={id}"),
        c,
    );
    assert_eq!(status, 200);
    assert!(frag.contains("id=\"task-head\"") && frag.contains("id=\"history\""));
    assert!(!frag.contains("<html"));

    for (path, says) in [
        (format!("repos/{REPO}/tasks/t-nope"), "no task"),
        ("repos/nope/tasks".to_string(), "no repository with id"),
    ] {
        let (status, body) = get(&server, &path, c);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
}

#[test]
fn in_a_hub_the_composer_offers_every_repository_with_the_page_s_own_chosen() {
    let env = crate::hub_registry::hub_with(&["alpha", "beta"]);
    env.run(&["hub", "scan"]).expect_code(0);
    let server = Server::start(&env, &[]);
    let cookie = login(&server);
    let (status, page) = get(&server, "repos/beta/tasks", Some(&cookie));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<select name=\"repo\""), "{page}");
    assert!(
        page.contains("<option value=\"alpha\">alpha</option>"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"beta\" selected>beta</option>"),
        "{page}"
    );
    assert!(page.contains("No tasks yet"), "{page}");
    // A task of alpha's is not beta's to show.
    let spawned = server.post(
        "api/v1/tasks",
        &serde_json::json!({"prompt": "hello", "repo": "alpha"}),
    );
    assert_eq!(spawned.status, 202, "{}", spawned.body);
    let id = spawned.json()["task_id"].as_str().unwrap().to_string();
    let (status, other) = get(&server, &format!("repos/beta/tasks/{id}"), Some(&cookie));
    assert_eq!(status, 404, "{other}");
    assert!(other.contains("belongs to repository"), "{other}");
    let (status, own) = get(&server, &format!("repos/alpha/tasks/{id}"), Some(&cookie));
    assert_eq!(status, 200, "{own}");
}
