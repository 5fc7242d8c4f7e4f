//! End-to-end tests with the real Codex CLI (`@openai/codex`, installed by
//! `.ci/run`) against our scripted model server on 127.0.0.1.
//!
//! The codex binary comes from `CAR_TEST_CODEX`, else `codex` on PATH. When
//! neither exists the tests skip with a message, unless
//! `CAR_REQUIRE_REAL_CODEX=1` (set by CI), which makes them fail instead.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive};
use crate::model_server::{ModelServer, Reply};

/// Returns the codex binary, or None (skip) when it is not installed.
pub(crate) fn codex_binary() -> Option<PathBuf> {
    let found = std::env::var_os("CAR_TEST_CODEX")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join("codex"))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var("CAR_REQUIRE_REAL_CODEX").as_deref() != Ok("1"),
            "CAR_REQUIRE_REAL_CODEX=1 but no codex binary: set CAR_TEST_CODEX or install @openai/codex"
        );
        eprintln!(
            "skipping: the real Codex CLI is not installed (npm install @openai/codex, then set CAR_TEST_CODEX)"
        );
    }
    found
}

/// A repository run by car with the real codex talking to `server`.
pub(crate) struct RealEnv {
    pub(crate) env: TestEnv,
    home: PathBuf,
}

impl RealEnv {
    pub(crate) fn new(
        codex: &std::path::Path,
        server: &ModelServer,
        stream_idle_timeout_ms: u64,
    ) -> Self {
        let env = TestEnv::new();
        let home = server.codex_home(env.home.parent().unwrap(), stream_idle_timeout_ms);
        env.write(
            ".codex-autorunner/config.yml",
            &format!(
                "version: 2\nmode: repo\ncodex:\n  binary: {}\n  model: gpt-5.5\nrunner:\n  sleep_seconds: 0\n  kill_grace_seconds: 2\n",
                codex.display()
            ),
        );
        crate::common::git(&env.root, &["add", "-A"]);
        crate::common::git(&env.root, &["commit", "-qm", "init"]);
        Self { env, home }
    }

