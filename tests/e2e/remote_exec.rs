//! `car remote exec start|result|logs|cancel` against a `car serve` in a
//! scratch repository, run from a directory that is no repository, as an
//! agent calls them: JSON on stdout, JSON lines for logs, errors as JSON;
//! `logs -f` across a dropped connection (a proxy standing in for the
//! tunnel) and across a server killed and started again; a cancel of a command that ignores SIGTERM; and `car --server
//! URL exec ...` printing what the local commands print.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Run, TestEnv, alive, read_pid};
use crate::remote_local::KillOnDrop;
use crate::serve_client::{Server, TOKEN, lines_of};
use crate::serve_remote_cli::serve_on;
use crate::tcp_proxy::Proxy;

/// `car --server URL ARGS` from outside the repository, with the token.
fn car_at(env: &TestEnv, url: &str, args: &[&str]) -> Command {
    let mut all = vec!["--server", url];
    all.extend_from_slice(args);
    let mut c = env.car(&all);
    c.current_dir(&env.home).env("CAR_SERVER_TOKEN", TOKEN);
    c
}

/// `car remote exec ARGS` against `url`: its exit code and the one JSON
/// object it printed.
fn agent(env: &TestEnv, url: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["remote", "exec"];
    all.extend_from_slice(args);
    let run = Run(car_at(env, url, &all).output().unwrap());
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {out:?} {}", run.stderr());
    let v = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {out}"));
    (run.code(), v)
}

fn start(env: &TestEnv, url: &str, cmd: &str) -> String {
    let (code, v) = agent(env, url, &["start", "--cmd", cmd]);
    assert_eq!(code, 0, "{v}");
    assert!(
        matches!(v["state"].as_str(), Some("queued" | "running")),
        "{v}"
    );
    v["exec_id"].as_str().unwrap().to_string()
}

/// `logs ARGS -f` running (killed when the guard is dropped): each JSON
/// line on a channel with when it came.
fn follow(
    env: &TestEnv,
    url: &str,
    id: &str,
    extra: &[&str],
) -> (KillOnDrop, mpsc::Receiver<(Instant, Value)>) {
    let mut args = vec!["remote", "exec", "logs", "--id", id, "-f"];
    args.extend_from_slice(extra);
    follow_cmd(car_at(env, url, &args))
}

/// `logs -f` as `cmd` runs it (killed when the guard is dropped): each
/// JSON line on a channel with when it came.
pub(crate) fn follow_cmd(mut cmd: Command) -> (KillOnDrop, mpsc::Receiver<(Instant, Value)>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines {
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if tx.send((Instant::now(), v)).is_err() {
                break;
            }
        }
    });
    (KillOnDrop(child), rx)
}

/// The JSON lines until the last (`done`), or a panic after `timeout`.
pub(crate) fn until_done(rx: &mpsc::Receiver<(Instant, Value)>, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((_, v)) => {
                let done = v.get("done").is_some();
                got.push(v);
                if done {
                    return got;
                }
            }
            Err(_) => panic!("timed out; got {got:#?}"),
        }
    }
}

/// The `line`s, asserting each starts where the one before ended.
pub(crate) fn contiguous_lines(got: &[Value], from: u64) -> Vec<String> {
    let mut at = from;
    let mut out = Vec::new();
    for v in got.iter().filter(|v| v.get("line").is_some()) {
        assert_eq!(
            v["offset"].as_u64(),
            Some(at),
            "a gap or a repeat: {got:#?}"
        );
        at = v["next"].as_u64().unwrap();
        out.push(v["line"].as_str().unwrap().to_string());
    }
    assert_eq!(got.last().unwrap()["next"].as_u64(), Some(at), "{got:#?}");
    out
}

pub(crate) fn numbered(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("line {i}")).collect()
}

