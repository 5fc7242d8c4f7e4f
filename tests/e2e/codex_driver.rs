//! Driving `codex exec`: the `--json` event stream, outcomes, tokens and
//! budget, error classes, the watchdog, needs-input and the event ledger,
//! with the scripted fake agent speaking Codex's event format.

use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive, read_pid};

const THREAD: &str = r#"out {"type":"thread.started","thread_id":"th-1"}"#;
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":10,"output_tokens":30,"reasoning_output_tokens":5}}"#;

fn failed(msg: &str) -> String {
    format!(r#"out {{"type":"turn.failed","error":{{"message":"{msg}"}}}}"#)
}

/// A repo whose agent is run as `codex exec` (so car adds --json, -o and -).
fn codex_env() -> TestEnv {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env
}

fn ledger_types(env: &TestEnv) -> Vec<String> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn events_are_parsed_recorded_and_stored() {
    let env = codex_env();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script(&format!(
        "{THREAD}\nout {{\"type\":\"turn.started\"}}\nout not json at all\n\
         out {{\"type\":\"item.completed\",\"item\":{{\"id\":\"i1\",\"type\":\"command_execution\",\"command\":\"bash -c 'exit 3'\",\"aggregated_output\":\"\",\"exit_code\":3,\"status\":\"failed\"}}}}\n\
         out {{\"type\":\"item.completed\",\"item\":{{\"id\":\"i2\",\"type\":\"agent_message\",\"text\":\"checked a\"}}}}\n\
         check-todo\nlast-message Final: checked a\n{DONE}\n"
    ));
    env.run(&["once"]).expect_code(0);
    let argv = std::fs::read_to_string(format!("{}.argv", env.script.display())).unwrap();
    let args: Vec<&str> = argv
        .trim_end()
        .split_once(' ')
        .unwrap()
        .1
        .split('\x1f')
        .collect();
    assert_eq!(args[0], "exec");
    assert_eq!(args[1], "--json");
    assert_eq!(args[2], "-o");
    assert!(args[3].ends_with("runs/1/last_message.md"), "{args:?}");
    assert_eq!(*args.last().unwrap(), "-", "the prompt comes from stdin");
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "ok");
    assert_eq!(rec["codex"]["thread_id"], "th-1");
    assert_eq!(rec["codex"]["commands"][0]["exit_code"], 3);
    assert_eq!(rec["tokens"]["input"], 300);
    assert_eq!(rec["tokens"]["reasoning"], 5);
    assert_eq!(rec["final_output_source"], "last_message");
    assert_eq!(
        env.read(".codex-autorunner/runs/1/final_output.md"),
        "Final: checked a"
    );
    let stored = env.read(".codex-autorunner/runs/1/codex-events.jsonl");
    assert_eq!(stored.lines().count(), 5, "{stored}");
    let log = env.read(".codex-autorunner/runs/1/output.log");
    assert!(log.contains("codex: $ bash -c 'exit 3' (exit 3)"), "{log}");
    assert!(log.contains("codex: agent: checked a"), "{log}");
    assert!(log.contains("stdout: not json at all"), "{log}");
    let s = env.state();
    assert_eq!(s["tokens"]["input"], 300);
    assert_eq!(s["codex_version"], "codex-cli 0.169.0");
    // The next prompt gets the last message as the previous output.
    env.script(&format!("{THREAD}\ncheck-todo\n{DONE}\n"));
    env.run(&["once"]).expect_code(0);
    let p = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(
        p.contains("<PREV_RUN_OUTPUT>\nFinal: checked a\n</PREV_RUN_OUTPUT>"),
        "{p}"
    );
    assert_eq!(
        env.state()["tokens"]["input"],
        600,
        "tokens add up across runs"
    );
}

#[test]
fn the_terminal_event_decides_the_outcome_not_the_exit_code() {
    let env = codex_env();
    env.todo("- [ ] a\n- [ ] b\n");
    env.config("runner:\n  max_consecutive_failures: 1\n");
    // turn.completed but exit 1: ok. Then turn.failed with exit 0: failed.
    env.script(&format!(
        "check-todo\n{DONE}\nexit 1\n---\n{}\n",
        failed("something odd")
    ));
    env.run(&["run"]).expect_code(1);
    assert_eq!(env.run_record(1)["outcome"], "ok");
    let rec = env.run_record(2);
    assert_eq!(rec["outcome"], "failed");
    assert_eq!(rec["exit_code"], 0);
    assert_eq!(rec["error"], "something odd");
    assert_eq!(rec["error_class"], "other");
}

