//! Loop semantics a new user tripped over: a BOM, a summary that wrote
//! nothing, a TODO changed after a summary, the template TODO, and the
//! messages of `events`, `doctor`, `status`, `notify test` around them.

use crate::common::TestEnv;

const SUMMARY: &str = ".codex-autorunner/SUMMARY.md";

fn events(env: &TestEnv) -> Vec<serde_json::Value> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_byte_order_mark_hides_no_checkbox() {
    let env = TestEnv::new();
    env.todo("\u{feff}- [ ] First task\n- [x] Second task\n");
    let st = env.run(&["status"]).stdout();
    assert!(
        st.contains("TODO:        1/2 done; next: First task"),
        "{st}"
    );
    env.script("out working\n");
    env.run(&["once"]).expect_code(0);
    let rec = env.run_record(1);
    assert_eq!(rec["kind"], "loop", "the open first task is worked on");
    assert_eq!(rec["todo_before"]["total"], 2);
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(!prompt.contains('\u{feff}'), "the BOM reached the prompt");
    assert!(prompt.contains("- [ ] First task"), "{prompt}");

    // The snapshot's excerpts of the docs leave it out too.
    env.write(".codex-autorunner/SPEC.md", "\u{feff}# Spec with a BOM\n");
    env.script("out # Snapshot\n");
    env.run(&["snapshot", "--stdout"]).expect_code(0);
    let prompt = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(prompt.contains("# Spec with a BOM"), "{prompt}");
    assert!(
        !prompt.contains('\u{feff}'),
        "the BOM reached the snapshot prompt"
    );
    // And ingest-spec's prompt (its answer is unusable here: exit 1).
    env.run(&["ingest-spec", "--force"]).expect_code(1);
    let prompt = String::from_utf8(env.agent_prompt(3)).unwrap();
    assert!(prompt.contains("# Spec with a BOM"), "{prompt}");
    assert!(
        !prompt.contains('\u{feff}'),
        "the BOM reached the ingest prompt"
    );
}

#[test]
fn a_summary_run_that_leaves_summary_unchanged_is_a_failed_run() {
    let env = TestEnv::new();
    env.todo("- [x] done\n");
    env.config("runner:\n  max_consecutive_failures: 2\n");
    let before = env.read(SUMMARY);
    env.script("out I verified everything\n");
    let r = env.run(&["run"]);
    r.expect_code(1);
    let s = env.state();
    assert_eq!(s["stop_reason"], "failed", "{}", r.stdout());
    assert_eq!(env.agent_runs(), 2, "retried within the failure limit");
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "failed");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains("the summary run left .codex-autorunner/SUMMARY.md unchanged"),
        "{rec}"
    );
    assert!(
        s["stop_detail"].as_str().unwrap().contains("unchanged"),
        "{s}"
    );
    assert_eq!(
        env.read(SUMMARY),
        before,
        "no marker for a summary not written"
    );

    // A summary run that writes the summary completes the loop.
    env.script("write .codex-autorunner/SUMMARY.md # Summary: all done\n");
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.state()["stop_reason"], "completed");
}

#[test]
fn a_todo_changed_after_the_summary_gets_a_new_summary() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script(
        "check-todo\n---\nwrite .codex-autorunner/SUMMARY.md # Summary one\n---\ncheck-todo\n---\nwrite .codex-autorunner/SUMMARY.md # Summary two\n",
    );
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.agent_runs(), 2);
    assert!(
        env.read(SUMMARY)
            .contains("CAR:SUMMARY_FINALIZED run_id=2 todo=")
    );
    // The summary run is `summary` everywhere.
    assert_eq!(env.run_record(2)["kind"], "summary");
    let kinds: Vec<String> = events(&env)
        .iter()
        .filter(|e| e["type"] == "run_started" && e["run_id"] == 2)
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["summary"]);

    // Nothing changed: no run. A task added later: worked on, then summarised.
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.agent_runs(), 2);
    env.todo("- [x] a\n- [ ] b\n");
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.agent_runs(), 4, "a loop run and a new summary run");
    assert_eq!(env.run_record(4)["kind"], "summary");
    let summary = env.read(SUMMARY);
    assert!(summary.starts_with("# Summary two\n"), "{summary}");
    assert_eq!(
        summary.matches("CAR:SUMMARY_FINALIZED").count(),
        1,
        "{summary}"
    );
    assert!(summary.contains("run_id=4 todo="), "{summary}");
    assert_eq!(env.state()["stop_reason"], "completed");
}

