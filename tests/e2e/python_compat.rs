//! A repository set up and run by the Python codex-autorunner 0.1.0 works
//! unchanged: its config, docs, state, custom prompt and run logs.

use crate::common::TestEnv;

const PY_CONFIG: &str = include_str!("../fixtures/python-0.1.0/config.yml");

fn python_repo() -> TestEnv {
    let env = TestEnv::bare();
    crate::common::git(&env.root, &["init", "-q"]);
    env.write(".codex-autorunner/.gitignore", "*");
    env.write(".codex-autorunner/config.yml", PY_CONFIG);
    env.write(
        ".codex-autorunner/TODO.md",
        "# TODO\n\n- [x] Example completed item\n- [ ] Port the parser\n- [ ] Add tests\n",
    );
    env.write(".codex-autorunner/PROGRESS.md", "# Progress\n\n");
    env.write(
        ".codex-autorunner/OPINIONS.md",
        "# Opinions\n\n- Prefer small, well-tested changes.\n",
    );
    env.write(
        ".codex-autorunner/SPEC.md",
        "# Spec\n\n## Requirements\n- Requirement 1\n",
    );
    env.write(
        ".codex-autorunner/SUMMARY.md",
        "# Summary\n\n## Final report\n- (pending)\n",
    );
    env.write(
        ".codex-autorunner/state.json",
        r#"{
  "last_run_id": 3,
  "status": "idle",
  "last_exit_code": 0,
  "last_run_started_at": "2026-11-21T11:01:29Z",
  "last_run_finished_at": "2026-11-21T11:01:29Z",
  "runner_pid": null,
  "sessions": {},
  "repo_to_session": {}
}
"#,
    );
    env.write(
        ".codex-autorunner/runs/run-3.log",
        "=== run 3 start ===\n[2026-11-21T11:01:29Z] run=3 stdout: thinking\n[2026-11-21T11:01:29Z] run=3 stdout: tokens used\n[2026-11-21T11:01:29Z] run=3 stdout: 1,234\n[2026-11-21T11:01:29Z] run=3 stdout: Agent: did one task\n=== run 3 end (code 0) ===\n",
    );
    env
}

#[test]
fn python_config_loads_without_errors_or_warnings() {
    let env = python_repo();
    let r = env.run(&["config", "show", "--json"]);
    r.expect_code(0);
    assert!(
        r.stderr().is_empty(),
        "no warnings expected: {}",
        r.stderr()
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["config"]["runner"]["sleep_seconds"], 5);
    let s = env.run(&["status"]);
    s.expect_code(0);
    assert!(
        s.stdout().contains("1/3 done; next: Port the parser"),
        "{}",
        s.stdout()
    );
    assert!(s.stdout().contains("#3"), "{}", s.stdout());
}

#[test]
fn python_repo_runs_continuing_numbering_with_its_prompt_and_prev_output() {
    let env = python_repo();
    env.write(
        ".codex-autorunner/prompt.txt",
        "Custom prompt.\nTODO at {{TODO_PATH}}:\n{{TODO}}\nSPEC at {{SPEC_PATH}}\n{{PREV_RUN_OUTPUT}}\nEnd.\n",
    );
    env.script("check-todo\n");
    let r = env
        .car(&[
            "once",
            "-c",
            &format!("codex.binary={}", crate::common::FAKE_AGENT),
            "-c",
            "codex.args=[]",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    let todo = "# TODO\n\n- [x] Example completed item\n- [ ] Port the parser\n- [ ] Add tests\n";
    let expected = format!(
        "Custom prompt.\nTODO at .codex-autorunner/TODO.md:\n{todo}\nSPEC at .codex-autorunner/SPEC.md\n<PREV_RUN_OUTPUT>\n1,234\nAgent: did one task\n</PREV_RUN_OUTPUT>\nEnd.\n"
    );
    assert_eq!(
        prompt, expected,
        "a Python prompt.txt renders as it did there"
    );
    let s = env.state();
    assert_eq!(
        s["last_run_id"], 4,
        "numbering continues after the Python runs"
    );
    assert_eq!(
        s["sessions"],
        serde_json::json!({}),
        "Python fields are kept"
    );
    assert!(env.path(".codex-autorunner/runs/4/run.json").exists());
    assert!(
        env.path(".codex-autorunner/runs/run-3.log").exists(),
        "old logs are untouched"
    );
    let log = env.run(&["log", "--run", "3"]);
    log.expect_code(0);
    assert!(log.stdout().contains("Agent: did one task"));
}

#[test]
fn a_python_notifications_block_keeps_working() {
    // The Python config's [run_finished, run_error, tui_idle] means: the loop
    // completed, a run failed. With its Discord variable set, car sends there.
    let hook =
        crate::fake_http::FakeHttp::start(vec![], crate::fake_http::Answer::ok(r#"{"id":"d"}"#));
    let env = python_repo();
    env.script("exit 4\n");
    let out = env
        .car(&[
            "run",
            "-c",
            &format!("codex.binary={}", crate::common::FAKE_AGENT),
            "-c",
            "codex.args=[]",
            "-c",
            "runner.max_consecutive_failures=1",
        ])
        .env("CAR_DISCORD_WEBHOOK_URL", format!("{}/hook", hook.url()))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = hook.wait_for(2);
    let texts: Vec<String> = reqs
        .iter()
        .map(|r| r.json()["content"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("run 4 failed")),
        "run_error -> a failed run: {texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("repo failed")),
        "the loop's failure: {texts:?}"
    );
}