#[test]
fn eof_without_a_terminal_event_is_a_failure() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.config("runner:\n  max_consecutive_failures: 1\n");
    env.script(&format!("{THREAD}\n"));
    env.run(&["run"]).expect_code(1);
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "failed");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains("without finishing its turn")
    );
}

#[test]
fn usage_limit_waits_for_the_reset_and_does_not_count_as_a_failure() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.config("runner:\n  max_consecutive_failures: 1\n  quota_retry_seconds: 2\n");
    let msg = "You\u{2019}ve hit your usage limit. Try again later.";
    env.script(&format!(
        "{}\n---\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - the summary\n{DONE}\n",
        failed(msg)
    ));
    let t = Instant::now();
    let r = env.run(&["run", "--max-runs", "2"]);
    r.expect_code(0);
    assert!(t.elapsed() >= Duration::from_secs(2), "it must wait");
    assert!(r.stdout().contains("usage limit reached"), "{}", r.stdout());
    assert_eq!(env.run_record(1)["error_class"], "usage_limit");
    assert_eq!(env.run_record(2)["outcome"], "ok");
    let types = ledger_types(&env);
    assert!(
        types.contains(&"waiting_for_quota".to_string()),
        "{types:?}"
    );
}

#[test]
fn usage_limit_wait_ends_at_once_on_a_stop_request() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.config("runner:\n  quota_retry_seconds: 60\n");
    env.script(&failed("You've hit your usage limit. Try again later."));
    let mut runner = env
        .car(&["run"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for("waiting_for_quota", Duration::from_secs(10), || {
        std::fs::read_to_string(env.path(".codex-autorunner/state.json"))
            .is_ok_and(|s| s.contains("\"waiting_for_quota\""))
    });
    assert!(env.run(&["status"]).stdout().contains("Quota:"));
    let t = Instant::now();
    env.run(&["stop"]).expect_code(0);
    assert_eq!(runner.wait().unwrap().code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(env.state()["stop_reason"], "stop_requested");
}

#[test]
fn billing_wall_stops_as_quota_exhausted() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.script(&failed(
        "Quota exceeded. Check your plan and billing details.",
    ));
    let r = env.run(&["run"]);
    r.expect_code(1);
    assert_eq!(env.agent_runs(), 1, "retrying cannot help");
    let s = env.state();
    assert_eq!(s["stop_reason"], "quota_exhausted");
    assert!(
        s["stop_detail"].as_str().unwrap().contains("billing"),
        "{s}"
    );
}

#[test]
fn transient_failures_are_retried_before_they_count() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.config("runner:\n  max_consecutive_failures: 1\n  transient_backoff_seconds: 0.05\n  transient_retries: 2\n");
    let high =
        failed("We're currently experiencing high demand, which may cause temporary errors.");
    env.script(&format!(
        "{high}\n---\n{high}\n---\ncheck-todo\n{DONE}\n---\nappend .codex-autorunner/SUMMARY.md - the summary\n{DONE}\n"
    ));
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.state()["stop_reason"], "completed");
    let types = ledger_types(&env);
    assert_eq!(
        types.iter().filter(|t| *t == "retry").count(),
        2,
        "{types:?}"
    );

    // Retries exhausted: then it is a failure.
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.config("runner:\n  max_consecutive_failures: 1\n  transient_backoff_seconds: 0.05\n  transient_retries: 1\n");
    env.script(&failed("stream disconnected before completion: reset"));
    env.run(&["run"]).expect_code(1);
    assert_eq!(env.agent_runs(), 2);
    assert_eq!(env.state()["stop_reason"], "failed");
}

#[test]
fn context_overflow_drops_the_previous_output_next_run() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.script(&format!(
        "last-message earlier output\n{DONE}\nprogress x\n---\n{}\n---\ncheck-todo\n{DONE}\n",
        failed("Codex ran out of room in the model's context window. Start a new thread.")
    ));
    env.run(&["run", "--max-runs", "3"]).expect_code(0);
    let p2 = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(
        p2.contains("earlier output"),
        "run 2 still gets run 1's output"
    );
    let p3 = String::from_utf8(env.agent_prompt(3)).unwrap();
    assert!(
        !p3.contains("<PREV_RUN_OUTPUT>"),
        "run 3 must not get the previous output"
    );
    assert_eq!(env.run_record(3)["prev_output_dropped"], true);
    assert!(
        env.read(".codex-autorunner/runs/3/output.log")
            .contains("context window")
    );
}

