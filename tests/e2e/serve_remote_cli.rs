//! `car --server URL` (and `CAR_SERVER`): the loop and task commands
//! against a `car serve` in a scratch repository, run from a directory
//! that is no repository, printing what the local commands print; the
//! errors a person meets (wrong token, no server, a local-only command);
//! and `events -f` across a restart of the server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{Run, TestEnv};
use crate::serve_client::{REPO, Server, TOKEN, TOKEN_ENV, lines_of};

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
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
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
    env.wait_for("the runner's exit", Duration::from_secs(10), || {
        server.get(&format!("api/v1/repos/{REPO}")).json()["running"] == false
    });
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
    events.read_count(local.len(), Duration::from_secs(30));
    let got = events.interrupt();
    assert_eq!(got, local);

    let killed = run_remote(&env, &base, &["kill"]);
    killed.expect_code(0);
    assert_eq!(killed.stdout(), "car: no runner is active\n");
}
