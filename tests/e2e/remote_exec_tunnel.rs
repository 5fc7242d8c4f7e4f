//! The agent-facing `car remote exec` commands through a real SSH tunnel
//! (see netns.rs): a command started on the machine is followed with
//! `logs -f` while the tunnel's ssh is killed and re-opened by car, every
//! line arriving once and in order; a command that ignores SIGTERM is
//! cancelled with nothing of it left on the machine. The start-to-first-line
//! latency through the tunnel is printed.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Run, TestEnv, alive, read_pid};
use crate::netns::{RemoteHost, RemoteServe};
use crate::remote_exec::{contiguous_lines, follow_cmd, numbered, until_done};
use crate::remote_local::{Local, TOKEN, TOKEN_ENV, json, pid_of};

/// `car remote exec ARGS --machine gpu`: its exit code and its one JSON
/// object.
fn agent(local: &Local, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["remote", "exec"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--machine", "gpu"]);
    let run = Run(local.car(&all).output().unwrap());
    let out = run.stdout();
    assert_eq!(
        out.lines().count(),
        1,
        "one JSON line: {out:?} {}",
        run.stderr()
    );
    (run.code(), json(&out))
}

#[test]
fn logs_follow_a_command_through_a_tunnel_killed_mid_stream_with_no_gap_or_duplicate() {
    let Some(host) = RemoteHost::start("exec_tunnel") else {
        return;
    };
    let remote = TestEnv::new();
    let _serve = RemoteServe::start(&host, &remote, TOKEN_ENV, TOKEN);
    let local = Local::new(&host, "gpu");
    local.run(&["remote", "up", "gpu"]).expect_code(0);

    let t0 = Instant::now();
    let (code, started) = agent(
        &local,
        &[
            "start",
            "--cmd",
            "for i in $(seq 1 40); do echo \"line $i\"; sleep 0.1; done",
        ],
    );
    assert_eq!(code, 0, "{started}");
    let id = started["exec_id"].as_str().unwrap().to_string();
    let (_follower, rx) = follow_cmd(local.car(&[
        "remote",
        "exec",
        "logs",
        "--machine",
        "gpu",
        "--id",
        &id,
        "-f",
    ]));
    let (first_at, first) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    eprintln!(
        "remote exec through the SSH tunnel: start to first log line: {} ms",
        (first_at - t0).as_millis()
    );
    assert_eq!(first["line"], "line 1", "{first}");
    let mut got = vec![first];
    while got.len() < 8 {
        got.push(rx.recv_timeout(Duration::from_secs(20)).unwrap().1);
    }

    // The tunnel's ssh dies while the command goes on writing on the machine.
    let before = pid_of(&local.state("gpu").unwrap()["tunnel_pid"]);
    assert!(
        Command::new("kill")
            .args(["-9", &before.to_string()])
            .status()
            .unwrap()
            .success()
    );
    got.extend(until_done(&rx, Duration::from_secs(40)));
    let after = pid_of(&local.state("gpu").unwrap()["tunnel_pid"]);
    assert_ne!(after, before, "the tunnel was not re-opened");
    assert_eq!(contiguous_lines(&got, 0), numbered(40));
    let end = got.last().unwrap();
    assert_eq!(
        (&end["state"], &end["exit_code"]),
        (&"succeeded".into(), &0.into()),
        "{end}"
    );
    let (code, r) = agent(&local, &["result", "--id", &id]);
    assert_eq!((code, &r["state"]), (0, &"succeeded".into()), "{r}");
}

#[test]
fn cancel_through_the_tunnel_of_a_command_ignoring_sigterm_leaves_nothing_on_the_machine() {
    let Some(host) = RemoteHost::start("exec_cancel") else {
        return;
    };
    let remote = TestEnv::new();
    remote.config("runner:\n  kill_grace_seconds: 1\n");
    let _serve = RemoteServe::start(&host, &remote, TOKEN_ENV, TOKEN);
    let local = Local::new(&host, "gpu");
    let cmd = "trap '' TERM; echo $$ > sh.pid; sleep 600 & echo $! > sleep.pid; \
               setsid sh -c 'echo $$ > child.pid; exec sleep 600' & wait";
    // No tunnel yet: `--machine` opens one.
    let (code, started) = agent(&local, &["start", "--cmd", cmd]);
    assert_eq!(code, 0, "{started}");
    let id = started["exec_id"].as_str().unwrap().to_string();
    let files = ["sh.pid", "sleep.pid", "child.pid"];
    remote.wait_for("the command's processes", Duration::from_secs(20), || {
        files
            .iter()
            .all(|f| std::fs::read_to_string(remote.path(f)).is_ok_and(|t| t.ends_with('\n')))
    });
    let pids: Vec<i32> = files.iter().map(|f| read_pid(&remote.path(f))).collect();
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");

    let (code, c) = agent(&local, &["cancel", "--id", &id]);
    assert_eq!(code, 0, "{c}");
    assert_eq!(
        (&c["state"], &c["already_ended"]),
        (&"cancelled".into(), &false.into()),
        "{c}"
    );
    remote.wait_for(
        "nothing of the command left",
        Duration::from_secs(5),
        || pids.iter().all(|&p| !alive(p)),
    );
    let (_, r) = agent(&local, &["result", "--id", &id]);
    assert_eq!(
        (&r["state"], &r["done"]),
        (&"cancelled".into(), &true.into()),
        "{r}"
    );
}
