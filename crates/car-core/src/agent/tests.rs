//! Running real agent processes (`/bin/sh` scripts): output, limits,
//! stops, and what is left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::*;
use crate::process;
use crate::stop::{StopLevel, StopRequest};
use crate::supervisor::Launch;

fn sh(script: &str, dir: &Path) -> AgentCommand {
    AgentCommand {
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), script.into()],
        cwd: dir.to_path_buf(),
        env: None,
    }
}

fn direct(dir: &Path, run: &str) -> Launch {
    Launch {
        marker: crate::marker::RunMarker::new(dir, run),
        supervisor: None,
    }
}

fn limits() -> Limits {
    Limits {
        deadline: None,
        idle_timeout: None,
        grace: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn streams_both_pipes_and_passes_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("out.log");
    let mut log = OutputLog::open(&log_path).unwrap();
    let (_tx, rx) = watch::channel(StopRequest::default());
    let cmd = sh("cat; echo to-err >&2; printf 'no newline'", dir.path());
    let out = run(
        &cmd,
        &direct(dir.path(), "1"),
        b"hello prompt\n".to_vec(),
        &mut log,
        rx,
        limits(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.exit, ExitKind::Code(0));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("stdout: hello prompt\n"), "{text}");
    assert!(text.contains("stderr: to-err\n"), "{text}");
    assert!(text.contains("stdout: no newline\n"), "{text}");
    assert_eq!(out.stdout_tail, "hello prompt\nno newline");
}

#[tokio::test]
async fn deadline_terminates_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
    let (_tx, rx) = watch::channel(StopRequest::default());
    let cmd = sh("sleep 30 & sleep 30", dir.path());
    let lim = Limits {
        deadline: Some(Instant::now() + Duration::from_millis(200)),
        ..limits()
    };
    let t = Instant::now();
    let out = run(
        &cmd,
        &direct(dir.path(), "1"),
        Vec::new(),
        &mut log,
        rx,
        lim,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.cause, EndCause::TimedOut);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        !process::group_exists(out.pgid),
        "no process of the group may survive"
    );
}

#[tokio::test]
async fn sigterm_ignoring_agent_is_killed_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
    let (tx, rx) = watch::channel(StopRequest::default());
    let cmd = sh("trap '' TERM; echo ready; sleep 30", dir.path());
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(StopRequest {
            level: StopLevel::Graceful,
            cause: crate::stop::StopCause::Killed,
        })
        .unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(tx);
    });
    let out = run(
        &cmd,
        &direct(dir.path(), "1"),
        Vec::new(),
        &mut log,
        rx,
        limits(),
        |_| {},
    )
    .await
    .unwrap();
    task.abort();
    assert_eq!(out.cause, EndCause::Stopped);
    assert!(out.escalated, "SIGKILL must follow an ignored SIGTERM");
    assert!(!process::group_exists(out.pgid));
}

/// An agent that prints Codex's reconnect notice every 100 ms, forever.
const RECONNECTING: &str = r#"echo '{"type":"turn.started"}'; while :; do echo '{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}'; echo 'WARN codex: retrying' >&2; sleep 0.1; done"#;

#[tokio::test]
async fn retry_chatter_does_not_keep_a_codex_run_alive() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
    log.parse_codex_events(&dir.path().join("events.jsonl"))
        .unwrap();
    let (_tx, rx) = watch::channel(StopRequest::default());
    let lim = Limits {
        deadline: Some(Instant::now() + Duration::from_secs(10)),
        idle_timeout: Some(Duration::from_millis(800)),
        ..limits()
    };
    let out = run(
        &sh(RECONNECTING, dir.path()),
        &direct(dir.path(), "1"),
        Vec::new(),
        &mut log,
        rx,
        lim,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.cause, EndCause::Idle);
    assert!(out.duration < Duration::from_secs(5), "{:?}", out.duration);
    let codex = log.take_codex().unwrap();
    assert!(codex.retrying().is_some(), "{codex:?}");
}

#[tokio::test]
async fn any_output_keeps_a_plain_run_alive() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
    let (_tx, rx) = watch::channel(StopRequest::default());
    let lim = Limits {
        deadline: Some(Instant::now() + Duration::from_millis(1500)),
        idle_timeout: Some(Duration::from_millis(500)),
        ..limits()
    };
    let out = run(
        &sh(RECONNECTING, dir.path()),
        &direct(dir.path(), "1"),
        Vec::new(),
        &mut log,
        rx,
        lim,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.cause, EndCause::TimedOut, "plain mode counts bytes");
}

fn read_pid(p: &Path) -> u32 {
    std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
}

/// Two loops in one process (as a library embedder runs them): the end
/// of one agent's run stops what that agent left behind, and never the
/// other agent, which is also this process's child in a group of its own.
#[tokio::test]
async fn two_agents_in_one_process_do_not_touch_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let b_pid = dir.path().join("b.pid");
    let a_left = dir.path().join("a-left.pid");
    let cmd_b = sh(
        &format!("echo $$ > {}; exec sleep 30", b_pid.display()),
        &b_dir,
    );
    let cmd_a = sh(
        &format!("setsid sleep 30 & echo $! > {}", a_left.display()),
        &a_dir,
    );
    let (tx_b, rx_b) = watch::channel(StopRequest::default());
    let mut log_b = OutputLog::open(&dir.path().join("b.log")).unwrap();
    let mut log_a = OutputLog::open(&dir.path().join("a.log")).unwrap();
    let launch_b = direct(&b_dir, "1");
    let b = run(
        &cmd_b,
        &launch_b,
        Vec::new(),
        &mut log_b,
        rx_b,
        limits(),
        |_| {},
    );
    let a = async {
        while !b_pid.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (_tx_a, rx_a) = watch::channel(StopRequest::default());
        let out = run(
            &cmd_a,
            &direct(&a_dir, "1"),
            Vec::new(),
            &mut log_a,
            rx_a,
            limits(),
            |_| {},
        )
        .await
        .unwrap();
        let left = read_pid(&a_left);
        let b_alive = process::is_alive(read_pid(&b_pid));
        let left_alive = process::is_alive(left);
        tx_b.send(StopRequest {
            level: StopLevel::Graceful,
            cause: crate::stop::StopCause::Killed,
        })
        .unwrap();
        (out.exit, b_alive, left_alive)
    };
    let (b_out, (a_exit, b_alive, left_alive)) = tokio::join!(b, a);
    assert_eq!(a_exit, ExitKind::Code(0));
    assert!(b_alive, "ending agent A's run must not touch agent B");
    assert!(
        !left_alive,
        "what agent A left in a session of its own ends with its run"
    );
    assert_eq!(b_out.unwrap().cause, EndCause::Stopped);
}