#[test]
fn watchdog_kills_a_silent_agent_as_hung() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("codex:\n  idle_timeout_seconds: 1\nrunner:\n  max_consecutive_failures: 1\n  kill_grace_seconds: 1\n");
    let gc = env.root.join("gc.pid");
    env.script(&format!(
        "out started\nspawn-grandchild {} 60\nsleep 60\n",
        gc.display()
    ));
    let t = Instant::now();
    env.run(&["run"]).expect_code(1);
    assert!(t.elapsed() < Duration::from_secs(15));
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "hung");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains("idle_timeout_seconds")
    );
    assert!(
        !alive(read_pid(&gc)),
        "no process of the hung run may survive"
    );
    assert_eq!(env.state()["stop_reason"], "failed");
}

#[test]
fn run_timeout_bounds_one_run() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("codex:\n  run_timeout_seconds: 1\nrunner:\n  max_consecutive_failures: 1\n  kill_grace_seconds: 1\n");
    env.script(
        "out tick\nsleep 0.3\nout tick\nsleep 0.3\nout tick\nsleep 0.3\nout tick\nsleep 30\n",
    );
    env.run(&["run"]).expect_code(1);
    assert_eq!(env.run_record(1)["outcome"], "timed_out");
    assert_eq!(env.state()["stop_reason"], "failed");
}

#[test]
fn need_input_stops_then_reply_and_resume_carry_the_answer() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.script(&format!(
        "last-message I did the setup.\\nNEED_INPUT: Which database should I use?\n{DONE}\n---\ncheck-todo\n{DONE}\n"
    ));
    let r = env.run(&["run"]);
    r.expect_code(3);
    assert!(
        r.stdout()
            .contains("needs a person: Which database should I use?"),
        "{}",
        r.stdout()
    );
    let s = env.state();
    assert_eq!(s["stop_reason"], "needs_input");
    assert_eq!(s["status"], "needs_input");
    assert_eq!(
        s["pending_question"]["question"],
        "Which database should I use?"
    );
    let st = env.run(&["status"]).stdout();
    assert!(
        st.contains("Question:    run 1 asks: Which database should I use?"),
        "{st}"
    );

    // An open question stops `run` (a scheduler's restart) without a run.
    let again = env.run(&["run"]);
    again.expect_code(3);
    assert!(
        again.stdout().contains("question is still open"),
        "{}",
        again.stdout()
    );
    assert_eq!(env.agent_runs(), 1);

    env.run(&["reply", "Use PostgreSQL 16."]).expect_code(0);
    assert!(
        !env.run(&["status"]).stdout().contains("Question:"),
        "answered questions are not shown"
    );
    env.run(&["resume", "--once"]).expect_code(0);
    let p = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(
        p.contains("Your question: Which database should I use?\nAnswer: Use PostgreSQL 16."),
        "{p}"
    );
    assert_eq!(env.run_record(2)["user_reply_included"], true);
    assert_eq!(
        env.state()["user_reply"],
        serde_json::Value::Null,
        "the reply is consumed"
    );
    let types = ledger_types(&env);
    for t in ["needs_input", "reply"] {
        assert!(types.contains(&t.to_string()), "{t} missing from {types:?}");
    }
}

#[test]
fn reply_from_a_file_and_empty_reply() {
    let env = TestEnv::new();
    env.write("answer.txt", "multi\nline answer\n");
    env.run(&["reply", "--file", "answer.txt"]).expect_code(0);
    assert_eq!(env.state()["user_reply"]["text"], "multi\nline answer");
    env.run(&["reply", "  "]).expect_code(2);
}

