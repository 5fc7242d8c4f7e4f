//! `car --server URL` (and `CAR_SERVER`): the loop and task commands
//! against a `car serve` in a scratch repository, run from a directory
//! that is no repository, printing what the local commands print; the
//! errors a person meets (wrong token, no server, a local-only command);
//! and `events -f` across a restart of the server.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{Run, TestEnv};
use crate::remote_local::KillOnDrop;
use crate::serve_client::{Server, TOKEN, TOKEN_ENV, lines_of};

/// `car ARGS` talking to the server at `base` through `CAR_SERVER`, with
/// the token in `CAR_SERVER_TOKEN`, from outside the repository.
fn remote(env: &TestEnv, base: &str, args: &[&str]) -> Command {
    let mut c = env.car(args);
    c.current_dir(&env.home)
        .env("CAR_SERVER", base)
        .env("CAR_SERVER_TOKEN", TOKEN);
    c
}

fn run_remote(env: &TestEnv, base: &str, args: &[&str]) -> Run {
    Run(remote(env, base, args).output().unwrap())
}

/// A running `car` whose stdout lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
    got: Vec<String>,
}

impl Follower {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        Self {
            child,
            lines,
            got: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `until`; panics after `timeout`.
    fn read_until(&mut self, timeout: Duration, until: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = until(&line);
                    self.got.push(line);
                    if done {
                        return;
                    }
                }
                Err(_) => panic!("timed out; got {:#?}", self.got),
            }
        }
    }

    /// Reads lines until it has `n` in all, then any more that arrive
    /// within a moment (none should).
    fn read_count(&mut self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.got.len() < n {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.got.push(line),
                Err(_) => panic!("timed out; got {:#?}", self.got),
            }
        }
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.got.push(line);
        }
    }

    /// Ctrl-C: the follower ends with 130.
    fn interrupt(mut self) -> Vec<String> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(130));
        self.got
    }

    /// Waits for the end: the exit code and every line.
    fn finish(mut self, timeout: Duration) -> (i32, Vec<String>) {
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.got.push(line);
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.got)
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn the_loop_commands_round_trip_through_a_server_and_print_what_they_print_locally() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script(
        "out thinking\nout NEED_INPUT: Which database?\n---\nout on it\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n",
    );
    let server = Server::start(&env, &[]);
    let base = server.base.clone();

    let idle = run_remote(&env, &base, &["status", "--json"]);
    idle.expect_code(0);
    assert_eq!(idle.stdout(), env.run(&["status", "--json"]).stdout());

    // `events -f` follows the whole ledger from here on.
    let mut events = Follower::start(remote(&env, &base, &["events", "-f"]));

    // The loop runs on the server; car follows it to its stop.
    let ran = run_remote(&env, &base, &["run"]);
    ran.expect_code(3);
    let out = ran.stdout();
    for want in [
        "car: loop started",
        "run 1 started: TODO 0/1 done; next: a",
        "car: run 1 needs a person: Which database?",
        "car: stopped: needs_input",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
    // Status, log and events read the same here and on the server.
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["log"],
        &["log", "--tail", "1"],
        &["events"],
        &["events", "--json", "--since", "1"],
    ] {
        let far = run_remote(&env, &base, args);
        far.expect_code(0);
        assert_eq!(far.stdout(), env.run(args).stdout(), "car {args:?}");
    }
    assert!(
        run_remote(&env, &base, &["log"])
            .stdout()
            .contains("thinking")
    );

    let replied = run_remote(&env, &base, &["reply", "Postgres"]);
    replied.expect_code(0);
    assert_eq!(
        lines(&replied.stdout())[0],
        "car: answered run 1's question: Which database?"
    );
    // `run` returned once the runner let its lock go: resume may start.
    let resumed = run_remote(&env, &base, &["resume"]);
    resumed.expect_code(0);
    let out = resumed.stdout();
    assert!(
        out.starts_with("car: resuming after run 1 (last stop: needs_input)\n"),
        "{out}"
    );
    assert!(out.contains("car: stopped: completed"), "{out}");
    let prompt = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(prompt.contains("Postgres"), "{prompt}");

    // The follower printed the ledger as `car events` prints it, once.
    let local = lines(&env.run(&["events"]).stdout());
    events.read_count(local.len(), Duration::from_secs(120));
    let got = events.interrupt();
    assert_eq!(got, local);

    let killed = run_remote(&env, &base, &["kill"]);
    killed.expect_code(0);
    assert_eq!(killed.stdout(), "car: no runner is active\n");
}

