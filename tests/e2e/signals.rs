//! SIGINT, SIGTERM and SIGHUP: handled from car's first instant, an ignored
//! SIGHUP (`nohup`) stays ignored, and a third signal still records the stop.

use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{CAR, TestEnv, alive, read_pid};

fn signal(child: &Child, sig: Signal) {
    // The runner may already be gone; the assertions say what matters.
    let _ = kill(Pid::from_raw(child.id() as i32), sig);
}

/// `car` started through `sh -c '<prelude>; exec car ARGS'`, with the
/// environment and directory of `env.car(args)`: after `exec` the shell's
/// pid is car's.
fn car_after(env: &TestEnv, prelude: &str, args: &[&str]) -> Command {
    let base = env.car(args);
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("{prelude}; exec \"$0\" \"$@\""))
        .arg(CAR)
        .args(base.get_args())
        .env_clear()
        .current_dir(base.get_current_dir().unwrap_or(&env.root))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c
}

/// One field of `/proc/<pid>/status` (`SigBlk`, `SigIgn`, ...) as a mask.
fn status_mask(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

fn bit(sig: Signal) -> u64 {
    1 << (sig as i32 - 1)
}

#[test]
fn a_stop_signal_while_car_loads_its_config_exits_130_and_writes_nothing() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script("check-todo\n");
    env.run(&["once"]).expect_code(0);
    let state_before = env.read(".codex-autorunner/state.json");
    let events_before = env.read(".codex-autorunner/events.jsonl");
    // A FIFO as a config layer holds car inside config loading for as long
    // as the test keeps its write end open: the first instants of `car run`
    // (before the runtime, the lock and the loop), made as long as needed.
    let fifo = env.path("codex-autorunner.override.yml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for sig in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        let mut car = env
            .car(&["run"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Opening the write end succeeds only once car has opened the read
        // end; car then blocks reading it, inside `main`.
        let mut writer = None;
        env.wait_for("car to open its config", Duration::from_secs(10), || {
            writer = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&fifo)
                .ok();
            writer.is_some()
        });
        signal(&car, sig);
        let status = car.wait().unwrap();
        drop(writer);
        assert_eq!(
            status.code(),
            Some(130),
            "{sig}: car must exit 130, not die by the default action ({status})"
        );
        assert_eq!(
            env.read(".codex-autorunner/state.json"),
            state_before,
            "{sig}: the runner had not started: the state is untouched"
        );
        assert_eq!(
            env.read(".codex-autorunner/events.jsonl"),
            events_before,
            "{sig}: nothing is added to the ledger"
        );
    }
    std::fs::remove_file(&fifo).unwrap();
    env.run(&["status"]).expect_code(0);
}

#[test]
fn a_hangup_ignored_at_start_stays_ignored_and_the_loop_goes_on() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent_pid = env.root.join("agent.pid");
    let go = env.root.join("go");
    env.script(&format!(
        "write-pid {}\nwait-file {} 30\ncheck-todo\n",
        agent_pid.display(),
        go.display()
    ));
    // As `nohup car run &` starts it: SIGHUP ignored before car runs.
    let car = car_after(&env, "trap '' HUP", &["run", "--max-runs", "1"])
        .spawn()
        .unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent_pid.exists());
    let agent = read_pid(&agent_pid);
    let car_pid = car.id() as i32;
    assert_ne!(status_mask(car_pid, "SigIgn") & bit(Signal::SIGHUP), 0);
    assert_eq!(
        status_mask(agent, "SigBlk"),
        0,
        "the agent must not inherit the signals car blocks"
    );
    signal(&car, Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(car_pid), "car stopped on an ignored SIGHUP");
    assert!(alive(agent), "the agent was stopped on an ignored SIGHUP");
    std::fs::write(&go, "").unwrap();
    let out = car.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.state()["stop_reason"], "run_limit");
    assert_eq!(env.run_record(1)["outcome"], "ok");
}

#[test]
fn a_third_ctrl_c_records_the_stop_and_leaves_no_agent() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  kill_grace_seconds: 30\n");
    let agent_pid = env.root.join("agent.pid");
    let grandchild = env.root.join("grandchild.pid");
    let daemon = env.root.join("daemon.pid");
    // The agent ignores SIGTERM, and a daemon in a session of its own holds
    // the agent's output pipes (the run's supervisor ends it).
    env.script(&format!(
        "ignore-term\nspawn-grandchild {} 60\nsh setsid sleep 30 & echo $! > {}\nwrite-pid {}\nsleep 60\n",
        grandchild.display(),
        daemon.display(),
        agent_pid.display()
    ));
    let car = env
        .car(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent_pid.exists());
    let agent = read_pid(&agent_pid);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        signal(&car, Signal::SIGINT);
        std::thread::sleep(Duration::from_millis(150));
    }
    let out = car.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5), "{stderr}");
    let s = env.state();
    assert_eq!(s["status"], "killed", "{s}\n{stderr}");
    assert_eq!(s["stop_reason"], "interrupted");
    assert_eq!(s["runner_pid"], serde_json::Value::Null);
    let events = env.read(".codex-autorunner/events.jsonl");
    let last: serde_json::Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "stopped", "{events}");
    assert_eq!(last["reason"], "interrupted");
    env.wait_for("the agent to end", Duration::from_secs(3), || !alive(agent));
    assert!(!alive(read_pid(&grandchild)), "the grandchild survived");
    // The daemon in a session of its own is ended too (by the run's
    // supervisor), without a later car command.
    let daemon_pid = read_pid(&daemon);
    env.wait_for("the setsid daemon to end", Duration::from_secs(5), || {
        !alive(daemon_pid)
    });
    // The next runner starts cleanly after it.
    env.script("check-todo\n");
    std::fs::remove_file(format!("{}.count", env.script.display())).unwrap();
    env.run(&["resume", "--once"]).expect_code(0);
}

