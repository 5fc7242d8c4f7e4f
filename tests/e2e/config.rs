//! Configuration: precedence, errors that name the file/line/key, and that a
//! bad config writes nothing.

use crate::common::TestEnv;

#[test]
fn precedence_root_override_repo_env_cli() {
    let env = TestEnv::new();
    env.write("codex-autorunner.yml", "repo:\n  runner:\n    sleep_seconds: 11\n    no_progress_runs: 7\n  prompt:\n    prev_run_max_chars: 100\n");
    env.write(
        "codex-autorunner.override.yml",
        "runner:\n  sleep_seconds: 22\n  max_consecutive_failures: 9\n",
    );
    env.config("runner:\n  kill_grace_seconds: 4\n  sleep_seconds: 33\n");
    let out = env
        .car(&["config", "show", "--json", "-c", "runner.stop_after_runs=5"])
        .env("CAR_RUNNER__SLEEP_SECONDS", "44")
        .env("CAR_RUNNER__STOP_AFTER_RUNS", "4")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["config"]["runner"];
    assert_eq!(c["no_progress_runs"], 7, "root file");
    assert_eq!(c["max_consecutive_failures"], 9, "override file");
    assert_eq!(c["kill_grace_seconds"], 4, "repo config.yml");
    assert_eq!(c["sleep_seconds"], 44, "env beats files");
    assert_eq!(c["stop_after_runs"], 5, "command line beats env");
    assert_eq!(v["config"]["prompt"]["prev_run_max_chars"], 100);
    let src = &v["sources"];
    assert!(
        src["runner.no_progress_runs"]
            .as_str()
            .unwrap()
            .ends_with("codex-autorunner.yml")
    );
    assert_eq!(
        src["runner.sleep_seconds"],
        "environment variable CAR_RUNNER__SLEEP_SECONDS"
    );
    assert_eq!(
        src["runner.stop_after_runs"],
        "command line -c runner.stop_after_runs=5"
    );
    assert!(src["codex.args"].as_str().unwrap().contains("config.yml"));
    assert_eq!(src["git.auto_commit"], "built-in default");
}

#[test]
fn config_show_text_names_sources() {
    let env = TestEnv::new();
    let r = env.run(&["config", "show"]);
    r.expect_code(0);
    assert!(
        r.stdout().contains("runner.sleep_seconds = 0"),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("# built-in default"), "{}", r.stdout());
}

fn assert_nothing_written(env: &TestEnv, before: &[String]) {
    assert_eq!(&list(env), before, "a bad config must not write anything");
}

fn list(env: &TestEnv) -> Vec<String> {
    let mut v: Vec<String> = crate::common::files_under(&env.root.join(".codex-autorunner"))
        .iter()
        .map(|p| format!("{} {}", p.display(), std::fs::read(p).unwrap().len()))
        .collect();
    v.sort();
    v
}

#[test]
fn yaml_syntax_error_names_file_line_and_column_and_writes_nothing() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.write(
        ".codex-autorunner/config.yml",
        "version: 2\nrunner:\n  sleep_seconds: [1\n  other: 2\n",
    );
    let before = list(&env);
    for cmd in [&["once"][..], &["run"], &["status"], &["config", "show"]] {
        let r = env.run(cmd);
        r.expect_code(2);
        let err = r.stderr();
        assert!(err.contains(".codex-autorunner/config.yml:"), "{err}");
        assert!(err.contains("invalid YAML"), "{err}");
        assert!(regex_like_line_col(&err), "no line:column in {err}");
    }
    assert_nothing_written(&env, &before);
    assert_eq!(env.agent_runs(), 0);
}

fn regex_like_line_col(s: &str) -> bool {
    s.split("config.yml:").nth(1).is_some_and(|rest| {
        let mut parts = rest.splitn(3, ':');
        let l = parts.next().unwrap_or("");
        let c = parts.next().unwrap_or("");
        l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok()
    })
}

#[test]
fn wrong_type_names_the_key_and_file() {
    let env = TestEnv::new();
    env.config("runner:\n  sleep_seconds: soon\n");
    let before = list(&env);
    let r = env.run(&["once"]);
    r.expect_code(2);
    assert!(
        r.stderr().contains("`runner.sleep_seconds`"),
        "{}",
        r.stderr()
    );
    assert!(r.stderr().contains("config.yml"), "{}", r.stderr());
    assert_nothing_written(&env, &before);

    let env = TestEnv::new();
    let r = env
        .car(&["once"])
        .env("CAR_RUNNER__MAX_CONSECUTIVE_FAILURES", "-1")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("runner.max_consecutive_failures")
            && err.contains("CAR_RUNNER__MAX_CONSECUTIVE_FAILURES"),
        "{err}"
    );
}

#[test]
fn doc_path_outside_the_repo_is_rejected() {
    let env = TestEnv::new();
    env.config("docs:\n  todo: ../elsewhere/TODO.md\n");
    let r = env.run(&["once"]);
    r.expect_code(2);
    assert!(
        r.stderr().contains("docs.todo") && r.stderr().contains("outside the repository"),
        "{}",
        r.stderr()
    );
}

#[test]
fn unknown_key_is_a_warning_naming_key_and_file() {
    let env = TestEnv::new();
    env.config("runner:\n  sleep_secs: 1\n");
    let r = env.run(&["status"]);
    r.expect_code(0);
    assert!(
        r.stderr().contains("warning") && r.stderr().contains("`runner.sleep_secs`"),
        "{}",
        r.stderr()
    );
    assert!(
        r.stderr().contains(".codex-autorunner/config.yml"),
        "{}",
        r.stderr()
    );
}

#[test]
fn missing_agent_binary_is_a_clear_config_error() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("codex:\n  binary: codex-missing-xyz\n");
    let r = env.run(&["once"]);
    r.expect_code(2);
    assert!(
        r.stderr().contains("codex-missing-xyz") && r.stderr().contains("codex.binary"),
        "{}",
        r.stderr()
    );
    let s = env.state();
    assert_eq!(s["stop_reason"], "error");
    assert_eq!(s["runner_pid"], serde_json::Value::Null);
}

#[test]
fn outside_a_repo_commands_explain_how_to_start() {
    let env = TestEnv::bare();
    let r = env.run(&["status"]);
    r.expect_code(2);
    assert!(r.stderr().contains("car init"), "{}", r.stderr());
}