#[test]
fn structured_verdict_needs_input_and_blocked() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.config("codex:\n  structured_verdict: true\n");
    env.script(&format!(
        "last-message {{\"status\":\"needs_input\",\"summary\":\"set up\",\"question\":\"Which region?\"}}\n{DONE}\n---\nlast-message {{\"status\":\"blocked\",\"summary\":\"the API is down\",\"question\":\"\"}}\n{DONE}\n"
    ));
    env.run(&["run"]).expect_code(3);
    let argv = std::fs::read_to_string(format!("{}.argv", env.script.display())).unwrap();
    assert!(argv.contains("--output-schema"), "{argv}");
    assert!(
        env.path(".codex-autorunner/runs/1/verdict-schema.json")
            .exists()
    );
    assert_eq!(env.state()["pending_question"]["question"], "Which region?");
    let p = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(
        p.contains("JSON verdict"),
        "the prompt explains the verdict"
    );
    env.run(&["reply", "eu-west-1"]).expect_code(0);
    env.run(&["resume"]).expect_code(3);
    let s = env.state();
    assert_eq!(s["stop_reason"], "blocked");
    assert!(
        s["stop_detail"]
            .as_str()
            .unwrap()
            .contains("the API is down")
    );
}

#[test]
fn token_budget_stops_and_holds_across_restarts() {
    let env = codex_env();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n- [ ] d\n");
    env.config("runner:\n  max_tokens: 500\n");
    env.script(&format!(
        "check-todo\nappend .codex-autorunner/SUMMARY.md - the summary\n{DONE}\n"
    ));
    env.run(&["run"]).expect_code(0);
    assert_eq!(
        env.agent_runs(),
        2,
        "330 + 330 tokens pass the budget of 500"
    );
    assert_eq!(env.state()["stop_reason"], "budget");
    env.run(&["resume"]).expect_code(0);
    assert_eq!(env.agent_runs(), 2, "the budget holds across resume");
    env.run(&["run", "-c", "runner.max_tokens=2000"])
        .expect_code(0);
    assert!(env.agent_runs() > 2, "raising the budget continues");
}

#[test]
fn an_old_codex_version_gets_a_warning() {
    let env = codex_env();
    env.todo("- [ ] a\n");
    env.script(&format!("check-todo\n{DONE}\n"));
    let out = env
        .car(&["once"])
        .env("FAKE_AGENT_VERSION", "0.100.2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("warning: codex-cli 0.100.2 is older than 0.169.0"),
        "{stdout}"
    );
    assert_eq!(env.state()["codex_version"], "codex-cli 0.100.2");
}

#[test]
fn the_event_ledger_records_the_loop_and_car_events_reads_it() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md - the summary\n");
    env.run(&["run"]).expect_code(0);
    let types = ledger_types(&env);
    assert_eq!(
        types,
        [
            "loop_started",
            "run_started",
            "run_finished",
            "run_started",
            "run_finished",
            "run_started",
            "run_finished",
            "stopped"
        ]
    );
    for line in env.read(".codex-autorunner/events.jsonl").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["v"], 1);
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }
    let json = env.run(&["events", "--json", "--since", "3"]).stdout();
    let since: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        since
            .iter()
            .all(|v| v["run_id"].is_null() || v["run_id"].as_u64().unwrap() >= 3),
        "{json}"
    );
    assert!(
        since
            .iter()
            .any(|v| v["type"] == "stopped" && v["reason"] == "completed")
    );
    let text = env.run(&["events"]).stdout();
    assert!(
        text.contains("run_finished run=1") && text.contains("outcome=ok"),
        "{text}"
    );
}

#[test]
fn the_ledger_rotates_and_events_reads_across_files() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n- [ ] d\n- [ ] e\n");
    env.config("events:\n  max_bytes: 600\n  keep: 5\n");
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md - the summary\n");
    env.run(&["run"]).expect_code(0);
    assert!(env.path(".codex-autorunner/events.jsonl.1").exists());
    let all = env.run(&["events", "--json"]).stdout();
    let ids: Vec<u64> = all
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["run_id"].as_u64())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] <= w[1]),
        "events in order across files: {ids:?}"
    );
    assert_eq!(ids.last(), Some(&6));
}

#[test]
fn events_follow_prints_new_events() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.write(".codex-autorunner/events.jsonl", "");
    let mut follow = env
        .car(&["events", "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.script("check-todo\n");
    env.run(&["once"]).expect_code(0);
    std::thread::sleep(Duration::from_millis(600));
    follow.kill().unwrap();
    let out = follow.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("loop_started") && text.contains("run_finished run=1"),
        "{text}"
    );
}