/// The loop is stuck because the run's supervisor does not act (frozen
/// with SIGSTOP): the second Ctrl-C's kill never reaches the agent and the
/// loop waits for it. The third records the stop and exits; the frozen
/// supervisor is then in an orphaned process group, which the kernel sends
/// SIGHUP and SIGCONT, and it ends the agent's whole tree.
#[test]
fn a_third_ctrl_c_ends_the_agent_even_when_its_supervisor_is_stuck() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  kill_grace_seconds: 30\n");
    let agent_pid = env.root.join("agent.pid");
    let daemon = env.root.join("daemon.pid");
    env.script(&format!(
        "ignore-term\nsh setsid sleep 60 & echo $! > {}\nwrite-pid {}\nsleep 60\n",
        daemon.display(),
        agent_pid.display()
    ));
    let car = env
        .car(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent_pid.exists());
    let agent = read_pid(&agent_pid);
    let daemon_pid = read_pid(&daemon);
    let supervisor = env.state()["agent_supervisor_pid"]
        .as_i64()
        .expect("a supervised run records its supervisor") as i32;
    let _ = kill(Pid::from_raw(supervisor), Signal::SIGSTOP);
    // Three signals, more if a loaded machine merged two of them (the loop
    // cannot end by itself: it waits for the frozen supervisor).
    let mut car = car;
    for _ in 0..20 {
        signal(&car, Signal::SIGINT);
        std::thread::sleep(Duration::from_millis(150));
        if car.try_wait().unwrap().is_some() {
            break;
        }
    }
    let out = car.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let agent_gone = (0..120).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        !alive(agent) && !alive(daemon_pid)
    });
    // Clean up whatever is left before asserting.
    for pid in [agent, daemon_pid, supervisor] {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = kill(Pid::from_raw(supervisor), Signal::SIGCONT);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("recorded the stop"), "{stderr}");
    assert_eq!(env.state()["stop_reason"], "interrupted");
    assert!(agent_gone, "the agent or its daemon outlived car\n{stderr}");
}

#[test]
fn a_sigterm_as_the_runner_starts_is_recorded_as_killed() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!("write-pid {}\nsleep 60\n", agent_pid.display()));
    let lock = env.path(".codex-autorunner/lock");
    let mut car = env
        .car(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The instant the run lock exists: the loop is starting, no agent yet
    // (or just one).
    while !lock.exists() {
        assert!(car.try_wait().unwrap().is_none(), "car ended early");
        std::thread::sleep(Duration::from_micros(200));
    }
    signal(&car, Signal::SIGTERM);
    let status = car.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    let s = env.state();
    assert_eq!(s["stop_reason"], "killed", "{s}");
    assert_eq!(s["runner_pid"], serde_json::Value::Null);
    let events = env.read(".codex-autorunner/events.jsonl");
    let last: serde_json::Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "stopped", "{events}");
    if agent_pid.exists() {
        assert!(!alive(read_pid(&agent_pid)), "the agent outlived the stop");
    }
}

/// `car run 2>&1 | tee log` and Ctrl-C: the terminal's SIGINT also ends
/// `tee`, so car's stderr is a closed pipe when it says what a signal does.
/// Later signals must still act (kill the agent now, exit car).
#[test]
fn signals_act_when_stderr_is_a_closed_pipe() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  kill_grace_seconds: 30\n");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!(
        "ignore-term\nwrite-pid {}\nsleep 60\n",
        agent_pid.display()
    ));
    let mut car = env
        .car(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads car's stderr any more: writes to it fail with EPIPE.
    drop(car.stderr.take());
    env.wait_for("the agent", Duration::from_secs(30), || agent_pid.exists());
    let agent = read_pid(&agent_pid);
    // A second signal kills the agent now (a third exits car): one every
    // 300 ms, so that two merged by a loaded machine still count.
    let started = std::time::Instant::now();
    let mut status = None;
    while status.is_none() && started.elapsed() < Duration::from_secs(10) {
        signal(&car, Signal::SIGINT);
        std::thread::sleep(Duration::from_millis(300));
        status = car.try_wait().unwrap();
    }
    if status.is_none() {
        let _ = car.kill();
        let _ = car.wait();
        let _ = kill(Pid::from_raw(agent), Signal::SIGKILL);
        panic!("car ignored every Ctrl-C after the first: it waits for the 30 s grace period");
    }
    // Reaped by try_wait already; wait returns the same status.
    let status = car.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    env.wait_for("the agent to end", Duration::from_secs(5), || !alive(agent));
    assert_eq!(env.state()["stop_reason"], "interrupted");
}
