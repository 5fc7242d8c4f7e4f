//! Hostile config input: no panic, no hang, and every error names the file,
//! key and line and says what is allowed.

use std::time::{Duration, Instant};

use crate::common::{FAKE_AGENT, TestEnv};

/// The repo config of `TestEnv::new`, with `extra` lines appended.
fn repo_config(env: &TestEnv, extra: &str) {
    env.write(
        ".codex-autorunner/config.yml",
        &format!("version: 2\nmode: repo\ncodex:\n  binary: {FAKE_AGENT}\n  args: []\n{extra}"),
    );
}

#[test]
fn huge_seconds_are_a_config_error_naming_the_key_not_a_panic() {
    let env = TestEnv::new();
    for v in ["1e20", "1e308", "18446744073709551616", "-1", ".nan"] {
        let flag = format!("runner.sleep_seconds={v}");
        let r = env.run(&["-c", &flag, "doctor"]);
        r.expect_code(1);
        let out = r.stdout();
        assert!(
            out.contains("FAIL config") && out.contains("`runner.sleep_seconds`"),
            "{v}: {out}"
        );
        assert!(out.contains("10 years"), "{v}: {out}");
        assert!(!r.stderr().contains("panicked"), "{}", r.stderr());
    }
    // A bound near the clock's end used to pass and panic mid-run.
    env.todo("- [ ] a\n");
    for key in ["runner.max_wallclock_seconds", "codex.run_timeout_seconds"] {
        let flag = format!("{key}=9.3e18");
        let r = env.run(&["-c", &flag, "once"]);
        r.expect_code(2);
        assert!(r.stderr().contains(&format!("`{key}`")), "{}", r.stderr());
        assert_eq!(env.agent_runs(), 0);
    }
    // In a file, the message names the file and line.
    repo_config(&env, "runner:\n  sleep_seconds: 1e20\n");
    let r = env.run(&["status"]);
    r.expect_code(2);
    assert!(
        r.stderr().contains(".codex-autorunner/config.yml:7)")
            && r.stderr().contains("`runner.sleep_seconds`")
            && r.stderr().contains("expected a number of seconds"),
        "{}",
        r.stderr()
    );
}

#[test]
fn deeply_nested_config_answers_within_a_second_naming_file_and_line() {
    let env = TestEnv::new();
    repo_config(&env, &format!("runner: {}\n", "[".repeat(200_000)));
    // Doctor runs git and other checks after the config one: a looser bound.
    for (cmd, bound) in [("status", 1), ("doctor", 5)] {
        let start = Instant::now();
        let r = env.run(&[cmd]);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(bound), "{cmd} took {took:?}");
        let all = format!("{}{}", r.stdout(), r.stderr());
        assert!(
            all.contains(".codex-autorunner/config.yml:6") && all.contains("nested more than 32"),
            "{all}"
        );
    }
}

#[test]
fn oversized_model_is_refused_naming_codex_model() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    // 10 MB: over the file limit, refused before it is parsed.
    repo_config(&env, &format!("  model: {}\n", "m".repeat(10_000_000)));
    let start = Instant::now();
    let r = env.run(&["once"]);
    assert!(start.elapsed() < Duration::from_secs(1));
    r.expect_code(2);
    let err = r.stderr();
    assert!(
        err.contains("too big") && err.contains("`codex.model`"),
        "{err}"
    );
    assert!(
        err.contains("config.yml") && err.contains("line 6"),
        "{err}"
    );
    // 100 KB: within the file limit, over the string limit.
    repo_config(&env, &format!("  model: {}\n", "m".repeat(100_000)));
    let r = env.run(&["once"]);
    r.expect_code(2);
    let err = r.stderr();
    assert!(
        err.contains("`codex.model`") && err.contains("config.yml:6") && err.contains("16384"),
        "{err}"
    );
    assert!(!err.contains("Argument list too long"), "{err}");
    assert_eq!(env.agent_runs(), 0);
}