#[test]
fn logs_follow_a_command_to_its_end_every_line_once_then_result_and_tail() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let url = &server.base;
    let t0 = Instant::now();
    let id = start(
        &env,
        url,
        "for i in $(seq 1 20); do echo \"line $i\"; sleep 0.1; done; printf 'oops\\nlast' >&2; exit 3",
    );
    let (_follower, rx) = follow(&env, url, &id, &[]);
    let (first_at, first) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let latency = first_at - t0;
    eprintln!(
        "remote exec: start to first log line: {} ms",
        latency.as_millis()
    );
    assert_eq!(first["line"], "line 1", "{first}");
    assert_eq!(first["stream"], "stdout");
    let mut got = vec![first];
    got.extend(until_done(&rx, Duration::from_secs(30)));
    assert_eq!(contiguous_lines(&got, 0), numbered(20));
    let end = got.last().unwrap();
    assert_eq!(
        (&end["done"], &end["state"], &end["exit_code"]),
        (&Value::Bool(true), &Value::from("failed"), &Value::from(3)),
        "{end}"
    );

    let (code, r) = agent(&env, url, &["result", "--id", &id]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["exec_id"], id.as_str());
    assert_eq!((&r["state"], &r["done"]), (&"failed".into(), &true.into()));
    assert_eq!((&r["exit_code"], &r["signal"]), (&3.into(), &Value::Null));
    let stdout_len: usize = numbered(20).iter().map(|l| l.len() + 1).sum();
    assert_eq!(r["stdout_bytes"].as_u64(), Some(stdout_len as u64), "{r}");
    assert_eq!(r["stderr_bytes"].as_u64(), Some(9), "{r}");
    for k in ["created_at", "started_at", "finished_at"] {
        assert!(r[k].is_string(), "{k}: {r}");
    }

    // Without -f: the stderr's last line without its newline is there
    // (the command is over), marked partial.
    let run = Run(car_at(
        &env,
        url,
        &[
            "remote", "exec", "logs", "--id", &id, "--stream", "stderr", "--tail", "1",
        ],
    )
    .output()
    .unwrap());
    run.expect_code(0);
    let lines: Vec<Value> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        (&lines[0]["line"], &lines[0]["offset"], &lines[0]["partial"]),
        (&"last".into(), &5.into(), &true.into())
    );
    assert_eq!(
        (&lines[1]["next"], &lines[1]["done"]),
        (&9.into(), &true.into())
    );
    // --offset goes on from a `next` printed before.
    let run = Run(car_at(
        &env,
        url,
        &[
            "remote",
            "exec",
            "logs",
            "--id",
            &id,
            "--offset",
            &got[17]["next"].to_string(),
        ],
    )
    .output()
    .unwrap());
    let lines: Vec<Value> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = lines.iter().filter_map(|v| v["line"].as_str()).collect();
    assert_eq!(texts, ["line 19", "line 20"], "{lines:#?}");
}

#[test]
fn logs_follow_resumes_after_a_dropped_tunnel_with_no_gap_and_no_duplicate() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let proxy = Proxy::start(server.port);
    let url = &proxy.url();
    let id = start(
        &env,
        url,
        "for i in $(seq 1 40); do echo \"line $i\"; sleep 0.1; done",
    );
    let (_follower, rx) = follow(&env, url, &id, &[]);
    let mut got = Vec::new();
    while got.len() < 8 {
        got.push(rx.recv_timeout(Duration::from_secs(20)).unwrap().1);
    }
    let before = proxy.forwarded();
    // The tunnel breaks for a second while the command goes on writing.
    proxy.down();
    std::thread::sleep(Duration::from_secs(1));
    proxy.up();
    got.extend(until_done(&rx, Duration::from_secs(30)));
    assert!(
        proxy.forwarded() > before,
        "no reconnection through the proxy"
    );
    assert_eq!(contiguous_lines(&got, 0), numbered(40));
    let end = got.last().unwrap();
    assert_eq!(
        (&end["state"], &end["exit_code"]),
        (&"succeeded".into(), &0.into())
    );
}

#[test]
fn logs_follow_resumes_after_the_server_is_killed_and_restarted_and_the_command_goes_on() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let (url, port) = (server.base.clone(), server.port);
    let id = start(
        &env,
        &url,
        "for i in $(seq 1 40); do echo \"line $i\"; sleep 0.1; done",
    );
    let (_follower, rx) = follow(&env, &url, &id, &[]);
    let mut got = Vec::new();
    while got.len() < 8 {
        got.push(rx.recv_timeout(Duration::from_secs(20)).unwrap().1);
    }
    // The server dies; the command is not its child and goes on.
    server.kill9();
    std::thread::sleep(Duration::from_millis(500));
    let again = serve_on(&env, port);
    got.extend(until_done(&rx, Duration::from_secs(30)));
    drop(again);
    assert_eq!(contiguous_lines(&got, 0), numbered(40));
    let end = got.last().unwrap();
    assert_eq!(
        (&end["state"], &end["exit_code"]),
        (&"succeeded".into(), &0.into())
    );
}