#[test]
fn log_follows_a_run_on_the_server_and_stop_ends_the_loop_after_it() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("out one\nwait-file go 60\nout two\ncheck-todo\n");
    let server = Server::start(&env, &[]);
    let base = server.base.clone();
    let looped = Follower::start(remote(&env, &base, &["run"]));
    env.wait_for("run 1", Duration::from_secs(180), || env.agent_runs() == 1);
    let mut log = Follower::start(remote(&env, &base, &["log", "-f"]));
    log.read_until(Duration::from_secs(120), |l| l.contains("one"));

    // One runner at a time: a second start is refused, or fine with --if-idle.
    let busy = run_remote(&env, &base, &["once"]);
    busy.expect_code(1);
    assert!(
        busy.stderr()
            .contains("the server answered 409: a runner is active already"),
        "{}",
        busy.stderr()
    );
    assert!(busy.stderr().contains("hint:"), "{}", busy.stderr());
    let idle = run_remote(&env, &base, &["once", "--if-idle"]);
    idle.expect_code(0);
    assert!(
        idle.stdout()
            .starts_with("car: another runner is active here ("),
        "{}",
        idle.stdout()
    );

    let stop = run_remote(&env, &base, &["stop"]);
    stop.expect_code(0);
    assert_eq!(
        stop.stdout(),
        "car: stop requested; the runner stops after its current run (use `car kill` to stop now)\n"
    );
    std::fs::write(env.path("go"), "").unwrap();
    // `log -f` ends with the run, having printed all of its log.
    let (code, got) = log.finish(Duration::from_secs(180));
    assert_eq!(code, 0);
    assert_eq!(got, lines(&env.run(&["log", "--run", "1"]).stdout()));
    assert!(got.iter().any(|l| l.contains("two")), "{got:#?}");
    let (code, got) = looped.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{got:#?}");
    let last = got.last().map(String::as_str).unwrap_or_default();
    assert!(last.starts_with("car: stopped: stop_requested"), "{got:#?}");
    assert_eq!(env.agent_runs(), 1);
}

const THREAD: &str = r#"out {"type":"thread.started","thread_id":"th-9"}"#;
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;

#[test]
fn task_commands_run_on_the_server_and_logs_follow_a_turn_to_its_end() {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env.script(&format!(
        "{THREAD}\nerr warming up\nwait-file go 60\nout all done\n{DONE}\n---\n{DONE}\n"
    ));
    let server = Server::start(&env, &[]);
    let base = server.base.clone();
    let spawned = run_remote(&env, &base, &["task", "spawn", "do the thing"]);
    spawned.expect_code(0);
    let id = spawned.stdout().trim().to_string();
    let mut logs = Follower::start(remote(&env, &base, &["task", "logs", &id, "-f"]));
    logs.read_until(Duration::from_secs(120), |l| l.contains("warming up"));
    std::fs::write(env.path("go"), "").unwrap();
    let (code, got) = logs.finish(Duration::from_secs(180));
    assert_eq!(code, 0);
    assert_eq!(got, lines(&env.run(&["task", "logs", &id]).stdout()));
    assert!(got.iter().any(|l| l.contains("all done")), "{got:#?}");

    for args in [
        &["task", "status", &id, "--json"][..],
        &["task", "status", &id],
        &["task", "list"],
        &["task", "list", "--json"],
        &["task", "logs", &id],
    ] {
        let far = run_remote(&env, &base, args);
        far.expect_code(0);
        assert_eq!(far.stdout(), env.run(args).stdout(), "car {args:?}");
    }
    let replied = run_remote(&env, &base, &["task", "reply", &id, "more"]);
    replied.expect_code(0);
    assert_eq!(
        replied.stdout(),
        format!("car: task {id}: turn 2 started\n")
    );
    env.wait_for("turn 2's end", Duration::from_secs(120), || {
        let rec: serde_json::Value =
            serde_json::from_str(&env.run(&["task", "status", &id, "--json"]).stdout()).unwrap();
        rec["state"] == "succeeded" && rec["turns"].as_array().map(Vec::len) == Some(2)
    });
    let aborted = run_remote(&env, &base, &["task", "abort", &id]);
    aborted.expect_code(0);
    assert_eq!(
        aborted.stdout(),
        format!("car: task {id} had already ended (succeeded)\n")
    );
    let unknown = run_remote(&env, &base, &["task", "status", "nope"]);
    unknown.expect_code(2);
    assert!(unknown.stderr().contains("404"), "{}", unknown.stderr());
}

