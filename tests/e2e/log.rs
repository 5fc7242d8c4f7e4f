//! `car log`: latest run, `--run`, `--tail`, `--follow`.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::TestEnv;

#[test]
fn log_shows_latest_run_a_given_run_and_a_tail() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script(
        "out first run\ncheck-todo\n---\nout second run\nout line 2\nout line 3\ncheck-todo\n",
    );
    env.run(&["run", "--max-runs", "2"]).expect_code(0);
    let latest = env.run(&["log"]);
    latest.expect_code(0);
    assert!(latest.stdout().contains("stdout: second run"));
    assert!(!latest.stdout().contains("first run"));
    assert!(
        env.run(&["log", "--run", "1"])
            .stdout()
            .contains("stdout: first run")
    );
    let tail = env.run(&["log", "--tail", "2"]).stdout();
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(tail.contains("car: run 2 end"), "{tail}");
    let missing = env.run(&["log", "--run", "99"]);
    missing.expect_code(2);
    assert!(missing.stderr().contains("run 99 not found"));
}

#[test]
fn log_without_runs_says_so() {
    let env = TestEnv::new();
    let r = env.run(&["log"]);
    r.expect_code(1);
    assert!(r.stderr().contains("no runs recorded yet"));
}

#[test]
fn log_follow_streams_until_the_run_ends() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let go = env.root.join("go");
    env.script(&format!(
        "out early line\nsleep 1\nout late line\ncheck-todo\nwrite {} x\n",
        go.display()
    ));
    let mut runner = env
        .car(&["once"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for("run dir", Duration::from_secs(10), || {
        env.path(".codex-autorunner/runs/1/output.log").exists()
    });
    let t = Instant::now();
    let mut follow = env
        .car(&["log", "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    follow
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(follow.wait().unwrap().success());
    assert!(t.elapsed() < Duration::from_secs(15));
    assert!(
        out.contains("early line") && out.contains("late line"),
        "{out}"
    );
    assert!(out.contains("car: run 1 end"), "{out}");
    assert!(runner.wait().unwrap().success());
}
