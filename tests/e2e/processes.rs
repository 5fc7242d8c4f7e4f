//! No agent process outlives its run, whatever ends the run: processes the
//! agent started in sessions of their own, double forks, a SIGKILL of car at
//! any instant, the agent killing its own parent, three Ctrl-C, and
//! `car kill` of a frozen runner.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{TestEnv, alive, read_pid};

/// How long the agent's processes may outlive what ended the run.
const A_FEW_SECONDS: Duration = Duration::from_secs(5);

fn spawn_run(env: &TestEnv, args: &[&str]) -> Child {
    env.car(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// A script that leaves a daemon in a session of its own, a double-forked
/// daemon whose parent is gone, and a plain grandchild, then `rest`.
fn leave_processes_behind(env: &TestEnv, rest: &str) -> [std::path::PathBuf; 3] {
    let pids = ["setsid.pid", "double-fork.pid", "grandchild.pid"].map(|n| env.root.join(n));
    env.script(&format!(
        "spawn-setsid {} 60\ndouble-fork {} 60\nspawn-grandchild {} 60\n{rest}",
        pids[0].display(),
        pids[1].display(),
        pids[2].display(),
    ));
    pids
}

#[test]
fn setsid_daemons_and_double_forks_end_with_a_normal_run() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    let pids = leave_processes_behind(&env, "check-todo\n");
    env.run(&["once"]).expect_code(0);
    for p in &pids {
        assert!(!alive(read_pid(p)), "{} outlived the run", p.display());
    }
    env.expect_no_agent_process("after a normal run", Duration::ZERO);
    assert_eq!(env.run_record(1)["outcome"], "ok");
}

#[test]
fn a_run_timeout_ends_the_agents_daemons_too() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("codex:\n  run_timeout_seconds: 1\nrunner:\n  kill_grace_seconds: 1\n");
    leave_processes_behind(&env, "sleep 60\n");
    env.run(&["once"]).expect_code(1);
    assert_eq!(env.run_record(1)["outcome"], "timed_out");
    env.expect_no_agent_process("after a run timeout", Duration::ZERO);
}

#[test]
fn sigkill_of_car_mid_run_leaves_no_agent_process_and_status_shows_a_crash() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent = env.root.join("agent.pid");
    leave_processes_behind(&env, &format!("write-pid {}\nsleep 60\n", agent.display()));
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("the agent", Duration::from_secs(30), || agent.exists());
    // The supervisor is recorded before the agent runs: it is the agent's parent.
    let state = env.state();
    let supervisor = state["agent_supervisor_pid"].as_i64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", read_pid(&agent))).unwrap();
    let ppid: i64 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        ppid, supervisor,
        "the agent runs under the recorded supervisor"
    );
    assert!(state["agent_supervisor_start"].is_u64());

    signal(&runner, Signal::SIGKILL);
    runner.wait().unwrap();
    env.expect_no_agent_process("after car was killed with SIGKILL", A_FEW_SECONDS);
    let status = env.run(&["status"]);
    status.expect_code(0);
    assert!(
        status.stdout().contains("died without recording a stop"),
        "{}",
        status.stdout()
    );
    assert_eq!(env.state()["stop_reason"], "crashed");
}

#[test]
fn car_killed_right_after_starting_the_agent_leaves_nothing() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    // The agent's first action kills car (SIGKILL); then it tries to start
    // daemons and keep running.
    leave_processes_behind(&env, "sleep 60\n");
    let script = std::fs::read_to_string(&env.script).unwrap();
    env.script(&format!("kill-runner 9\n{script}"));
    let out = env.car(&["once"]).output().unwrap();
    assert_eq!(out.status.code(), None, "car was to die by SIGKILL");
    env.expect_no_agent_process("after car died right at the start", A_FEW_SECONDS);
    let status = env.run(&["status"]);
    assert!(
        status.stdout().contains("died without recording a stop"),
        "{}",
        status.stdout()
    );
    assert_eq!(env.state()["stop_reason"], "crashed");
    env.expect_no_agent_process("after car status", Duration::ZERO);
}

#[test]
fn an_agent_that_kills_its_parent_leaves_nothing_and_the_run_is_recorded() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    // The literal `kill -9 $PPID` first, then daemons and a long sleep.
    leave_processes_behind(&env, "sleep 60\n");
    let script = std::fs::read_to_string(&env.script).unwrap();
    env.script(&format!("kill-parent 9\n{script}"));
    let t = Instant::now();
    let r = env.run(&["once"]);
    r.expect_code(1);
    assert!(t.elapsed() < Duration::from_secs(30));
    env.expect_no_agent_process("after the agent killed its parent", A_FEW_SECONDS);
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "failed", "{rec}");
    assert_eq!(rec["signal"], 9, "{rec}");
    assert!(
        env.read(".codex-autorunner/runs/1/output.log")
            .contains("supervisor ended without a report"),
    );
}

