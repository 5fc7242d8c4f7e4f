//! `car remote up|down` and `--machine` against a second host on this
//! machine (see netns.rs): a tunnel whose ssh is killed is re-opened by its
//! supervisor (the re-open time is printed), `down` leaves nothing; a loop
//! on the machine started with `car --machine M run` and followed with
//! `log -f` and `events -f`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Run, TestEnv, alive};
use crate::netns::{RemoteHost, RemoteServe};
use crate::remote_local::{KillOnDrop, Local, TOKEN, TOKEN_ENV, healthy, json, pid_of};
use crate::serve_client::lines_of;

#[test]
fn a_killed_tunnel_is_reopened_by_its_supervisor_and_down_leaves_nothing() {
    let Some(host) = RemoteHost::start("tunnel_reopen") else {
        return;
    };
    let remote = TestEnv::new();
    let _serve = RemoteServe::start(&host, &remote, TOKEN_ENV, TOKEN);
    let local = Local::new(&host, "box");

    // Two `up`s at once: one tunnel, the same URL for both.
    let spawn_up = || {
        local
            .car(&["remote", "up", "box"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn_up(), spawn_up());
    let (a, b) = (
        Run(a.wait_with_output().unwrap()),
        Run(b.wait_with_output().unwrap()),
    );
    a.expect_code(0);
    b.expect_code(0);
    assert_eq!(a.stdout(), b.stdout());
    let (up, other) = if a.stderr().starts_with('{') {
        (a, b)
    } else {
        (b, a)
    };
    assert!(other.stderr().contains("up already"), "{}", other.stderr());
    let url = up.stdout().trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
        "{url}"
    );
    // `up` prints the first tunnel event.
    let first = json(up.stderr().lines().next().unwrap());
    assert_eq!(first["event"], "open");
    assert_eq!(first["machine"], "box");
    assert_eq!(first["retry_count"], 0);
    assert!(first["health_latency_ms"].as_u64().is_some(), "{first}");
    let state = local.state("box").expect("a state file");
    assert_eq!(state["url"], url.as_str());
    assert_eq!(state["local_port"], first["local_port"]);
    assert_eq!(state["tunnel_pid"], first["tunnel_pid"]);
    assert_eq!(state["open"], true);
    let supervisor = pid_of(&state["supervisor_pid"]);
    let ssh1 = pid_of(&state["tunnel_pid"]);
    assert!(healthy(&url));

    // A second `up` reuses the tunnel.
    let again = local.run(&["remote", "up", "box"]);
    again.expect_code(0);
    assert_eq!(again.stdout().trim(), url);
    assert!(again.stderr().contains("up already"), "{}", again.stderr());
    assert_eq!(pid_of(&local.state("box").unwrap()["tunnel_pid"]), ssh1);

    // ssh killed: the supervisor opens it again on the same port.
    let killed = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-9", &ssh1.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut reopened = None;
    while killed.elapsed() < Duration::from_secs(20) {
        if let Some(st) = local.state("box")
            && st["open"] == true
            && st["tunnel_pid"].as_i64().is_some_and(|p| p as i32 != ssh1)
            && healthy(&url)
        {
            reopened = Some(killed.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let reopened = reopened.unwrap_or_else(|| panic!("not re-opened: {}", local.log("box")));
    eprintln!(
        "tunnel re-open time (ssh killed -> /health answers again): {} ms",
        reopened.as_millis()
    );
    let st = local.state("box").unwrap();
    assert_eq!(st["retry_count"], 1);
    assert_eq!(pid_of(&st["supervisor_pid"]), supervisor);
    let ssh2 = pid_of(&st["tunnel_pid"]);
    let events: Vec<serde_json::Value> = local
        .log("box")
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(json)
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["open", "dropped", "open"], "{events:#?}");
    for e in &events {
        for key in [
            "machine",
            "local_port",
            "tunnel_pid",
            "health_latency_ms",
            "retry_count",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
    }
    assert_eq!(events[2]["retry_count"], 1);
    assert_eq!(pid_of(&events[2]["tunnel_pid"]), ssh2);

    let list = json(&local.run(&["remote", "list", "--json"]).stdout());
    assert_eq!(list[0]["tunnel"]["url"], url.as_str());

    // `down`: nothing left running, no state.
    let down = local.run(&["remote", "down", "box"]);
    down.expect_code(0);
    assert_eq!(down.stdout(), "tunnel to box closed\n");
    assert!(!alive(supervisor), "the supervisor runs on");
    assert!(!alive(ssh2), "ssh runs on");
    assert!(local.state("box").is_none());
    assert!(!healthy(&url));
    assert!(
        local
            .log("box")
            .lines()
            .last()
            .unwrap()
            .contains(r#""event":"closed""#)
    );
    let again = local.run(&["remote", "down", "box"]);
    again.expect_code(0);
    assert_eq!(again.stdout(), "no tunnel to box\n");

    // A supervisor killed outright: its ssh is stopped by `down` (or the next `up`).
    local.run(&["remote", "up", "box"]).expect_code(0);
    let st = local.state("box").unwrap();
    let (supervisor, ssh) = (pid_of(&st["supervisor_pid"]), pid_of(&st["tunnel_pid"]));
    assert!(
        Command::new("kill")
            .args(["-9", &supervisor.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // (SIGKILL lands a moment after `kill` returns.)
    local
        .env
        .wait_for("the supervisor to die", Duration::from_secs(10), || {
            !alive(supervisor)
        });
    let list = json(&local.run(&["remote", "list", "--json"]).stdout());
    assert!(list[0]["tunnel"].is_null(), "{list}");
    assert!(alive(ssh));
    local.run(&["remote", "down", "box"]).expect_code(0);
    assert!(!alive(ssh), "the orphaned ssh runs on");
    assert!(local.state("box").is_none());
}

#[test]
fn a_loop_on_the_machine_is_started_and_followed_with_machine() {
    let Some(host) = RemoteHost::start("machine_loop") else {
        return;
    };
    let remote = TestEnv::new();
    remote.todo("- [ ] a\n");
    // Run 1 does the item, run 2 writes the final summary.
    remote.script(
        "out one\nwait-file go 60\nout two\ncheck-todo\n---\nwrite .codex-autorunner/SUMMARY.md all done\n",
    );
    let _serve = RemoteServe::start(&host, &remote, TOKEN_ENV, TOKEN);
    let local = Local::new(&host, "gpu");

    // No tunnel yet: `--machine` opens one.
    let mut run = local
        .car(&["--machine", "gpu", "run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run_out = lines_of(run.stdout.take().unwrap());
    let run = KillOnDrop(run);
    remote.wait_for("run 1", Duration::from_secs(60), || {
        remote.agent_runs() == 1
    });
    assert_eq!(local.state("gpu").unwrap()["open"], true);

    let status = local.run(&["--machine", "gpu", "status", "--json"]);
    status.expect_code(0);
    let s = json(&status.stdout());
    assert_eq!(
        (s["running"].clone(), s["state"]["status"].clone()),
        (true.into(), "running".into()),
        "{s}"
    );

    let mut log = local
        .car(&["--machine", "gpu", "log", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log_out = lines_of(log.stdout.take().unwrap());
    let mut log = KillOnDrop(log);
    let mut events = local
        .car(&["--machine", "gpu", "events", "-f", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let events_out = lines_of(events.stdout.take().unwrap());
    let events_err = lines_of(events.stderr.take().unwrap());
    let _events = KillOnDrop(events);
    let mut logged = Vec::new();
    while !logged.iter().any(|l: &String| l.contains("one")) {
        match log_out.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => logged.push(line),
            Err(_) => panic!("`log -f` printed no `one`: {logged:#?}"),
        }
    }
    // The tunnel drops mid-run: the followers reconnect through the re-opened
    // tunnel (same local port) and go on where they stopped.
    let before = pid_of(&local.state("gpu").unwrap()["tunnel_pid"]);
    assert!(
        Command::new("kill")
            .args(["-9", &before.to_string()])
            .status()
            .unwrap()
            .success()
    );
    remote.wait_for("the tunnel re-opened", Duration::from_secs(20), || {
        local.state("gpu").is_some_and(|st| {
            st["open"] == true
                && st["tunnel_pid"]
                    .as_i64()
                    .is_some_and(|p| p as i32 != before)
        })
    });
    std::fs::write(remote.path("go"), "").unwrap();
    // `log -f` ends with the run, having printed all of its log.
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Ok(line) = log_out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        logged.push(line);
    }
    let mut err = String::new();
    std::io::Read::read_to_string(log.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    let st = log.0.wait().unwrap();
    assert!(st.success(), "log -f: {st}: {err}");
    let whole = std::fs::read_to_string(remote.path(".codex-autorunner/runs/1/output.log"))
        .unwrap_or_default();
    assert!(logged.iter().any(|l| l.contains("two")), "{logged:#?}");
    for line in ["one", "two"] {
        assert_eq!(
            logged
                .iter()
                .filter(|l| l.ends_with(&format!("] stdout: {line}")))
                .count(),
            1,
            "{line} not once: {logged:#?}\n{whole}"
        );
    }

    let mut run = run;
    let code = run.0.wait().unwrap().code();
    let run_lines: Vec<String> = run_out.iter().collect();
    assert_eq!(code, Some(0), "{run_lines:#?}");
    assert!(
        run_lines.iter().any(|l| l.contains("completed")),
        "{run_lines:#?}"
    );
    // events -f saw the loop through to its end, each event once, across the drop.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|e: &serde_json::Value| e["type"] == "stopped")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = events_out.recv_timeout(left) else {
            let err: Vec<String> = events_err.try_iter().collect();
            panic!("no stopped event: {seen:#?}\nevents -f said: {err:#?}");
        };
        seen.push(json(&line));
    }
    let ledger: Vec<serde_json::Value> = remote
        .read(".codex-autorunner/events.jsonl")
        .lines()
        .map(json)
        .collect();
    assert_eq!(seen, ledger);

    let status = local.run(&["--machine", "gpu", "status", "--json"]);
    status.expect_code(0);
    assert_eq!(
        json(&status.stdout())["todo"]["done"],
        1,
        "{}",
        status.stdout()
    );
    assert_eq!(remote.agent_runs(), 2);

    // Local-only commands are refused before any tunnel work; a wrong token is named.
    let init = local.run(&["--machine", "gpu", "doctor"]);
    init.expect_code(2);
    assert!(
        init.stderr().contains("--machine serves status"),
        "{}",
        init.stderr()
    );
    let wrong = Run(local
        .car(&["--machine", "gpu", "status"])
        .env(TOKEN_ENV, "nope")
        .output()
        .unwrap());
    wrong.expect_code(2);
    assert!(
        wrong.stderr().contains(&format!("${TOKEN_ENV}")),
        "{}",
        wrong.stderr()
    );

    let both = local.run(&[
        "--machine",
        "gpu",
        "--server",
        "http://127.0.0.1:9/",
        "status",
    ]);
    both.expect_code(2);
    assert!(
        both.stderr()
            .contains("--machine names a remote server and --server"),
        "{}",
        both.stderr()
    );

    local.run(&["remote", "down", "gpu"]).expect_code(0);
}
