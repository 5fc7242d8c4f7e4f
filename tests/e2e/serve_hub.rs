//! `car serve` at a hub root: every repository and worktree under its
//! manifest id (as the manifest changes), the list with git positions, the
//! merged event stream with resume, worktrees and loops driven over HTTP.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::git;
use crate::hub_common::hub_of;
use crate::hub_registry::make_repo;
use crate::serve_client::{Server, TOKEN, lines_of};

/// The list item of `id`.
fn item(server: &Server, id: &str) -> serde_json::Value {
    let list = server.get("api/v1/repos");
    assert_eq!(list.status, 200, "{}", list.body);
    list.json()
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no {id} in {}", list.body))
}

/// Waits until `f` holds, or panics naming `what` after `secs`.
fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_hub_is_served_per_id_listed_with_git_and_follows_its_manifest() {
    let env = hub_of(&["alpha", "beta"], "- [ ] one\n- [x] two\n");
    env.run(&["worktree", "new", "alpha", "j1"]).expect_code(0);
    let server = Server::start(&env, &[]);

    let list = server.get("api/v1/repos").json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "beta", "alpha--j1"]);
    let wt = item(&server, "alpha--j1");
    assert_eq!(wt["kind"], "worktree");
    assert_eq!(wt["worktree_of"], "alpha");
    assert_eq!(wt["state"], "idle");
    assert_eq!(
        (wt["todo_done"].as_u64(), wt["todo_total"].as_u64()),
        (Some(1), Some(2))
    );
    // The routes of a repository, per id.
    let status = server.get("api/v1/repos/alpha--j1");
    assert_eq!(status.status, 200, "{}", status.body);
    assert!(
        status.json()["root"]
            .as_str()
            .unwrap()
            .ends_with("worktrees/alpha--j1")
    );
    let todo = server.get("api/v1/repos/beta/docs/todo");
    assert_eq!(todo.status, 200, "{}", todo.body);
    assert!(todo.body.contains("one"), "{}", todo.body);
    assert_eq!(server.get("api/v1/repos/nope").status, 404);

    // A commit and an edit in the worktree show within the git refresh.
    let wt_dir = env.path("worktrees/alpha--j1");
    std::fs::write(wt_dir.join("new.txt"), "x\n").unwrap();
    git(&wt_dir, &["add", "new.txt"]);
    git(&wt_dir, &["commit", "-qm", "job work"]);
    std::fs::write(wt_dir.join("README.md"), "edited\n").unwrap();
    wait("the worktree's git position", 30, || {
        let g = &item(&server, "alpha--j1")["git"];
        g["branch"] == "job/j1" && g["ahead"] == 1 && g["behind"] == 0 && g["dirty"] == true
    });
    let g = item(&server, "alpha--j1");
    assert_eq!(g["git"]["compared_with"], "main");
    assert!(g["git_checked_at"].is_string());

    // Disabled in the manifest: listed, but changes are refused.
    let manifest = env.read(".codex-autorunner/manifest.yml");
    let off = manifest.replacen(
        "path: beta\n  enabled: true",
        "path: beta\n  enabled: false",
        1,
    );
    assert_ne!(manifest, off);
    env.write(".codex-autorunner/manifest.yml", &off);
    assert_eq!(item(&server, "beta")["enabled"], false);
    let r = server.post("api/v1/repos/beta/loop/start", &serde_json::json!({}));
    assert_eq!(r.status, 409, "{}", r.body);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("\"beta\"") && msg.contains("enabled: false"),
        "{msg}"
    );
    assert_eq!(server.get("api/v1/repos/beta").status, 200);

    // A repository registered by the CLI is served without a restart; a
    // removed one is gone.
    make_repo(&env.root.join("gamma"));
    env.run(&["hub", "scan"]).expect_code(0);
    let r = server.get("api/v1/repos/gamma");
    assert_eq!(r.status, 200, "{}", r.body);
    env.run(&["hub", "remove", "gamma"]).expect_code(0);
    assert_eq!(server.get("api/v1/repos/gamma").status, 404);
}

/// The merged stream at `api/v1/stream` (`headers` added): `(id, data)`.
fn merged(
    server: &Server,
    headers: &[(&str, &str)],
) -> mpsc::Receiver<(String, serde_json::Value)> {
    let mut req = ureq::get(&format!("{}api/v1/stream", server.base))
        .set("Authorization", &format!("Bearer {TOKEN}"));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = req.call().unwrap();
    assert!(resp.content_type().starts_with("text/event-stream"));
    let lines = lines_of(resp.into_reader());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut id, mut data) = (String::new(), String::new());
        for line in lines {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            } else if line.is_empty() && !data.is_empty() {
                let value = serde_json::from_str(&std::mem::take(&mut data)).unwrap();
                if tx.send((std::mem::take(&mut id), value)).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// The next `n` events, then none for a moment.
fn exactly(
    rx: &mpsc::Receiver<(String, serde_json::Value)>,
    n: usize,
) -> Vec<(String, serde_json::Value)> {
    let got: Vec<_> = (0..n)
        .map(|i| {
            rx.recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("event {i} of {n}: {e}"))
        })
        .collect();
    if let Ok(more) = rx.recv_timeout(Duration::from_millis(1500)) {
        panic!("one event too many: {more:?} after {got:?}");
    }
    got
}

