//! The run lock survives the deletion of every ignored file under
//! `.codex-autorunner/` (`git clean -fdX`), and `car status` racing
//! `car resume` never records a crash for the live runner.

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{TestEnv, alive, git, read_pid};

fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    env.car(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn git_clean_under_a_live_runner_neither_lets_a_second_start_nor_hides_it() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    git(&env.root, &["add", "-A"]);
    git(&env.root, &["commit", "-qm", "init"]);
    // Outside the repo, so `git clean` leaves it.
    let agent_pid = env.script.with_extension("agent-pid");
    env.script(&format!("write-pid {}\nsleep 30\n", agent_pid.display()));
    let mut runner = spawn(&env, &["run"]);
    env.wait_for("the agent", Duration::from_secs(30), || agent_pid.exists());
    let agent = read_pid(&agent_pid);

    let cleaned = git(&env.root, &["clean", "-fdX"]);
    for f in ["lock", "state.json"] {
        assert!(
            cleaned.contains(&format!(".codex-autorunner/{f}")),
            "git clean did not remove {f}: {cleaned}"
        );
    }
    assert!(!env.path(".codex-autorunner/lock").exists());

    // (Should it start anyway, its own agent is stopped after a second.)
    let second = env.run(&["run", "-c", "codex.run_timeout_seconds=1"]);
    second.expect_code(1);
    assert!(
        second
            .stderr()
            .contains("another car runner is active in this repository"),
        "{}",
        second.stderr()
    );
    assert!(
        second.stderr().contains(&format!("pid {}", runner.id())),
        "the refusal names the live runner: {}",
        second.stderr()
    );
    assert!(alive(agent), "the live runner's agent was killed");
    assert_eq!(env.agent_runs(), 1, "a second agent was started");

    let status = env.run(&["status", "--json"]);
    status.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(report["running"], true, "{report}");
    assert_eq!(report["lock_holder"]["pid"], runner.id(), "{report}");
    assert!(alive(agent), "status killed the live runner's agent");

    // The holder writes its lock file again.
    env.wait_for("the lock file", Duration::from_secs(5), || {
        env.path(".codex-autorunner/lock").exists()
    });

    let kill = env.run(&["kill"]);
    kill.expect_code(0);
    assert!(
        kill.stdout().contains("stopped after SIGTERM"),
        "{}",
        kill.stdout()
    );
    assert_eq!(runner.wait().unwrap().code(), Some(130));
    assert!(!alive(agent), "the agent outlived the kill");
    assert_eq!(env.state()["stop_reason"], "killed");
    assert!(!env.path(".codex-autorunner/lock").exists());
}

/// A state left by a runner killed with SIGKILL: running, with a dead pid.
fn crash(env: &TestEnv) {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    env.write(
        ".codex-autorunner/state.json",
        &format!(
            r#"{{"status": "running", "runner_pid": {pid}, "runner_pid_start": 1, "last_run_id": 1, "loop_started_at": "2026-01-01T00:00:00Z"}}"#
        ),
    );
}

/// The race made certain: `car status` has examined the dead runner and
/// waits for the state lock, which is held while a new runner records
/// itself (as `car resume` does); then `car status` goes on.
#[test]
fn status_never_records_a_crash_for_a_runner_that_started_after_it_looked() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    crash(&env);
    let lock_path = env.path(".codex-autorunner/state.json.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    let held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let status = env
        .car(&["status"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waiting = format!(" {} ", status.id());
    env.wait_for(
        "car status to wait for the state lock",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string("/proc/locks")
                .unwrap()
                .lines()
                .any(|l| l.contains("-> FLOCK") && l.contains(&waiting))
        },
    );
    // The new runner: alive, recorded while status waits.
    let mut live = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    env.write(
        ".codex-autorunner/state.json",
        &format!(
            r#"{{"status": "running", "runner_pid": {}, "last_run_id": 1, "loop_started_at": "2026-01-01T00:00:09Z"}}"#,
            live.id()
        ),
    );
    drop(held);
    let out = status.wait_with_output().unwrap();
    assert!(out.status.success());
    let s = env.state();
    live.kill().unwrap();
    live.wait().unwrap();
    assert_eq!(s["status"], "running", "the live runner was marked: {s}");
    assert_eq!(s["runner_pid"], live.id(), "{s}");
    assert_eq!(s["stop_reason"], serde_json::Value::Null, "{s}");
}

#[test]
fn status_racing_resume_never_records_a_crash_for_the_live_runner() {
    let env = TestEnv::new();
    env.todo(&"- [ ] item\n".repeat(40));
    env.script("sleep 0.3\ncheck-todo\n");
    for trial in 0..8 {
        crash(&env);
        let stop = Arc::new(AtomicBool::new(false));
        let statuses: Vec<_> = (0..2)
            .map(|_| {
                let (stop, mut cmd) = (stop.clone(), env.car(&["status", "--json"]));
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        cmd.status().unwrap();
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        let mut resume = spawn(&env, &["resume", "--once"]);
        let me = resume.id();
        // Watch the state while the resumed runner lives: once it recorded
        // itself, nothing may mark the loop crashed.
        let state = env.path(".codex-autorunner/state.json");
        let mut seen_live = false;
        let mut bad = None;
        while resume.try_wait().unwrap().is_none() {
            if let Ok(text) = std::fs::read_to_string(&state)
                && let Ok(s) = serde_json::from_str::<serde_json::Value>(&text)
            {
                if s["runner_pid"] == me {
                    seen_live = true;
                } else if seen_live && s["stop_reason"] == "crashed" {
                    bad = Some(s);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        for t in statuses {
            t.join().unwrap();
        }
        assert!(
            bad.is_none(),
            "trial {trial}: the live runner {me} was recorded as crashed: {bad:?}"
        );
        let s = env.state();
        assert_eq!(s["stop_reason"], "run_limit", "trial {trial}: {s}");
    }
}
