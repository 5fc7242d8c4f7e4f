//! Each stop condition of the loop, its stop reason and its exit code.

use std::time::{Duration, Instant};

use crate::common::TestEnv;

#[test]
fn completes_after_the_summary_run_exit_0() {
    let env = TestEnv::new();
    env.todo("# TODO\n\n- [ ] first\n* [ ] second\n");
    env.script("check-todo\nprogress did one\nout finished an item\n---\ncheck-todo\nprogress did two\n---\nwrite .codex-autorunner/SUMMARY.md # Summary\\nall done\n");
    let r = env.run(&["run"]);
    r.expect_code(0);
    assert_eq!(env.agent_runs(), 3, "two work runs and one summary run");
    let s = env.state();
    assert_eq!(s["stop_reason"], "completed");
    assert_eq!(s["status"], "completed");
    assert_eq!(s["last_run_id"], 3);
    assert_eq!(s["last_exit_code"], 0);
    assert!(
        env.read(".codex-autorunner/SUMMARY.md")
            .contains("CAR:SUMMARY_FINALIZED run_id=3")
    );
    // The summary run got the summary prompt, the first run the loop prompt.
    let p3 = String::from_utf8(env.agent_prompt(3)).unwrap();
    assert!(p3.contains("<WORK_DOCS>"), "{p3}");
    // Run 2's prompt carries run 1's final output.
    let p2 = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(
        p2.contains("<PREV_RUN_OUTPUT>\nfinished an item\n</PREV_RUN_OUTPUT>"),
        "{p2}"
    );
    let rec = env.run_record(1);
    assert_eq!(rec["todo_before"]["done"], 0);
    assert_eq!(rec["todo_after"]["done"], 1);
    let changed: Vec<&str> = rec["docs_changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["doc"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["todo", "progress"]);
    assert!(
        rec["docs_changed"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("-- [ ] first\n+- [x] first")
    );
    assert!(r.stdout().contains("stopped: completed"), "{}", r.stdout());
    // Another run makes no agent call at all.
    env.run(&["once"]).expect_code(0);
    assert_eq!(env.agent_runs(), 3);
}

#[test]
fn run_limit_counts_runs_of_this_invocation_exit_0() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n- [ ] d\n");
    env.config("runner:\n  stop_after_runs: 1\n");
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md - the summary\n");
    for expected_id in [1, 2, 3] {
        let r = env.run(&["run"]);
        r.expect_code(0);
        let s = env.state();
        assert_eq!(s["stop_reason"], "run_limit");
        assert_eq!(
            s["last_run_id"], expected_id,
            "each invocation makes exactly one run"
        );
    }
    // One item is left: run 4 checks it, run 5 (the second allowed) is the summary.
    env.run(&["run", "--max-runs", "2"]).expect_code(0);
    assert_eq!(env.state()["last_run_id"], 5);
    assert_eq!(env.state()["stop_reason"], "completed");
    assert_eq!(env.agent_runs(), 5);
}

#[test]
fn once_makes_exactly_one_agent_run_even_when_it_finishes_the_todo() {
    let env = TestEnv::new();
    env.todo("- [ ] only\n");
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md - the summary\n");
    env.run(&["once"]).expect_code(0);
    assert_eq!(env.agent_runs(), 1);
    assert_eq!(env.state()["stop_reason"], "run_limit");
    env.run(&["once"]).expect_code(0);
    assert_eq!(env.agent_runs(), 2, "the summary is its own run");
    assert_eq!(env.state()["stop_reason"], "completed");
}

#[test]
fn consecutive_failures_stop_as_failed_exit_1() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script("progress trying\nerr boom\nexit 3\n");
    let r = env.run(&["run"]);
    r.expect_code(1);
    assert_eq!(env.agent_runs(), 3);
    let s = env.state();
    assert_eq!(s["stop_reason"], "failed");
    assert_eq!(s["status"], "error");
    assert_eq!(s["last_exit_code"], 3);
    assert!(s["stop_detail"].as_str().unwrap().contains("exit 3"), "{s}");
    assert_eq!(env.run_record(3)["outcome"], "failed");
}

