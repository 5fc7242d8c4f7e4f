//! The library as a front end uses it: a loop started by one process,
//! followed by another (car-core's `follow` example), and a loop process
//! started with `Repo::launch` that lives on its own.

use std::io::{BufRead, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use car_core::{LaunchReport, LoopCommand, Repo};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{CAR, TestEnv};

const FOLLOW_EXAMPLE: &str = env!("CARGO_BIN_EXE_follow-example");

/// The lines `read` gives, on a thread of their own.
fn lines_of(read: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The JSON of an `event <json>` line of the example.
fn event_of(line: &str) -> Option<serde_json::Value> {
    let json = line.strip_prefix("event ")?;
    Some(serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {line}")))
}

#[test]
fn the_follow_example_prints_a_loop_run_elsewhere_until_ctrl_c() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script(
        "out hello from the agent\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n",
    );
    // A loop before the example starts: its events and output are past.
    env.run(&["run", "--max-runs", "1"]).expect_code(0);
    let seen_before = env.run(&["events", "--json"]).stdout().lines().count() as u64;

    let mut follow = env
        .car_at(std::path::Path::new(FOLLOW_EXAMPLE), &[])
        .arg(&env.root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines_of(follow.stdout.take().unwrap());
    let err = lines_of(follow.stderr.take().unwrap());
    let ready = err.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(ready.starts_with("following "), "{ready}");

    env.run(&["run"]).expect_code(0);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !got
        .iter()
        .filter_map(|l: &String| event_of(l))
        .any(|e| e["type"] == "stopped")
        && Instant::now() < deadline
    {
        if let Ok(line) = out.recv_timeout(Duration::from_millis(100)) {
            got.push(line);
        }
    }
    // The output follower may deliver the last run's output after the stop.
    while let Ok(line) = out.recv_timeout(Duration::from_millis(500)) {
        got.push(line);
    }
    let text = got.join("\n");
    // Ctrl-C ends it, cleanly.
    kill(Pid::from_raw(follow.id() as i32), Signal::SIGINT).unwrap();
    let status = follow.wait().unwrap();
    assert!(status.success(), "{status:?}\n{text}");

    // The agent's output, as the log holds it, once per run of this loop (the
    // first loop's run is not printed again).
    assert_eq!(
        got.iter()
            .filter(|l| l.ends_with("] stdout: hello from the agent"))
            .count(),
        env.agent_runs() - 1,
        "{text}"
    );
    // Every event of this loop, in order, as the ledger holds it.
    let events: Vec<serde_json::Value> = got.iter().filter_map(|l| event_of(l)).collect();
    let ledger: Vec<serde_json::Value> = env
        .run(&["events", "--json"])
        .stdout()
        .lines()
        .skip(seen_before as usize)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events, ledger, "{text}");
    assert_eq!(events[0]["seq"], seen_before + 1, "{text}");
    assert!(events.iter().any(|e| e["type"] == "run_started"), "{text}");
}

/// The session id of process `pid` (field 6 of `/proc/<pid>/stat`).
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split(' ').nth(3)?.parse().ok()
}

#[test]
fn a_launched_loop_runs_in_a_session_of_its_own_and_is_followed_through_its_files() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    // The runner gets this process's environment, not the test's clean one:
    // the agent finds its script through codex.env.
    env.config(&format!(
        "codex:\n  env:\n    FAKE_AGENT_SCRIPT: {}\n",
        env.script.display()
    ));
    env.script("out launched\nsleep 1\ncheck-todo\n");
    let repo = Repo::open(&env.root).unwrap();
    let mut events = repo.follow_events(Some(0));

    let LaunchReport::Started { pid } = repo
        .launch(CAR, LoopCommand::Run { max_runs: Some(2) })
        .unwrap()
    else {
        panic!("nothing was running");
    };
    assert_eq!(session_of(pid), Some(pid), "the runner leads its session");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut types = Vec::new();
    rt.block_on(async {
        while types.last().map(String::as_str) != Some("stopped") {
            let e = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .unwrap_or_else(|_| panic!("no stop within 10 s: {types:?}"))
                .unwrap();
            types.push(e.event.kind().to_owned());
            if types.len() == 2 {
                // While it runs, a second launch starts nothing.
                assert_eq!(
                    repo.launch(CAR, LoopCommand::Once).unwrap(),
                    LaunchReport::AlreadyRunning { pid }
                );
            }
        }
    });
    assert_eq!(types.iter().filter(|t| *t == "run_started").count(), 2);
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [x] a\n- [x] b\n");
    assert_eq!(env.state()["stop_reason"], "run_limit", "{types:?}");
    let log = repo.output_log(2).unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("] stdout: launched\n"), "{log}");
}