#[test]
fn a_wrong_token_no_server_and_local_only_commands_get_clear_errors() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let base = server.base.clone();

    run_remote(&env, &base, &["status"]).expect_code(0);
    let mut cmd = remote(&env, &base, &["status"]);
    cmd.env("CAR_SERVER_TOKEN", "not-it");
    let wrong_token = Run(cmd.output().unwrap());
    wrong_token.expect_code(2);
    let err = wrong_token.stderr();
    assert!(err.contains("the server answered 401"), "{err}");
    assert!(
        err.contains("the token in $CAR_SERVER_TOKEN is not the server's"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "{err}");
    let mut cmd = remote(&env, &base, &["status"]);
    cmd.env_remove("CAR_SERVER_TOKEN");
    let missing = Run(cmd.output().unwrap());
    missing.expect_code(2);
    assert!(
        missing.stderr().contains("set $CAR_SERVER_TOKEN"),
        "{}",
        missing.stderr()
    );
    // Another variable may hold it.
    let mut cmd = remote(&env, &base, &["status", "--server-token-env", "MY_TOKEN"]);
    cmd.env_remove("CAR_SERVER_TOKEN").env("MY_TOKEN", TOKEN);
    Run(cmd.output().unwrap()).expect_code(0);

    let unknown = run_remote(&env, &base, &["status", "--server-repo", "other"]);
    unknown.expect_code(2);
    assert!(
        unknown
            .stderr()
            .contains("the server serves no repository \"other\" (it serves repo)"),
        "{}",
        unknown.stderr()
    );

    // With --server, a command for a local repository is refused; with
    // CAR_SERVER it runs here.
    let doctor = run_remote(&env, &base, &["--server", &base, "doctor"]);
    doctor.expect_code(2);
    assert!(
        doctor
            .stderr()
            .contains("`car doctor` works on a local repository only"),
        "{}",
        doctor.stderr()
    );
    let mut cmd = remote(&env, &base, &["config", "show"]);
    cmd.current_dir(&env.root);
    Run(cmd.output().unwrap()).expect_code(0);
    let both = run_remote(&env, &base, &["--server", &base, "--repo", ".", "status"]);
    both.expect_code(2);

    // No server there any more.
    drop(server);
    let down = run_remote(&env, &base, &["status"]);
    down.expect_code(1);
    let err = down.stderr();
    assert!(err.contains("cannot reach the server at"), "{err}");
    assert!(err.contains("hint: is `car serve` running there?"), "{err}");
    let down = run_remote(&env, &base, &["events", "-f"]);
    down.expect_code(1);
    assert!(
        down.stderr().contains("cannot reach the server at"),
        "{}",
        down.stderr()
    );
}

/// `car serve --port PORT` in `env` (the tests' token configured): its
/// process, once it listens.
/// `car serve` on `port` (again), killed when dropped.
pub(crate) fn serve_on(env: &TestEnv, port: u16) -> KillOnDrop {
    let mut child = env
        .car(&["serve", "--port", &port.to_string()])
        .env(TOKEN_ENV, TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = lines_of(child.stdout.take().unwrap())
        .recv_timeout(Duration::from_secs(180))
        .unwrap();
    assert!(first.starts_with("car: listening on "), "{first}");
    KillOnDrop(child)
}

#[test]
fn events_follow_resumes_after_the_server_restarts_with_no_gap_and_no_duplicate() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("check-todo\n");
    let server = Server::start(&env, &[]);
    let (base, port) = (server.base.clone(), server.port);
    let mut events = Follower::start(remote(&env, &base, &["events", "-f", "--json"]));
    env.run(&["once"]).expect_code(0);
    events.read_until(Duration::from_secs(120), |l| l.contains("\"stopped\""));
    server.kill9();
    // Meanwhile the ledger grows: the follower must print it once it is back.
    env.run(&["once"]).expect_code(0);
    let again = serve_on(&env, port);
    events.read_until(Duration::from_secs(180), |l| {
        l.contains("\"stopped\"") && l.contains("\"run_id\":2")
    });
    env.run(&["once"]).expect_code(0);
    let local = lines(&env.run(&["events", "--json"]).stdout());
    events.read_count(local.len(), Duration::from_secs(120));
    let got = events.interrupt();
    drop(again);
    assert_eq!(got, local);
}
