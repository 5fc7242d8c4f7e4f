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
fn log_follow_streams_lines_as_they_arrive_until_the_run_ends() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let go = env.root.join("go");
    env.script(&format!(
        "out early line\nwait-file {} 20\nout late line\ncheck-todo\n",
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
    let mut reader = std::io::BufReader::new(follow.stdout.take().unwrap());
    // The early line must arrive while the agent is still waiting: output
    // is streamed, not written when the run ends.
    let mut seen = String::new();
    while !seen.contains("early line") {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0,
            "follow ended early: {seen}"
        );
        seen.push_str(&line);
    }
    assert!(!seen.contains("late line"));
    std::fs::write(&go, "x").unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(follow.wait().unwrap().success());
    assert!(t.elapsed() < Duration::from_secs(15));
    assert!(rest.contains("late line"), "{rest}");
    assert!(rest.contains("car: run 1 end"), "{rest}");
    assert!(runner.wait().unwrap().success());
}
