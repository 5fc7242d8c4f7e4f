//! The Runs and Tasks pages in a real browser (see `browser.rs`): a run's
//! highlighted diff and its whole output on demand, a run at work followed
//! from the list to its record, and a task composed, streamed, replied to
//! and cancelled.

use std::time::Duration;

use crate::browser::{browser_ready, flow};
use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, read_until};
use crate::serve_sessions::fresh_link;

#[test]
fn the_runs_pages_show_a_run_with_its_highlighted_diff_and_its_whole_output_on_demand() {
    if !browser_ready() {
        return;
    }
    let env = TestEnv::new();
    env.todo("- [ ] set up the database\n- [ ] write the migration\n");
    // 120 KB of output: more than a page starts with.
    env.script(
        "out first line of the run\nflood 120000 100\ncheck-todo\nout last line of the run\n",
    );
    let server = Server::start(&env, &[]);
    let events = server.stream("repo", "", &[]);
    let started = server.post("api/v1/repos/repo/loop/once", &serde_json::json!({}));
    assert_eq!(started.status, 202, "{}", started.body);
    read_until(&events, Duration::from_secs(60), |k, d| {
        k == "event" && d["type"] == "stopped"
    });
    let got = flow(
        "runs",
        &server,
        &fresh_link(&server),
        &[("CAR_FLOW_REPO", REPO)],
    );
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{got:#}");
    let row = rows[0].as_str().unwrap();
    assert!(
        row.contains("Run #1") && row.contains("ok · exit 0"),
        "{row}"
    );
    assert!(row.contains("TODO 0/2 → 1/2"), "{row}");
    assert_eq!(
        got["added"],
        serde_json::json!(["+- [x] set up the database"]),
        "{got:#}"
    );
    assert_eq!(
        got["removed"],
        serde_json::json!(["-- [ ] set up the database"]),
        "{got:#}"
    );
    let c = &got["colours"];
    assert!(c["add"] != c["del"] && c["add"] != c["ctx"], "{got:#}");
    // The page started with the tail; "Show all" brought every line.
    let log = env.read(".codex-autorunner/runs/1/output.log");
    let all = log.lines().count() as u64;
    let before = got["lines_before"].as_u64().unwrap();
    assert!(before < all / 2, "{before} of {all} lines at first");
    assert_eq!(got["lines_after"].as_u64(), Some(all), "{got:#}");
    let text = |k: &str| got[k].as_str().unwrap().to_string();
    let (first, last) = (log.lines().next().unwrap(), log.lines().last().unwrap());
    assert!(!first.ends_with(&text("first_before")), "{got:#}");
    assert!(first.ends_with(&text("first_after")), "{first} / {got:#}");
    assert!(last.ends_with(&text("last_after")), "{last} / {got:#}");
    assert!(log.contains("stdout: first line of the run\n"), "{log}");
    let fin = env.read(".codex-autorunner/runs/1/final_output.md");
    assert!(got["final_before"].as_u64().unwrap() < 40 * 1024, "{got:#}");
    assert_eq!(
        got["final_after_chars"].as_u64(),
        Some(fin.chars().count() as u64)
    );
    assert!(fin.ends_with(got["final_ends"].as_str().unwrap()));
    eprintln!(
        "runs list navigation: {}; run page: {}",
        got["list_timing"], got["run_timing"]
    );
}

#[test]
fn a_task_composed_in_the_browser_streams_ends_is_replied_to_and_a_long_one_is_cancelled() {
    if !browser_ready() {
        return;
    }
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n  model: gpt-test-1\n");
    let thread = r#"out {"type":"thread.started","thread_id":"th-7"}"#;
    let done = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;
    env.script(&format!(
        "{thread}\nout line 1\nsleep 0.6\nout line 2\nwait-file .flow-watching 60\nerr line 3\nlast-message counted\n{done}\n---\n\
         out second turn\nlast-message folders counted\n{done}\n---\n\
         out third turn\nlast-message counted again\n{done}\n---\n\
         {thread}\nout long task started\nsleep 120\n"
    ));
    let server = Server::start(&env, &[]);
    let got = flow(
        "tasks",
        &server,
        &fresh_link(&server),
        &[
            ("CAR_FLOW_REPO", REPO),
            // The agent prints its last line once the page watches.
            (
                "CAR_FLOW_WATCHING",
                env.root.join(".flow-watching").to_str().unwrap(),
            ),
        ],
    );
    assert_eq!(got["model"], "gpt-test-1", "{got:#}");
    let lines: Vec<&str> = got["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .filter(|l| l.contains("line "))
        .collect();
    assert_eq!(
        lines,
        ["out: line 1", "out: line 2", "err: line 3"],
        "{got:#}"
    );
    // The last lines came over the stream, after the page was shown.
    let streamed = got["streamed"].as_array().unwrap();
    assert!(streamed.iter().any(|l| l == "line 3"), "{got:#}");
    assert_eq!(got["history"], "Count the files", "{got:#}");
    assert!(
        got["history_row"]
            .as_str()
            .unwrap()
            .contains("succeeded · exit 0"),
        "{got:#}"
    );
    let after: Vec<&str> = got["after_reply"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let at = |t: &str| {
        after
            .iter()
            .position(|l| l.ends_with(t))
            .unwrap_or(usize::MAX)
    };
    assert!(
        at("line 3") < at("second turn") && at("second turn") < usize::MAX,
        "{got:#}"
    );
    assert_eq!(got["followed_elsewhere"], true, "{got:#}");
    assert!(
        got["cancelled_row"].as_str().unwrap().contains("cancelled"),
        "{got:#}"
    );
    assert_eq!(got["history_count"], 2, "{got:#}");
    // Nothing of the cancelled task runs on.
    let rec = server
        .get(&format!("api/v1/tasks/{}", got["long"].as_str().unwrap()))
        .json();
    assert_eq!(rec["state"], "cancelled", "{rec:#}");
}

#[test]
fn a_run_at_work_shows_in_the_list_and_its_page_follows_it_to_its_diff() {
    if !browser_ready() {
        return;
    }
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script(
        "sleep 1\nout tick 1\nsleep 0.5\nout tick 2\nsleep 0.5\nout tick 3\nsleep 0.5\nout tick 4\nsleep 0.5\nout tick 5\nsleep 0.5\nout tick 6\nsleep 2\ncheck-todo\n",
    );
    let server = Server::start(&env, &[]);
    let got = flow(
        "runs_live",
        &server,
        &fresh_link(&server),
        &[("CAR_FLOW_REPO", REPO)],
    );
    assert!(
        got["empty"].as_str().unwrap().contains("No runs yet"),
        "{got:#}"
    );
    assert!(
        got["running_row"]
            .as_str()
            .unwrap()
            .contains("Run #1 running"),
        "{got:#}"
    );
    assert_eq!(got["same_page"], true, "{got:#}");
    let ticks: Vec<String> = (1..=6).map(|i| format!("tick {i}")).collect();
    assert_eq!(got["live_lines"], serde_json::json!(ticks), "{got:#}");
    assert!(
        got["outcome"].as_str().unwrap().starts_with("ok"),
        "{got:#}"
    );
    assert_eq!(got["added"], serde_json::json!(["+- [x] a"]), "{got:#}");
}