/// Appends one event (an `audit`) to `id`'s ledger.
fn poke(server: &Server, id: &str) {
    let r = server.post(
        &format!("api/v1/repos/{id}/loop/stop"),
        &serde_json::json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

fn seq_of(e: &(String, serde_json::Value)) -> (String, u64) {
    (
        e.1["repo"].as_str().unwrap().to_string(),
        e.1["seq"].as_u64().unwrap(),
    )
}

#[test]
fn the_merged_stream_names_repos_resumes_without_gap_or_duplicate_and_takes_in_new_ones() {
    let env = hub_of(&["alpha", "beta"], "- [ ] one\n");
    let server = Server::start(&env, &[]);
    poke(&server, "alpha"); // before the stream: not in it
    let first = merged(&server, &[]);
    poke(&server, "alpha");
    poke(&server, "beta");
    poke(&server, "alpha");
    let got = exactly(&first, 3);
    let mut seqs: Vec<_> = got.iter().map(seq_of).collect();
    seqs.sort();
    let want = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
        v.iter().map(|(r, s)| (r.to_string(), *s)).collect()
    };
    assert_eq!(seqs, want(&[("alpha", 2), ("alpha", 3), ("beta", 1)]));
    assert!(got.iter().all(|e| e.1["type"] == "audit"));
    let last_id = got.last().unwrap().0.clone();
    let token: serde_json::Value = serde_json::from_str(&last_id).unwrap();
    assert_eq!(token, serde_json::json!({"alpha": 3, "beta": 1}));
    drop(first);

    // Disconnected: more happens; a resume gets exactly that.
    poke(&server, "beta");
    poke(&server, "alpha");
    let second = merged(&server, &[("Last-Event-ID", &last_id)]);
    let mut seqs: Vec<_> = exactly(&second, 2).iter().map(seq_of).collect();
    seqs.sort();
    assert_eq!(seqs, want(&[("alpha", 4), ("beta", 2)]));

    // A worktree made while connected joins the stream.
    env.run(&["worktree", "new", "alpha", "late"])
        .expect_code(0);
    std::thread::sleep(Duration::from_millis(1500));
    poke(&server, "alpha--late");
    let joined = second.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(joined.1["repo"], "alpha--late");
    assert_eq!(joined.1["type"], "audit");
}

#[test]
fn worktrees_and_loops_are_driven_over_http_with_the_cli_rules() {
    let env = hub_of(&["alpha"], "- [ ] one\n");
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md x\n");
    let server = Server::start(&env, &[]);
    let r = server.post(
        "api/v1/worktrees",
        &serde_json::json!({"base": "alpha", "name": "job1"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["id"], "alpha--job1");
    assert_eq!(v["branch"], "job/job1");
    let wt = env.path("worktrees/alpha--job1");
    assert_eq!(v["path"], wt.to_str().unwrap());
    assert!(wt.join(".codex-autorunner/state.json").is_file());
    assert_eq!(item(&server, "alpha--job1")["kind"], "worktree");
    // Errors as the CLI words them.
    let r = server.post(
        "api/v1/worktrees",
        &serde_json::json!({"base": "nope", "name": "x"}),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("no repository `nope`"), "{}", r.body);
    let r = server.post(
        "api/v1/worktrees",
        &serde_json::json!({"base": "alpha", "name": "job1"}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("`alpha--job1` exists already"),
        "{}",
        r.body
    );
    let r = server.post("api/v1/worktrees", &serde_json::json!({"base": "alpha"}));
    assert_eq!(r.status, 400, "{}", r.body);

    // Uncommitted work: refused, the worktree stays.
    std::fs::write(wt.join("wip.txt"), "half done\n").unwrap();
    let r = server.send(
        "DELETE",
        "api/v1/worktrees/alpha--job1",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        None,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("1 uncommitted change"), "{}", r.body);
    assert!(wt.exists());

    // Its loop, started through the hub, runs to completion.
    let r = server.post(
        "api/v1/hub/start",
        &serde_json::json!({"ids": ["alpha--job1"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["repos"][0]["outcome"], "queued");
    let deadline = Instant::now() + Duration::from_secs(90);
    while item(&server, "alpha--job1")["stop_reason"] != "completed" {
        assert!(
            Instant::now() < deadline,
            "the loop did not complete: {} hub events: {}",
            item(&server, "alpha--job1"),
            std::fs::read_to_string(env.path(".codex-autorunner/hub/events.jsonl"))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(item(&server, "alpha--job1")["todo_done"], 1);
    let r = server.post(
        "api/v1/hub/stop",
        &serde_json::json!({"ids": ["alpha--job1"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing to stop; the supervisor may not have dropped its wish yet.
    let outcome = r.json()["repos"][0]["outcome"].clone();
    assert!(
        outcome == "not_running" || outcome == "unqueued",
        "{}",
        r.body
    );
    let r = server.post("api/v1/hub/stop", &serde_json::json!({}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.post("api/v1/hub/start", &serde_json::json!({"ids": ["nope"]}));
    assert_eq!(r.status, 404, "{}", r.body);

    // Forced: archived first, and the answer says where.
    let r = server.send(
        "DELETE",
        "api/v1/worktrees/alpha--job1?force=true",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let archive = r.json()["archive"].as_str().unwrap().to_string();
    assert!(
        std::path::Path::new(&archive)
            .join("uncommitted.patch")
            .is_file()
    );
    assert!(!wt.exists());
    assert_eq!(server.get("api/v1/repos/alpha--job1").status, 404);
}
