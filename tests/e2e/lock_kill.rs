//! The run lock, `car kill`, stale locks and `car resume`.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive, read_pid};

fn spawn_run(env: &TestEnv, args: &[&str]) -> Child {
    env.car(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn kill_during_a_run_leaves_no_process_and_a_consistent_state() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent_pid = env.root.join("agent.pid");
    let grandchild = env.root.join("grandchild.pid");
    env.script(&format!(
        "write-pid {}\nspawn-grandchild {} 60\nout working\nsleep 60\n",
        agent_pid.display(),
        grandchild.display()
    ));
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("grandchild", Duration::from_secs(10), || {
        grandchild.exists()
    });
    let t = Instant::now();
    let r = env.run(&["kill"]);
    r.expect_code(0);
    assert!(
        r.stdout().contains("stopped after SIGTERM"),
        "{}",
        r.stdout()
    );
    assert_eq!(runner.wait().unwrap().code(), Some(130));
    assert!(t.elapsed() < Duration::from_secs(8));
    assert!(!alive(read_pid(&agent_pid)), "agent survived the kill");
    assert!(
        !alive(read_pid(&grandchild)),
        "grandchild survived the kill"
    );
    let s = env.state();
    assert_eq!(s["status"], "killed");
    assert_eq!(s["stop_reason"], "killed");
    assert_eq!(s["runner_pid"], serde_json::Value::Null);
    assert_ne!(s["last_run_finished_at"], serde_json::Value::Null);
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "killed");
    assert!(
        env.read(".codex-autorunner/runs/1/output.log")
            .contains("stdout: working")
    );
    assert!(
        !env.path(".codex-autorunner/lock").exists(),
        "the runner removes its lock"
    );
    // The next run works.
    env.script("check-todo\n");
    env.run(&["resume", "--once"]).expect_code(0);
    assert_eq!(env.state()["last_run_id"], 2);
}

#[test]
fn kill_escalates_to_sigkill_for_an_agent_ignoring_sigterm() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  kill_grace_seconds: 1\n");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!(
        "ignore-term\nwrite-pid {}\nsleep 60\n",
        agent_pid.display()
    ));
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("agent", Duration::from_secs(10), || agent_pid.exists());
    env.run(&["kill"]).expect_code(0);
    assert_eq!(runner.wait().unwrap().code(), Some(130));
    assert!(!alive(read_pid(&agent_pid)));
    let rec = env.run_record(1);
    assert_eq!(rec["killed_with_sigkill"], true);
    assert_eq!(rec["signal"], 9);
}

#[test]
fn kill_without_a_runner_says_so() {
    let env = TestEnv::new();
    let r = env.run(&["kill"]);
    r.expect_code(0);
    assert!(r.stdout().contains("no runner is active"), "{}", r.stdout());
}

#[test]
fn two_concurrent_once_exactly_one_runs_and_the_lock_survives() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let started = env.root.join("started");
    env.script(&format!(
        "write {} yes\nsleep 2\ncheck-todo\n",
        started.display()
    ));
    let mut first = spawn_run(&env, &["once"]);
    env.wait_for("first agent", Duration::from_secs(10), || started.exists());
    let t = Instant::now();
    let second = env.run(&["once"]);
    second.expect_code(1);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the loser must fail at once"
    );
    let err = second.stderr();
    assert!(
        err.contains("another car runner is active")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    assert!(
        env.path(".codex-autorunner/lock").exists(),
        "the loser must not delete the winner's lock"
    );
    let status = env.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["lock_holder"]["pid"], first.id());
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(env.agent_runs(), 1);
    assert_eq!(env.state()["last_run_id"], 1);
}