#[test]
fn a_list_in_args_is_blamed_on_the_repo_config_with_key_and_line() {
    let env = TestEnv::new();
    env.write(
        ".codex-autorunner/config.yml",
        &format!("version: 2\nmode: repo\ncodex: {{binary: {FAKE_AGENT}, args: [[exec]]}}\n"),
    );
    let r = env.run(&["status"]);
    r.expect_code(2);
    let err = r.stderr();
    assert!(
        err.contains("`codex.args`")
            && err.contains(".codex-autorunner/config.yml:3")
            && err.contains("item 1 is a list; expected a list of strings"),
        "{err}"
    );
    assert!(!err.contains("built-in default"), "{err}");
    // A non-mapping section and a non-string key of a free-form mapping.
    repo_config(&env, "runner: 5\n");
    let err = env.run(&["status"]).stderr();
    assert!(
        err.contains("`runner`") && err.contains("config.yml:6") && err.contains("a mapping"),
        "{err}"
    );
    repo_config(
        &env,
        "notifications:\n  telegram:\n    thread_id_map: {[a]: 5}\n",
    );
    let err = env.run(&["status"]).stderr();
    assert!(
        err.contains("`notifications.telegram.thread_id_map`")
            && err.contains("config.yml:8")
            && !err.contains("built-in default"),
        "{err}"
    );
}

#[test]
fn a_tagged_mapping_is_merged_with_a_warning() {
    let env = TestEnv::new();
    repo_config(&env, "runner: !custom {no_progress_runs: 7}\n");
    let r = env.run(&["config", "show", "--json"]);
    r.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["config"]["runner"]["no_progress_runs"], 7);
    assert_eq!(v["config"]["runner"]["sleep_seconds"], 5, "defaults kept");
    assert!(
        r.stderr().contains("`runner`") && r.stderr().contains("!custom"),
        "{}",
        r.stderr()
    );
}

#[test]
fn yaml11_yes_is_accepted_for_a_boolean_key_with_a_warning() {
    let env = TestEnv::new();
    crate::common::git(&env.root, &["add", "-A"]);
    crate::common::git(&env.root, &["commit", "-qm", "init"]);
    env.todo("- [ ] a\n- [ ] b\n");
    repo_config(
        &env,
        "runner:\n  sleep_seconds: 0\ngit:\n  auto_commit: yes\n",
    );
    env.script("check-todo\nwrite src/new.txt hello\n");
    let r = env.run(&["once"]);
    r.expect_code(0);
    assert!(
        r.stderr().contains("`git.auto_commit`")
            && r.stderr().contains("config.yml:9")
            && r.stderr().contains("YAML 1.1"),
        "{}",
        r.stderr()
    );
    let log = crate::common::git(&env.root, &["log", "--format=%s", "-1"]);
    assert_eq!(log.trim(), "[codex] run #1", "yes turned auto_commit on");
    // `no` turns it off.
    repo_config(
        &env,
        "runner:\n  sleep_seconds: 0\ngit:\n  auto_commit: no\n",
    );
    env.script("check-todo\nwrite src/other.txt hello\n");
    env.run(&["once"]).expect_code(0);
    let log = crate::common::git(&env.root, &["log", "--format=%s", "-1"]);
    assert_eq!(log.trim(), "[codex] run #1", "no commit for run 2");
}

#[test]
fn doctor_names_the_todo_file_of_a_failing_check() {
    let env = TestEnv::new();
    env.todo("no tasks here\n");
    let r = env.run(&["doctor"]);
    r.expect_code(1);
    assert!(
        r.stdout().contains("FAIL todo")
            && r.stdout()
                .contains(".codex-autorunner/TODO.md: no checkbox items"),
        "{}",
        r.stdout()
    );
}

#[test]
fn a_huge_rotation_count_is_refused_instead_of_hanging_car_events() {
    let env = TestEnv::new();
    let start = Instant::now();
    let r = env.run(&["-c", "events.keep=4294967295", "events"]);
    assert!(start.elapsed() < Duration::from_secs(1));
    r.expect_code(2);
    assert!(
        r.stderr().contains("`events.keep`") && r.stderr().contains("from 0 to 100"),
        "{}",
        r.stderr()
    );
}