#[test]
fn a_success_resets_the_failure_count() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("exit 1\n---\nexit 1\n---\ncheck-todo\n---\nexit 1\n---\nexit 1\n---\nexit 1\n");
    env.run(&["run"]).expect_code(1);
    assert_eq!(env.agent_runs(), 6);
}

#[test]
fn runs_that_change_nothing_stop_as_stalled_exit_1() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  no_progress_runs: 2\n");
    env.script("out thinking really hard\n");
    env.run(&["run"]).expect_code(1);
    assert_eq!(env.agent_runs(), 2);
    assert_eq!(env.state()["stop_reason"], "stalled");
}

#[test]
fn a_file_change_in_the_work_tree_counts_as_progress() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  no_progress_runs: 2\n  stop_after_runs: 3\n");
    env.script("write src/one.txt 1\n---\nappend src/one.txt 2\n---\nappend src/one.txt 3\n");
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.state()["stop_reason"], "run_limit");
}

#[test]
fn todo_without_checkboxes_is_an_error_and_runs_nothing() {
    let env = TestEnv::new();
    env.todo("# TODO\n\nJust some prose.\n\n```\n- [ ] inside a code block\n```\n");
    let r = env.run(&["run"]);
    r.expect_code(1);
    assert_eq!(env.agent_runs(), 0);
    assert_eq!(env.state()["stop_reason"], "todo_invalid");
    assert!(r.stdout().contains("no checkbox items"), "{}", r.stdout());
}

#[test]
fn wallclock_limit_stops_a_run_in_progress_exit_0() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  max_wallclock_seconds: 1\n  kill_grace_seconds: 1\n");
    env.script("out starting\nsleep 30\n");
    let t = Instant::now();
    env.run(&["run"]).expect_code(0);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(env.state()["stop_reason"], "wallclock");
    assert_eq!(env.run_record(1)["outcome"], "timed_out");
}

#[test]
fn stop_file_is_honoured_between_runs_exit_0() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("check-todo\nwrite .codex-autorunner/stop now\n");
    env.run(&["run"]).expect_code(0);
    assert_eq!(
        env.agent_runs(),
        1,
        "the current run finishes, no new one starts"
    );
    assert_eq!(env.state()["stop_reason"], "stop_requested");
    assert!(
        !env.path(".codex-autorunner/stop").exists(),
        "the request is consumed"
    );
}

#[test]
fn car_stop_command_writes_the_request() {
    let env = TestEnv::new();
    let r = env.run(&["stop"]);
    r.expect_code(0);
    assert!(env.path(".codex-autorunner/stop").exists());
}

#[test]
fn ctrl_c_interrupts_the_run_exit_130() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let pidfile = env.root.join("agent.pid");
    env.script(&format!("write-pid {}\nsleep 30\n", pidfile.display()));
    let mut child = env.car(&["run"]).spawn().unwrap();
    env.wait_for("agent start", Duration::from_secs(10), || pidfile.exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(env.state()["stop_reason"], "interrupted");
    assert_eq!(env.run_record(1)["outcome"], "interrupted");
    assert!(!crate::common::alive(crate::common::read_pid(&pidfile)));
}

#[test]
fn auto_commit_commits_the_work_tree_with_the_message_template() {
    let env = TestEnv::new();
    crate::common::git(&env.root, &["add", "-A"]);
    crate::common::git(&env.root, &["commit", "-qm", "init"]);
    env.todo("- [ ] a\n- [ ] b\n");
    env.config("git:\n  auto_commit: true\n  commit_message_template: \"car run {run_id}\"\n");
    env.script("check-todo\nwrite src/new.txt hello\n");
    env.run(&["once"]).expect_code(0);
    let log = crate::common::git(&env.root, &["log", "--format=%s", "-1"]);
    assert_eq!(log.trim(), "car run 1");
    let files = crate::common::git(&env.root, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(
        files.contains("src/new.txt") && files.contains(".codex-autorunner/TODO.md"),
        "{files}"
    );
    assert!(!files.contains("state.json"), "{files}");
    assert!(env.run_record(1)["git_commit"].as_str().is_some());
}