    fn car(&self, args: &[&str]) -> Command {
        let mut c = self.env.car(args);
        c.env("CODEX_HOME", &self.home)
            .env("MOCK_API_KEY", "test-key");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> crate::common::Run {
        crate::common::Run(self.car(args).output().unwrap())
    }
}

const CHECK_FIRST: &str = r"sed -i '0,/- \[ \]/s//- [x]/' .codex-autorunner/TODO.md";

#[test]
fn real_codex_two_runs_then_summary_completes() {
    let Some(codex) = codex_binary() else { return };
    let server = ModelServer::start(vec![
        Reply::command("c1", CHECK_FIRST),
        Reply::message("m1", "Checked the first item."),
        Reply::command("c2", CHECK_FIRST),
        Reply::message("m2", "Checked the second item."),
        Reply::command(
            "c3",
            "printf '# Summary\\n\\nBoth items are done.\\n' > .codex-autorunner/SUMMARY.md",
        ),
        Reply::message("m3", "Summary written."),
    ]);
    let r = RealEnv::new(&codex, &server, 5000);
    r.env.todo("# TODO\n\n- [ ] first\n- [ ] second\n");
    let out = r.run(&["run"]);
    out.expect_code(0);
    let s = r.env.state();
    assert_eq!(s["stop_reason"], "completed", "{s}");
    assert_eq!(s["last_run_id"], 3);
    assert_eq!(
        r.env.read(".codex-autorunner/TODO.md"),
        "# TODO\n\n- [x] first\n- [x] second\n"
    );
    assert!(
        r.env
            .read(".codex-autorunner/SUMMARY.md")
            .starts_with("# Summary\n\nBoth items are done.")
    );
    for id in 1..=3 {
        let rec = r.env.run_record(id);
        assert_eq!(rec["outcome"], "ok", "run {id}: {rec}");
        assert!(
            rec["codex"]["thread_id"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "run {id} has a thread id"
        );
        assert_eq!(
            rec["codex"]["commands"][0]["exit_code"], 0,
            "run {id}: {rec}"
        );
        assert!(
            rec["tokens"]["input"].as_u64().unwrap() >= 300,
            "run {id}: {rec}"
        );
    }
    assert_eq!(r.env.run_record(1)["final_output_source"], "last_message");
    assert_eq!(
        r.env.read(".codex-autorunner/runs/1/final_output.md"),
        "Checked the first item."
    );
    // The second run's prompt carries the first run's final message.
    let prompts = server.prompts();
    assert!(
        prompts
            .iter()
            .any(|p| p.contains("<PREV_RUN_OUTPUT>\nChecked the first item.\n</PREV_RUN_OUTPUT>"))
    );
    assert!(s["tokens"]["input"].as_u64().unwrap() >= 900);
    assert!(
        s["codex_version"]
            .as_str()
            .unwrap()
            .starts_with("codex-cli ")
    );
}

/// Seconds since the epoch of an RFC 3339 time, via date(1).
fn epoch_of(t: &str) -> i64 {
    let out = Command::new("date")
        .args(["-d", t, "+%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("cannot parse {t}"))
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn real_codex_usage_limit_waits_for_the_reset_then_continues() {
    let Some(codex) = codex_binary() else { return };
    let resets_at = now_epoch() + 120;
    let server = ModelServer::start(vec![
        Reply::usage_limit(resets_at),
        Reply::command("c1", CHECK_FIRST),
        Reply::message("m1", "Checked it after the reset."),
    ]);
    let r = RealEnv::new(&codex, &server, 5000);
    r.env.todo("- [ ] only\n");
    // The reset is two minutes ahead; cap the wait so the test is quick.
    r.env
        .config("runner:\n  max_consecutive_failures: 1\n  quota_wait_max_seconds: 3\n");
    let t = Instant::now();
    // The run redone after the wait does not count: one counted run.
    let out = r.run(&["run", "--max-runs", "1"]);
    out.expect_code(0);
    assert!(
        t.elapsed() >= Duration::from_secs(3),
        "car must wait for the reset"
    );
    let first = r.env.run_record(1);
    assert_eq!(first["error_class"], "usage_limit", "{first}");
    assert!(
        first["error"].as_str().unwrap().contains("try again at "),
        "{first}"
    );
    assert_eq!(r.env.run_record(2)["outcome"], "ok");
    assert_eq!(r.env.read(".codex-autorunner/TODO.md"), "- [x] only\n");
    // car read the reset time out of codex's "try again at 12:07 PM": the
    // end of that minute, never before the real reset, at most a minute after.
    let ledger = r.env.read(".codex-autorunner/events.jsonl");
    let wait = ledger
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "waiting_for_quota")
        .unwrap_or_else(|| panic!("no waiting_for_quota event: {ledger}"));
    let reset = epoch_of(wait["reset_at"].as_str().expect("a parsed reset time"));
    assert!(
        reset >= resets_at && reset <= resets_at + 60,
        "parsed reset {reset} vs real {resets_at}: {wait}"
    );
    assert_eq!(
        wait["wait_ms"], 3000,
        "capped by runner.quota_wait_max_seconds"
    );
}

#[test]
fn real_codex_billing_wall_stops_as_quota_exhausted() {
    let Some(codex) = codex_binary() else { return };
    let server = ModelServer::start(vec![Reply::Error {
        status: 429,
        body: serde_json::json!({"error": {"type": "insufficient_quota", "code": "insufficient_quota",
            "message": "You exceeded your current quota, please check your plan and billing details."}}),
    }]);
    let r = RealEnv::new(&codex, &server, 5000);
    r.env.todo("- [ ] only\n");
    let out = r.run(&["run"]);
    out.expect_code(1);
    let s = r.env.state();
    assert_eq!(
        s["stop_reason"],
        "quota_exhausted",
        "{s}\n{}",
        r.env.read(".codex-autorunner/runs/1/output.log")
    );
    let error = r.env.run_record(1)["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("Quota exceeded"),
        "codex's own billing message: {error}"
    );
    assert_eq!(server.requests().len(), 1, "a billing wall is not retried");
}

/// Pids of live processes whose working directory is `dir`.
fn processes_in(dir: &std::path::Path) -> Vec<i32> {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == dir) && alive(*pid)
        })
        .collect()
}

#[test]
fn real_codex_stalled_stream_trips_the_watchdog_and_no_codex_survives() {
    let Some(codex) = codex_binary() else { return };
    let server = ModelServer::start(vec![Reply::Stall]);
    // Codex's own stream timeout is longer than car's watchdog.
    let r = RealEnv::new(&codex, &server, 600_000);
    r.env.todo("- [ ] only\n");
    r.env
        .config("codex:\n  idle_timeout_seconds: 3\nrunner:\n  max_consecutive_failures: 1\n");
    let t = Instant::now();
    let out = r.run(&["run"]);
    out.expect_code(1);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    let rec = r.env.run_record(1);
    assert_eq!(rec["outcome"], "hung", "{rec}");
    assert_eq!(r.env.state()["stop_reason"], "failed");
    let left = processes_in(&r.env.root);
    assert!(left.is_empty(), "processes survived in the repo: {left:?}");
}

/// SIGKILL of car while the real Codex CLI waits on the model, after it ran
/// a command that left a process in a session of its own: within a few
/// seconds nothing Codex started is left (its run's supervisor sees car go),
/// and `car status` records the crash.
#[test]
fn real_codex_sigkill_of_car_leaves_no_codex_process() {
    let Some(codex) = codex_binary() else { return };
    let r0 = TestEnv::bare();
    let left = r0.root.join("left.pid");
    let server = ModelServer::start(vec![
        Reply::command(
            "c1",
            &format!(
                "setsid sleep 60 >/dev/null 2>&1 & echo $! > {}",
                left.display()
            ),
        ),
        Reply::Stall,
    ]);
    let r = RealEnv::new(&codex, &server, 600_000);
    r.env.todo("- [ ] only\n");
    let mut car = r
        .car(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    r.env
        .wait_for("the command's process", Duration::from_secs(30), || {
            std::fs::read_to_string(&left).is_ok_and(|t| t.ends_with('\n'))
        });
    let pid = crate::common::read_pid(&left);
    assert!(alive(pid));
    car.kill().unwrap();
    car.wait().unwrap();
    r.env.wait_for(
        "the command's process to end",
        Duration::from_secs(5),
        || !alive(pid),
    );
    r.env
        .expect_no_agent_process("after car was killed with SIGKILL", Duration::from_secs(5));
    let status = r.run(&["status"]);
    assert!(
        status.stdout().contains("died without recording a stop"),
        "{}",
        status.stdout()
    );
}

#[test]
fn real_codex_unreachable_model_ends_within_the_idle_timeout_retries_and_stops() {
    let Some(codex) = codex_binary() else { return };
    let server = ModelServer::start(Vec::new());
    let r = RealEnv::new(&codex, &server, 5000);
    // The model's address refuses connections (a closed loopback port), and
    // codex retries as it does by default: forever, printing "Reconnecting...
    // waiting for network" with a growing backoff.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = r.home.join("config.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("unbounded_connection_retries = false\n", "")
        .replace(
            &format!("127.0.0.1:{}/", server.port),
            &format!("127.0.0.1:{closed}/"),
        );
    std::fs::write(&config, text).unwrap();
    drop(server);
    r.env.todo("- [ ] only\n");
    r.env.config(
        "codex:\n  idle_timeout_seconds: 4\nrunner:\n  max_consecutive_failures: 1\n  transient_retries: 1\n  transient_backoff_seconds: 0.1\n",
    );
    let t = Instant::now();
    let out = r.run(&["run"]);
    out.expect_code(1);
    assert!(
        t.elapsed() < Duration::from_secs(45),
        "took {:?}",
        t.elapsed()
    );
    for id in 1..=2 {
        let rec = r.env.run_record(id);
        let log = r
            .env
            .read(&format!(".codex-autorunner/runs/{id}/output.log"));
        assert_eq!(rec["outcome"], "hung", "{rec}\n{log}");
        assert_eq!(rec["error_class"], "transient", "{rec}");
        let error = rec["error"].as_str().unwrap();
        assert!(
            error.contains("could not reach its model") && error.contains("Reconnecting..."),
            "{error}"
        );
        // The idle timeout (4 s) after codex's turn started, plus the 2 s grace.
        assert!(
            rec["duration_ms"].as_u64().unwrap() < 10_000,
            "run {id} must end within the idle timeout: {rec}"
        );
    }
    assert!(
        !r.env.path(".codex-autorunner/runs/3").exists(),
        "one retry, then the loop stops"
    );
    let s = r.env.state();
    assert_eq!(s["stop_reason"], "failed", "{s}");
    assert!(
        s["stop_detail"]
            .as_str()
            .unwrap()
            .contains("could not reach its model"),
        "{s}"
    );
    assert!(
        out.stdout().contains("could not reach its model")
            || out.stderr().contains("could not reach its model"),
        "the person is told why: {}\n{}",
        out.stdout(),
        out.stderr()
    );
    let left = processes_in(&r.env.root);
    assert!(left.is_empty(), "processes survived in the repo: {left:?}");
}

#[test]
fn real_codex_need_input_reply_resume_reaches_the_model() {
    let Some(codex) = codex_binary() else { return };
    let server = ModelServer::start(vec![Reply::message(
        "m1",
        "I set up the project.\nNEED_INPUT: Should the API use REST or gRPC?",
    )]);
    let r = RealEnv::new(&codex, &server, 5000);
    r.env.todo("- [ ] build the API\n");
    let out = r.run(&["run"]);
    out.expect_code(3);
    assert_eq!(
        r.env.state()["pending_question"]["question"],
        "Should the API use REST or gRPC?"
    );
    assert!(
        r.run(&["status"])
            .stdout()
            .contains("Should the API use REST or gRPC?")
    );

    r.run(&["reply", "Use gRPC with protobuf v3."])
        .expect_code(0);
    server.push(vec![
        Reply::command("c2", CHECK_FIRST),
        Reply::message("m2", "Built it with gRPC."),
    ]);
    r.run(&["resume", "--once"]).expect_code(0);
    let prompts = server.prompts();
    let resumed = prompts.last().unwrap();
    assert!(resumed.contains("<USER_REPLY>"), "{resumed}");
    assert!(
        resumed.contains(
            "Your question: Should the API use REST or gRPC?\nAnswer: Use gRPC with protobuf v3."
        ),
        "{resumed}"
    );
    assert_eq!(r.env.run_record(2)["outcome"], "ok");
    assert_eq!(
        r.env.read(".codex-autorunner/TODO.md"),
        "- [x] build the API\n"
    );
}

/// Prints the time car adds to a real-codex run: `car once` against the
/// same scripted two-request turn as `codex exec` alone, median of 5 each.
/// Run with `cargo test -p car-e2e --test e2e -- --ignored --nocapture overhead`.
#[test]
#[ignore = "a measurement, not a check; run it by hand"]
fn measure_car_overhead_over_codex_exec() {
    let Some(codex) = codex_binary() else { return };
    const N: usize = 5;
    let script = || vec![Reply::command("c", "true"), Reply::message("m", "done")];
    let server = ModelServer::start(Vec::new());
    let r = RealEnv::new(&codex, &server, 5000);
    r.env.todo("- [ ] a\n- [ ] b\n");
    r.env.config("runner:\n  no_progress_runs: 0\n");
    // Warm up both (page cache, codex's first start).
    server.push(script());
    r.run(&["once"]).expect_code(0);
    let mut alone = Vec::new();
    let mut with_car = Vec::new();
    for _ in 0..N {
        server.push(script());
        // The same prompt car sends, on stdin.
        let prompt = std::fs::read(r.env.path(".codex-autorunner/runs/1/prompt.md")).unwrap();
        let t = Instant::now();
        let mut child = Command::new(&codex)
            .args([
                "--yolo",
                "--model",
                "gpt-5.5",
                "exec",
                "--sandbox",
                "danger-full-access",
                "--json",
                "-",
            ])
            .current_dir(&r.env.root)
            // The environment car gives it (see TestEnv::car).
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &r.env.home)
            .env("CODEX_HOME", &r.home)
            .env("MOCK_API_KEY", "test-key")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &prompt).unwrap();
        let out = child.wait_with_output().unwrap();
        alone.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.push(script());
        let t = Instant::now();
        r.run(&["once"]).expect_code(0);
        with_car.push(t.elapsed());
    }
    alone.sort();
    with_car.sort();
    let (a, c) = (alone[N / 2], with_car[N / 2]);
    println!(
        "codex exec alone: median {:.1} ms; car once: median {:.1} ms; car adds {:.1} ms ({:.1}%)",
        a.as_secs_f64() * 1e3,
        c.as_secs_f64() * 1e3,
        (c.as_secs_f64() - a.as_secs_f64()) * 1e3,
        (c.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0
    );
}