#[test]
fn a_stale_lock_from_a_sigkilled_runner_does_not_block() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!(
        "write-pid {}\nsleep 60\n---\ncheck-todo\n",
        agent_pid.display()
    ));
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("agent", Duration::from_secs(10), || agent_pid.exists());
    runner.kill().unwrap(); // SIGKILL: no chance to clean up
    runner.wait().unwrap();
    assert!(
        env.path(".codex-autorunner/lock").exists(),
        "the dead runner's lock file stays"
    );
    assert_eq!(env.state()["status"], "running");

    let status = env.run(&["status"]);
    status.expect_code(0);
    assert!(
        status.stdout().contains("died without recording a stop"),
        "{}",
        status.stdout()
    );
    assert_eq!(env.state()["stop_reason"], "crashed");
    assert!(
        !alive(read_pid(&agent_pid)),
        "status must kill the orphaned agent"
    );

    env.run(&["once"]).expect_code(0);
    assert_eq!(
        env.state()["last_run_id"],
        2,
        "numbering continues after the crashed run"
    );
}

#[test]
fn resume_clears_a_stop_request_and_continues_numbering() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("check-todo\n");
    env.run(&["once"]).expect_code(0);
    env.run(&["stop"]).expect_code(0);
    let r = env.run(&["resume", "--once"]);
    r.expect_code(0);
    assert!(
        r.stdout().contains("resuming after run 1"),
        "{}",
        r.stdout()
    );
    assert_eq!(env.state()["last_run_id"], 2);
    assert_eq!(env.agent_runs(), 2);
}

#[test]
fn a_hangup_stops_the_agent_and_records_the_run() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!("write-pid {}\nsleep 60\n", agent_pid.display()));
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("agent", Duration::from_secs(10), || agent_pid.exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(runner.id() as i32),
        nix::sys::signal::SIGHUP,
    )
    .unwrap();
    assert_eq!(runner.wait().unwrap().code(), Some(130));
    assert!(
        !alive(read_pid(&agent_pid)),
        "the agent must not outlive a closed terminal"
    );
    assert_eq!(env.state()["stop_reason"], "killed");
    assert_eq!(env.run_record(1)["outcome"], "killed");
}

#[test]
fn status_leaves_a_live_runner_alone_when_its_lock_file_was_deleted() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!(
        "write-pid {}\nsleep 3\ncheck-todo\n",
        agent_pid.display()
    ));
    let mut runner = spawn_run(&env, &["once"]);
    env.wait_for("agent", Duration::from_secs(10), || agent_pid.exists());
    std::fs::remove_file(env.path(".codex-autorunner/lock")).unwrap();
    env.run(&["status"]).expect_code(0);
    assert!(
        alive(read_pid(&agent_pid)),
        "status must not kill a live runner's agent"
    );
    assert_eq!(runner.wait().unwrap().code(), Some(0));
    assert_eq!(env.run_record(1)["outcome"], "ok");
}

#[test]
fn a_python_style_lock_naming_a_random_live_process_is_not_trusted() {
    let env = TestEnv::new();
    let mut bystander = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    env.write(
        ".codex-autorunner/lock",
        &format!(
            r#"{{"pid": {}, "started_at": "2026-01-01T00:00:00Z", "host": "{}"}}"#,
            bystander.id(),
            hostname()
        ),
    );
    let r = env.run(&["kill"]);
    r.expect_code(0);
    assert!(r.stdout().contains("no runner is active"), "{}", r.stdout());
    assert!(
        alive(bystander.id() as i32),
        "car kill must not signal an unrelated process"
    );
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

fn hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn processes_that_leave_the_agents_group_do_not_outlive_the_run() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    let after_exit = env.root.join("after-exit.pid");
    env.script(&format!(
        "spawn-detached {} 60\ncheck-todo\n",
        after_exit.display()
    ));
    env.run(&["once"]).expect_code(0);
    let pid = read_pid(&after_exit);
    env.wait_for(
        "the detached process to end",
        Duration::from_secs(5),
        || !alive(pid),
    );

    let during_kill = env.root.join("during-kill.pid");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!(
        "spawn-detached {} 60\nwrite-pid {}\nsleep 60\n",
        during_kill.display(),
        agent_pid.display()
    ));
    std::fs::remove_file(format!("{}.count", env.script.display())).unwrap();
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("agent", Duration::from_secs(10), || agent_pid.exists());
    env.run(&["kill"]).expect_code(0);
    assert_eq!(runner.wait().unwrap().code(), Some(130));
    let pid = read_pid(&during_kill);
    env.wait_for(
        "the detached process to end",
        Duration::from_secs(5),
        || !alive(pid),
    );
}