#[test]
fn cancel_of_a_command_ignoring_sigterm_leaves_nothing_running() {
    let env = TestEnv::new();
    env.config("runner:\n  kill_grace_seconds: 1\n");
    let server = Server::start(&env, &[]);
    let url = &server.base;
    let cmd = "trap '' TERM; echo $$ > sh.pid; sleep 600 & echo $! > sleep.pid; \
               setsid sh -c 'echo $$ > child.pid; exec sleep 600' & echo ready; wait";
    let id = start(&env, url, cmd);
    env.wait_for("the command's processes", Duration::from_secs(20), || {
        ["sh.pid", "sleep.pid", "child.pid"].iter().all(|f| {
            env.path(f).exists() && !std::fs::read_to_string(env.path(f)).unwrap().is_empty()
        })
    });
    let pids: Vec<i32> = ["sh.pid", "sleep.pid", "child.pid"]
        .iter()
        .map(|f| read_pid(&env.path(f)))
        .collect();
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");
    let (code, r) = agent(&env, url, &["result", "--id", &id]);
    assert_eq!(
        (code, &r["state"], &r["done"]),
        (0, &"running".into(), &false.into())
    );

    let (code, c) = agent(&env, url, &["cancel", "--id", &id]);
    assert_eq!(code, 0, "{c}");
    assert_eq!(
        (&c["state"], &c["already_ended"]),
        (&"cancelled".into(), &false.into())
    );
    env.wait_for(
        "nothing of the command left",
        Duration::from_secs(3),
        || pids.iter().all(|&p| !alive(p)),
    );
    let (code, again) = agent(&env, url, &["cancel", "--id", &id]);
    assert_eq!(code, 0);
    assert_eq!(
        (&again["state"], &again["already_ended"]),
        (&"cancelled".into(), &true.into())
    );
    let (_, r) = agent(&env, url, &["result", "--id", &id]);
    assert_eq!(
        (&r["state"], &r["done"]),
        (&"cancelled".into(), &true.into())
    );
}

#[test]
fn errors_are_one_json_object_on_stdout_with_a_non_zero_exit() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let (code, v) = agent(&env, &server.base, &["result", "--id", "x-nope"]);
    assert_eq!(
        (code, &v["error"]["code"], &v["error"]["status"]),
        (2, &"not_found".into(), &404.into()),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("x-nope"),
        "{v}"
    );
    let (code, v) = agent(&env, &server.base, &["logs", "--id", "x-nope", "-f"]);
    assert_eq!((code, &v["error"]["code"]), (2, &"not_found".into()), "{v}");

    // A wrong token.
    let mut c = car_at(
        &env,
        &server.base,
        &["remote", "exec", "start", "--cmd", "true"],
    );
    c.env("CAR_SERVER_TOKEN", "wrong");
    let run = Run(c.output().unwrap());
    let v: Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!(
        (run.code(), &v["error"]["code"]),
        (2, &"unauthorized".into()),
        "{v}"
    );
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("CAR_SERVER_TOKEN"),
        "{v}"
    );

    // No server there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let (code, v) = agent(
        &env,
        &format!("http://127.0.0.1:{port}"),
        &["result", "--id", "x-1"],
    );
    assert_eq!(
        (code, &v["error"]["code"]),
        (1, &"unreachable".into()),
        "{v}"
    );
    let (code, v) = agent(&env, "127.0.0.1:4173", &["result", "--id", "x-1"]);
    assert_eq!((code, &v["error"]["code"]), (2, &"bad_url".into()), "{v}");

    // A call with a flag missing: the mistake on stdout as JSON too.
    let (code, v) = agent(&env, &server.base, &["result"]);
    assert_eq!((code, &v["error"]["code"]), (2, &"usage".into()), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--id"),
        "{v}"
    );

    // No server named at all.
    let run = Run(env
        .car(&["remote", "exec", "result", "--id", "x-1"])
        .current_dir(&env.home)
        .output()
        .unwrap());
    let v: Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!(
        (run.code(), &v["error"]["code"]),
        (2, &"no_server".into()),
        "{v}"
    );
}

#[test]
fn server_flag_runs_the_exec_commands_on_the_server_printing_as_locally() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let url = &server.base;
    let run = Run(car_at(
        &env,
        url,
        &["exec", "start", "printf 'a\\nb\\n'; sleep 0.5; printf c"],
    )
    .output()
    .unwrap());
    run.expect_code(0);
    let id = run.stdout().trim().to_string();
    assert!(id.starts_with("x-"), "{id}");
    let run = Run(car_at(&env, url, &["exec", "logs", &id, "-f"])
        .output()
        .unwrap());
    run.expect_code(0);
    assert_eq!(run.stdout(), "a\nb\nc");
    let run = Run(car_at(&env, url, &["exec", "status", &id])
        .output()
        .unwrap());
    run.expect_code(0);
    assert!(
        run.stdout().contains("State:     succeeded"),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("Exit code: 0"), "{}", run.stdout());
    let run = Run(car_at(&env, url, &["exec", "list"]).output().unwrap());
    assert!(
        run.stdout().starts_with(&format!("{id}  succeeded  0")),
        "{}",
        run.stdout()
    );
    let run = Run(car_at(&env, url, &["exec", "cancel", &id])
        .output()
        .unwrap());
    assert_eq!(
        run.stdout().trim(),
        format!("car: command {id} had already ended (succeeded)")
    );
    let run = Run(car_at(&env, url, &["exec", "status", "x-nope"])
        .output()
        .unwrap());
    run.expect_code(2);
    assert!(run.stderr().contains("no command"), "{}", run.stderr());
}