#[test]
fn three_interrupts_leave_no_agent_process() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent = env.root.join("agent.pid");
    // A daemon holding the output pipes keeps the run from ending at once
    // after the second Ctrl-C: the third one comes while car still waits.
    let holder = env.root.join("holder.pid");
    leave_processes_behind(
        &env,
        &format!(
            "spawn-setsid-holding-pipes {} 60\nignore-term\nwrite-pid {}\nsleep 60\n",
            holder.display(),
            agent.display()
        ),
    );
    env.config("runner:\n  kill_grace_seconds: 30\n");
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("the agent", Duration::from_secs(30), || agent.exists());
    for _ in 0..3 {
        signal(&runner, Signal::SIGINT);
        std::thread::sleep(Duration::from_millis(150));
    }
    runner.wait().unwrap();
    env.expect_no_agent_process("after three Ctrl-C", A_FEW_SECONDS);
}

#[test]
fn force_kill_of_a_frozen_runner_leaves_nothing() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("runner:\n  kill_grace_seconds: 1\n");
    let agent = env.root.join("agent.pid");
    leave_processes_behind(&env, &format!("write-pid {}\nsleep 60\n", agent.display()));
    let mut runner = spawn_run(&env, &["run"]);
    env.wait_for("the agent", Duration::from_secs(30), || agent.exists());
    signal(&runner, Signal::SIGSTOP);
    let r = env.run(&["kill"]);
    r.expect_code(0);
    assert!(r.stdout().contains("SIGKILL"), "{}", r.stdout());
    runner.wait().unwrap();
    env.expect_no_agent_process("after car kill of a frozen runner", A_FEW_SECONDS);
    assert_eq!(env.state()["stop_reason"], "killed");
    // The runner could not write its `stopped`: `car kill` did, so a
    // follower of the ledger sees the loop end.
    let ledger = env.read(".codex-autorunner/events.jsonl");
    let last: serde_json::Value = serde_json::from_str(ledger.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "stopped", "{ledger}");
    assert_eq!(last["reason"], "killed", "{ledger}");
    assert_eq!(last["requested_by"], "cli", "{ledger}");
}