#[test]
fn a_python_marker_stays_final_until_the_todo_changes() {
    let env = TestEnv::new();
    env.todo("- [x] a\n");
    env.write(SUMMARY, "# Summary\n\n<!-- CAR:SUMMARY_FINALIZED -->\n");
    env.script("check-todo\n---\nwrite .codex-autorunner/SUMMARY.md # New summary\n");
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.agent_runs(), 0, "a Python-finalised summary is final");
    assert_eq!(env.state()["stop_reason"], "completed");
    let adopted = env.read(SUMMARY);
    assert!(adopted.starts_with("# Summary\n"), "{adopted}");
    assert!(adopted.contains("CAR:SUMMARY_FINALIZED todo="), "{adopted}");
    // From now on it is tied to that TODO.
    env.todo("- [x] a\n- [ ] b\n");
    env.run(&["run"]).expect_code(0);
    assert_eq!(env.agent_runs(), 2);
    assert!(env.read(SUMMARY).starts_with("# New summary\n"));
}

#[test]
fn the_template_todo_is_refused_before_any_run() {
    let env = TestEnv::new();
    // TestEnv::new ran `car init`: the TODO is the template.
    env.script("check-todo\n");
    let r = env.run(&["once"]);
    r.expect_code(1);
    assert_eq!(env.agent_runs(), 0, "no run is spent on the template");
    let s = env.state();
    assert_eq!(s["stop_reason"], "todo_invalid");
    let detail = s["stop_detail"].as_str().unwrap();
    assert!(
        detail.contains(".codex-autorunner/TODO.md")
            && detail.contains("Replace this item with your first task")
            && !detail.contains("car "),
        "{detail}"
    );
    // The command line adds the advice, to the stop and to the status.
    assert!(r.stdout().contains("(`car edit todo`)"), "{}", r.stdout());
    let st = env.run(&["status"]).stdout();
    assert!(st.contains("Hint:        add your own tasks"), "{st}");
    let d = env.run(&["doctor"]);
    d.expect_code(1);
    let out = d.stdout();
    assert!(
        out.contains("FAIL todo")
            && out.contains(".codex-autorunner/TODO.md still holds the template item"),
        "{out}"
    );
}

#[test]
fn events_since_leaves_out_run_less_events_before_that_run() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("check-todo\n");
    env.run(&["once"]).expect_code(0);
    env.run(&["once"]).expect_code(0);
    let all = env.run(&["events", "--json"]).stdout();
    assert_eq!(all.matches("\"loop_started\"").count(), 2, "{all}");
    let since: Vec<serde_json::Value> = env
        .run(&["events", "--json", "--since", "2"])
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = &since[0];
    assert_eq!(first["run_id"], 2, "{since:?}");
    assert!(
        since.iter().all(|e| e["type"] != "loop_started"),
        "the loops started before run 2: {since:?}"
    );
    assert!(
        env.run(&["events", "--since", "3"]).stdout().is_empty(),
        "nothing from run 3 on yet"
    );
}

#[test]
fn doctor_fails_on_a_spec_that_is_not_utf8() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    std::fs::write(env.path(".codex-autorunner/SPEC.md"), b"# Spec\n\xff\xfe\n").unwrap();
    let d = env.run(&["doctor"]);
    d.expect_code(1);
    let out = d.stdout();
    assert!(
        out.contains("FAIL docs")
            && out.contains("SPEC.md is not UTF-8 text (first bad byte on line 2)"),
        "{out}"
    );
}

#[test]
fn status_after_a_reply_says_the_answer_waits_for_the_next_run() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script("out NEED_INPUT: Which database?\n---\ncheck-todo\n");
    env.run(&["run"]).expect_code(3);
    env.run(&["reply", "PostgreSQL"]).expect_code(0);
    let st = env.run(&["status"]).stdout();
    assert!(
        st.contains(
            "Status:      needs_input (stopped: needs_input; answered, waiting for the next run)"
        ),
        "{st}"
    );
    assert!(st.contains("(answered)"), "{st}");
    assert!(
        st.contains("waiting for the next run, whose prompt carries it (`car resume`)"),
        "{st}"
    );
    assert!(!st.contains("Question:"), "{st}");
}

#[test]
fn notify_test_names_an_unknown_provider_and_the_configured_ones() {
    let env = TestEnv::new();
    let r = env
        .car(&["notify", "test", "--provider", "foo"])
        .env("CAR_NTFY_TOPIC", "car-test-topic")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{out}");
    assert!(
        !out.contains("no notification provider is configured"),
        "{out}"
    );
    assert!(
        out.contains(
            "`foo` is not a provider (known: ntfy, discord, telegram, webhook); configured: ntfy"
        ),
        "{out}"
    );
    let r = env
        .car(&["notify", "test", "--provider", "discord"])
        .env("CAR_NTFY_TOPIC", "car-test-topic")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        out.contains("`discord` is not configured; configured: ntfy"),
        "{out}"
    );
}

#[test]
fn a_missing_agent_binary_is_reported_once() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    // Codex arguments: car also asks the binary for its version.
    let r = env.run(&[
        "-c",
        "codex.binary=no-such-agent-binary",
        "-c",
        "codex.args=[exec]",
        "once",
    ]);
    r.expect_code(2);
    let all = format!("{}{}", r.stdout(), r.stderr());
    assert_eq!(
        all.matches("`no-such-agent-binary` not found").count(),
        1,
        "{all}"
    );
}
