//! Watching a hub: `car hub status` (one line per repository, narrow enough
//! for a phone), `car hub events [-f]` (every repository's events, each
//! naming its repository) and `car attach ID` at the hub's root.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{FAKE_AGENT, TestEnv};
use crate::hub_registry::hub_with;

/// A hub of `alpha` and `beta`, registered, car initialised in both with
/// the fake agent and a TODO of two items.
fn hub() -> TestEnv {
    let env = hub_with(&["alpha", "beta"]);
    env.run(&["hub", "scan", "--init"]).expect_code(0);
    for name in ["alpha", "beta"] {
        env.write(
            &format!("{name}/.codex-autorunner/config.yml"),
            &format!(
                "version: 2\nmode: repo\ncodex:\n  binary: {FAKE_AGENT}\n  args: []\nrunner:\n  sleep_seconds: 0\n"
            ),
        );
        env.write(
            &format!("{name}/.codex-autorunner/TODO.md"),
            "- [x] first\n- [ ] second\n",
        );
    }
    env
}

#[test]
fn hub_status_has_a_line_per_repository_within_60_columns_and_shows_a_question() {
    let env = hub();
    env.script("out NEED_INPUT: Which database should the service use, postgres or sqlite?\n");
    env.run(&["--repo", "alpha", "once"]).expect_code(3);
    let out = env.run(&["hub", "status"]);
    out.expect_code(0);
    let text = out.stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in &lines {
        assert!(
            l.chars().count() <= 60,
            "{} columns: {l:?}",
            l.chars().count()
        );
    }
    let alpha = lines.iter().find(|l| l.starts_with("alpha")).unwrap();
    let beta = lines.iter().find(|l| l.starts_with("beta")).unwrap();
    assert!(alpha.contains("1/2"), "{alpha}");
    assert!(alpha.contains('?'), "the question is shown: {alpha}");
    assert!(!beta.contains('?'), "{beta}");
    let wide = env.run(&["hub", "status", "--wide"]);
    wide.expect_code(0);
    assert!(
        wide.stdout().contains("Which database"),
        "{}",
        wide.stdout()
    );
    let json = env.run(&["hub", "status", "--json"]);
    json.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    let repos = v["repos"].as_array().unwrap();
    assert_eq!(repos.len(), 2);
    let a = repos.iter().find(|r| r["id"] == "alpha").unwrap();
    assert!(
        a["question"]
            .as_str()
            .is_some_and(|q| q.contains("Which database")),
        "{a:#}"
    );
}

#[test]
fn hub_events_name_their_repository_and_follow_every_repository() {
    let env = hub();
    env.script("check-todo\n");
    env.run(&["--repo", "alpha", "once"]).expect_code(0);
    let out = env.run(&["hub", "events", "--json"]);
    out.expect_code(0);
    let events: Vec<serde_json::Value> = out
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["repo"] == "alpha"), "{events:#?}");
    // Followed: alpha's stored events, then beta's new ones as they come.
    let mut follower = env
        .car(&["hub", "events", "-f", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = crate::serve_client::lines_of(follower.stdout.take().unwrap());
    let first = lines.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(first.contains("\"repo\":\"alpha\""), "{first}");
    env.run(&["--repo", "beta", "once"]).expect_code(0);
    let mut seen_beta_stop = false;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(20)) {
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        if e["repo"] == "beta" && e["type"] == "stopped" {
            seen_beta_stop = true;
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(
        seen_beta_stop,
        "beta's stop never came through the hub's stream"
    );
}

#[test]
fn attach_at_the_hub_root_needs_a_known_id() {
    let env = hub();
    let none = env.run(&["attach"]);
    none.expect_code(2);
    assert!(none.stderr().contains("alpha"), "{}", none.stderr());
    let unknown = env.run(&["attach", "nope"]);
    assert_ne!(unknown.code(), 0);
    assert!(unknown.stderr().contains("nope"), "{}", unknown.stderr());
}