/// SIGKILL of car at random instants of a run (before, while and after it
/// starts the agent and its daemons); after each, within a few seconds and
/// at the latest after the next `car status`, nothing of the agent is left.
/// `CAR_KILL_TRIALS` sets the number of trials (default 8).
#[test]
fn sigkill_of_car_at_random_instants_leaves_nothing() {
    let trials: u64 = std::env::var("CAR_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    leave_processes_behind(&env, "sleep 60\n");
    let (mut left_after_seconds, mut left_after_status) = (0, 0);
    let mut slowest = Duration::ZERO;
    for _ in 0..trials {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = Duration::from_millis((seed >> 33) % 800);
        let mut runner = spawn_run(&env, &["once"]);
        std::thread::sleep(delay);
        signal(&runner, Signal::SIGKILL);
        runner.wait().unwrap();
        let start = Instant::now();
        while !env.agent_processes().is_empty() && start.elapsed() < A_FEW_SECONDS {
            std::thread::sleep(Duration::from_millis(10));
        }
        slowest = slowest.max(start.elapsed());
        if !env.agent_processes().is_empty() {
            left_after_seconds += 1;
        }
        env.run(&["status"]).expect_code(0);
        if !env.agent_processes().is_empty() {
            left_after_status += 1;
            for pid in env.agent_processes() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    eprintln!(
        "{trials} SIGKILL trials: {left_after_seconds} left a process alive {A_FEW_SECONDS:?} later, {left_after_status} after car status; slowest cleanup {slowest:?}"
    );
    assert_eq!(
        (left_after_seconds, left_after_status),
        (0, 0),
        "trials with a process alive a few seconds after the SIGKILL, and after car status"
    );
}

/// An upgrade renames a new binary over the running one: the runs after it
/// still start their supervisor from the binary the loop started with.
#[test]
fn replacing_the_car_binary_mid_loop_keeps_the_runs_supervised() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    let bin = env.home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let car = bin.join("car");
    if std::fs::hard_link(crate::common::CAR, &car).is_err() {
        std::fs::copy(crate::common::CAR, &car).unwrap();
    }
    let (started, go) = (env.root.join("started"), env.root.join("go"));
    env.script(&format!(
        "write {} yes\nwait-file {} 20\ncheck-todo\n---\ncheck-todo\n",
        started.display(),
        go.display()
    ));
    let mut runner = env
        .car_at(&car, &["run", "--max-runs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for("run 1", Duration::from_secs(10), || started.exists());
    let new = bin.join("car.new");
    std::fs::write(&new, "#!/bin/sh\nexit 97\n").unwrap();
    std::fs::rename(&new, &car).unwrap();
    std::fs::write(&go, "").unwrap();
    assert_eq!(runner.wait().unwrap().code(), Some(0));
    assert_eq!(env.run_record(2)["outcome"], "ok", "{}", env.run_record(2));
    assert_eq!(env.agent_runs(), 2);
}

/// `car __supervise` run by hand, as car runs it: control pipe on stdin.
fn spawn_supervisor(env: &TestEnv, wrapper: Option<&str>) -> (Child, std::path::PathBuf) {
    let prompt = env.root.join("prompt.md");
    let status = env.root.join("supervisor.json");
    std::fs::write(&prompt, "the prompt\n").unwrap();
    let args = [
        crate::common::CAR,
        "__supervise",
        "--stdin",
        prompt.to_str().unwrap(),
        "--status",
        status.to_str().unwrap(),
        "--",
        crate::common::FAKE_AGENT,
    ];
    let mut cmd = match wrapper {
        Some(w) => {
            let mut c = std::process::Command::new("sh");
            c.arg("-c")
                .arg(format!("{w}; exec \"$@\""))
                .arg("sh")
                .args(args);
            c
        }
        None => {
            let mut c = std::process::Command::new(args[0]);
            c.args(&args[1..]);
            c
        }
    };
    let child = cmd
        .current_dir(&env.root)
        .env("FAKE_AGENT_SCRIPT", &env.script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, status)
}

fn report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_supervisor_starts_nothing_before_go_and_ends_the_tree_when_car_goes() {
    let env = TestEnv::new();
    let agent = env.root.join("agent.pid");
    leave_processes_behind(&env, &format!("write-pid {}\nsleep 60\n", agent.display()));

    // car died before saying go: the agent never starts.
    let (mut sup, status) = spawn_supervisor(&env, None);
    drop(sup.stdin.take());
    assert_eq!(sup.wait().unwrap().code(), Some(125));
    assert_eq!(report(&status)["started"], false);
    assert_eq!(env.agent_runs(), 0);

    // Go, then car dies: the whole tree ends at once.
    let (mut sup, status) = spawn_supervisor(&env, None);
    let mut control = sup.stdin.take().unwrap();
    std::io::Write::write_all(&mut control, b"g").unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent.exists());
    drop(control);
    let t = Instant::now();
    assert_eq!(sup.wait().unwrap().code(), Some(128 + 9));
    assert!(t.elapsed() < A_FEW_SECONDS);
    let r = report(&status);
    assert_eq!(
        (r["started"].clone(), r["orphaned"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(r["signal"], 9);
    assert!(r["leftovers"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(env.agent_processes(), Vec::<i32>::new());
}

/// After `k` (kill now), what the agent left gets no grace period either.
#[test]
fn the_supervisor_kills_leftovers_at_once_after_a_kill_command() {
    let env = TestEnv::new();
    let agent = env.root.join("agent.pid");
    let daemon = env.root.join("daemon.pid");
    // Both ignore SIGTERM: only SIGKILL ends them.
    env.script(&format!(
        "ignore-term\nspawn-setsid {} 60\nwrite-pid {}\nsleep 60\n",
        daemon.display(),
        agent.display()
    ));
    let (mut sup, status) = spawn_supervisor(&env, None);
    let mut control = sup.stdin.take().unwrap();
    std::io::Write::write_all(&mut control, b"g").unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent.exists());
    let t = Instant::now();
    std::io::Write::write_all(&mut control, b"k").unwrap();
    assert_eq!(sup.wait().unwrap().code(), Some(128 + 9));
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "took {:?}: leftovers were given a grace period",
        t.elapsed()
    );
    drop(control);
    assert_eq!(report(&status)["orphaned"], false);
    assert!(!alive(read_pid(&daemon)));
}

#[test]
fn a_signal_ignored_when_car_started_stays_ignored_for_the_agent() {
    let env = TestEnv::new();
    let agent = env.root.join("agent.pid");
    env.script(&format!("write-pid {}\nsleep 60\n", agent.display()));
    let (mut sup, _) = spawn_supervisor(&env, Some("trap '' HUP INT"));
    let mut control = sup.stdin.take().unwrap();
    std::io::Write::write_all(&mut control, b"g").unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent.exists());
    let status = std::fs::read_to_string(format!("/proc/{}/status", read_pid(&agent))).unwrap();
    let ign = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    drop(control);
    sup.wait().unwrap();
    assert_eq!(ign & 0b11, 0b11, "SIGHUP and SIGINT stay ignored: {ign:x}");
}

/// Two loops in one process through the library, each agent under a
/// supervisor (this test's `car`): the end of one run ends what its agent
/// left running, and never the other loop's agent.
#[test]
fn two_supervised_loops_in_one_process_do_not_touch_each_other() {
    use car_core::{LoadOptions, Repo, RunOptions, StopCause, StopHandle, StopLevel};

    fn repo(env: &TestEnv, agent: &str) -> Repo {
        let opts = LoadOptions {
            env: Vec::new(),
            user_file: None,
            cli: vec![
                ("codex.binary".into(), "sh".into(), "test".into()),
                (
                    "codex.args".into(),
                    serde_json::to_string(&["-c", agent]).unwrap(),
                    "test".into(),
                ),
            ],
        };
        Repo::open_with(&env.root, &opts).unwrap()
    }
    let (a, b) = (TestEnv::new(), TestEnv::new());
    a.todo("- [ ] a\n");
    b.todo("- [ ] b\n");
    let (a_left, b_pid) = (a.root.join("left.pid"), b.root.join("agent.pid"));
    let repo_a = repo(
        &a,
        &format!(
            "setsid sleep 60 & echo $! > {}; sed -i 's/- \\[ \\]/- [x]/' .codex-autorunner/TODO.md",
            a_left.display()
        ),
    );
    let repo_b = repo(&b, &format!("echo $$ > {}; exec sleep 60", b_pid.display()));
    let opts = || {
        RunOptions::default()
            .max_runs(1)
            .supervisor(crate::common::CAR)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stop_a, stop_b) = (StopHandle::new(), StopHandle::new());
    let (out_b, (out_a, b_alive, left_alive)) = runtime.block_on(async {
        let run_b = repo_b.run(opts(), &stop_b, |_| {});
        let run_a = async {
            while !b_pid.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let out = repo_a.run(opts(), &stop_a, |_| {}).await;
            let b_alive = alive(read_pid(&b_pid));
            let left_alive = alive(read_pid(&a_left));
            stop_b.request(StopLevel::Graceful, StopCause::Killed);
            (out, b_alive, left_alive)
        };
        tokio::join!(run_b, run_a)
    });
    assert_eq!(out_a.unwrap().runs, 1);
    assert!(b_alive, "ending loop A's run must not touch loop B's agent");
    assert!(
        !left_alive,
        "what A's agent left in a session of its own ends with its run"
    );
    assert_eq!(out_b.unwrap().runs, 1);
    assert_eq!(b.run_record(1)["outcome"], "killed");
    assert_eq!(a.run_record(1)["outcome"], "ok");
    assert!(
        !alive(read_pid(&b_pid)),
        "loop B's agent ends with its stop"
    );
}

/// Every agent process carries `CAR_RUN=<repo id>:<run>:<car pid>:<car start>`.
#[test]
fn the_agent_carries_the_run_marker() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("env-out CAR_RUN\ncheck-todo\n");
    let car = env.car(&["once"]).stdout(Stdio::null()).spawn().unwrap();
    let car_pid = car.id();
    assert!(car.wait_with_output().unwrap().status.success());
    let log = env.read(".codex-autorunner/runs/1/output.log");
    let value = log
        .lines()
        .find_map(|l| l.split("stdout: CAR_RUN=").nth(1))
        .unwrap_or_else(|| panic!("no marker in the agent's environment:\n{log}"));
    let f: Vec<&str> = value.split(':').collect();
    assert_eq!(f.len(), 4, "{value}");
    assert!(
        f[0].len() == 16 && f[0].chars().all(|c| c.is_ascii_hexdigit()),
        "{value}"
    );
    assert_eq!(f[1], "1");
    assert_eq!(f[2], car_pid.to_string());
    assert!(f[3].parse::<u64>().unwrap() > 0, "{value}");
    // The same repository has the same id on the next run.
    env.run(&["once"]).expect_code(0);
    let log = env.read(".codex-autorunner/runs/2/output.log");
    assert!(
        log.contains(&format!("stdout: CAR_RUN={}:2:", f[0])),
        "{log}"
    );
}

/// The repository id in the run marker: FNV-1a 64 of the canonical root.
fn repo_id(root: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let canonical = std::fs::canonicalize(root).unwrap();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.as_os_str().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A runner whose own environment carries the marker of a run whose car is
/// gone (it was started from a shell an agent had opened, or by a unit whose
/// environment file captured the variable) is a live runner, not a stray:
/// `car status` kills neither it nor its agent.
#[test]
fn a_live_runner_that_inherited_a_stale_marker_is_never_swept() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let agent = env.root.join("agent.pid");
    env.script(&format!("write-pid {}\nsleep 60\n", agent.display()));
    // Owned by this test process, but with another start time: a dead owner.
    let stale = format!("{}:9:{}:1", repo_id(&env.root), std::process::id());
    let mut runner = env
        .car(&["run"])
        .env("CAR_RUN", &stale)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent.exists());
    let agent_pid = read_pid(&agent);
    env.run(&["status"]).expect_code(0);
    std::thread::sleep(Duration::from_millis(300));
    let runner_alive = runner.try_wait().unwrap().is_none();
    let agent_alive = alive(agent_pid);
    let _ = kill(Pid::from_raw(runner.id() as i32), Signal::SIGTERM);
    runner.wait().unwrap();
    assert!(runner_alive, "car status killed the live runner");
    assert!(agent_alive, "car status killed the live runner's agent");
    env.expect_no_agent_process("after the runner stopped", A_FEW_SECONDS);
}

/// `Repo::abandon` (what a third Ctrl-C runs) ends a supervised agent by
/// itself: the embedding program need not exit for the agent to go.
#[test]
fn abandoning_a_supervised_loop_ends_its_agent() {
    use car_core::{LoadOptions, Repo, RunOptions, StopCause, StopHandle, StopLevel};
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let pid_file = env.root.join("agent.pid");
    let agent_cmd = format!(
        "echo $$ > {}.tmp; mv {}.tmp {}; exec sleep 60",
        pid_file.display(),
        pid_file.display(),
        pid_file.display()
    );
    let opts = LoadOptions {
        env: Vec::new(),
        user_file: None,
        cli: vec![
            ("codex.binary".into(), "sh".into(), "test".into()),
            (
                "codex.args".into(),
                serde_json::to_string(&["-c", &agent_cmd]).unwrap(),
                "test".into(),
            ),
        ],
    };
    let repo = Repo::open_with(&env.root, &opts).unwrap();
    let stop = StopHandle::new();
    let runner = {
        let (repo, stop) = (repo.clone(), stop.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let opts = RunOptions::default()
                .max_runs(1)
                .supervisor(crate::common::CAR);
            runtime.block_on(repo.run(opts, &stop, |_| {})).is_ok()
        })
    };
    env.wait_for("the agent", Duration::from_secs(30), || pid_file.exists());
    let agent = read_pid(&pid_file);
    let done = repo.abandon(StopCause::Interrupted).unwrap();
    assert!(done.recorded);
    let start = Instant::now();
    while alive(agent) && start.elapsed() < A_FEW_SECONDS {
        std::thread::sleep(Duration::from_millis(20));
    }
    let gone = !alive(agent);
    // Let the loop go (and end the agent, if abandon did not).
    drop(done);
    stop.request(StopLevel::Immediate, StopCause::Interrupted);
    let _ = runner.join();
    assert!(gone, "the agent outlived abandon");
    assert_eq!(env.state()["stop_reason"], "interrupted");
}

/// A stray agent (its car process gone) is stopped by `car status` (a look
/// through every process), not by `Repo::quick_status`, which a server or a
/// hub calls often and which looks only when a runner died mid-loop.
#[test]
fn quick_status_leaves_the_process_sweep_to_car_status() {
    let env = TestEnv::new();
    // Owned by this test process, but with another start time: a dead owner.
    let stale = format!("{}:9:{}:1", repo_id(&env.root), std::process::id());
    let mut stray = std::process::Command::new("sleep")
        .arg("60")
        .env("CAR_RUN", &stale)
        .spawn()
        .unwrap();
    let repo = car_core::Repo::open(&env.root).unwrap();
    let report = repo.quick_status().unwrap();
    assert!(!report.running);
    assert!(report.reconciled.is_none(), "{:?}", report.reconciled);
    assert!(
        stray.try_wait().unwrap().is_none(),
        "quick_status swept the processes"
    );
    let out = env.run(&["status"]);
    out.expect_code(0);
    let ended = Instant::now();
    while stray.try_wait().unwrap().is_none() {
        assert!(
            ended.elapsed() < A_FEW_SECONDS,
            "car status left the stray running: {}",
            out.stdout()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
