//! `car events --follow` and `car log --follow` through the library's
//! followers: across ledger rotations, from a ledger not made yet, and to
//! the end of a finished run.

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::TestEnv;

/// Reads the child's stdout lines on a thread of their own.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn seqs(json_lines: &[String]) -> Vec<u64> {
    json_lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {l}"))
        })
        .collect()
}

#[test]
fn events_follow_sees_every_event_once_in_order_across_rotations() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n- [ ] d\n- [ ] e\n");
    env.config("events:\n  max_bytes: 600\n  keep: 50\n");
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md - the summary\n");
    let ledger = env.path(".codex-autorunner/events.jsonl");
    let _ = std::fs::remove_file(&ledger);
    // Started before the ledger exists.
    let mut follow = env
        .car(&["events", "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut follow);
    std::thread::sleep(Duration::from_millis(300));
    env.run(&["run"]).expect_code(0);
    assert!(
        env.path(".codex-autorunner/events.jsonl.2").exists(),
        "the ledger rotated more than once"
    );
    let all: Vec<String> = env
        .run(&["events", "--json"])
        .stdout()
        .lines()
        .map(str::to_owned)
        .collect();
    let want = seqs(&all);
    assert_eq!(
        want,
        (1..=want.len() as u64).collect::<Vec<_>>(),
        "seq counts from 1 without gaps across files"
    );
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < all.len() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            got.push(line);
        }
    }
    // Nothing more comes: no event twice.
    if let Ok(extra) = rx.recv_timeout(Duration::from_millis(500)) {
        got.push(extra);
    }
    follow.kill().unwrap();
    let _ = follow.wait();
    assert_eq!(got, all, "the follower printed what the ledger holds");
}

#[test]
fn events_follow_with_since_replays_then_follows() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("check-todo\n");
    env.run(&["run", "--max-runs", "1"]).expect_code(0);
    let mut follow = env
        .car(&["events", "--follow", "--since", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut follow);
    // Run 1's events are past and before RUN 2: none shows.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    env.run(&["run", "--max-runs", "1"]).expect_code(0);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !got.iter().any(|l: &String| l.contains(" stopped ")) && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            got.push(line);
        }
    }
    follow.kill().unwrap();
    let _ = follow.wait();
    let text = got.join("\n");
    // The loop's start has no run id and comes before run 2: not shown.
    assert!(got[0].contains(" run_started run=2 "), "{text}");
    assert!(got.last().unwrap().contains(" stopped run=2 "), "{text}");
    assert!(!text.contains("run=1"), "{text}");
}

#[test]
fn log_follow_of_a_finished_run_prints_it_all_and_ends() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script("out one\nout two\ncheck-todo\n");
    env.run(&["once"]).expect_code(0);
    let mut follow = env
        .car(&["log", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut follow);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = follow.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "log --follow of a finished run did not end"
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    assert!(status.success());
    let text: Vec<String> = rx.iter().collect();
    let text = text.join("\n") + "\n";
    assert_eq!(text, env.run(&["log"]).stdout());
    assert!(text.contains("stdout: two"), "{text}");
}
