//! Liveness: the watchdog measures progress, not bytes. An agent stuck in
//! Codex's "Reconnecting... waiting for network" notices is stopped within
//! `codex.idle_timeout_seconds`, classified transient, retried, and the loop
//! then stops with a clear reason and a notification.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::fake_http::{Answer, FakeHttp};

const THREAD: &str = r#"out {"type":"thread.started","thread_id":"th-1"}"#;
const TURN: &str = r#"out {"type":"turn.started"}"#;
/// What codex 0.169 prints, with a growing backoff, when its model cannot be reached.
const RECONNECT: &str = r#"{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}"#;

fn ledger(env: &TestEnv) -> Vec<serde_json::Value> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn reconnect_notices_forever_trip_the_watchdog_retry_then_stop_with_a_reason() {
    let env = TestEnv::new();
    let hook = FakeHttp::start(vec![], Answer::ok("{}"));
    env.todo("- [ ] a\n");
    env.config(
        "codex:\n  args: [exec]\n  idle_timeout_seconds: 2\n\
         runner:\n  max_consecutive_failures: 1\n  kill_grace_seconds: 1\n  transient_retries: 1\n  transient_backoff_seconds: 0.1\n",
    );
    // Notices every 0.2 s: each one reset the old byte-based watchdog, so
    // the run never ended.
    env.script(&format!("{THREAD}\n{TURN}\nout-every 0.2 {RECONNECT}\n"));
    let t = Instant::now();
    let out = env
        .car(&["run"])
        .env("CAR_WEBHOOK_URL", format!("{}/hook", hook.url()))
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two runs (one retry), each ended by the 2 s watchdog plus the 1 s grace.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert_eq!(env.agent_runs(), 2, "the transient failure is retried once");
    for id in 1..=2 {
        let rec = env.run_record(id);
        assert_eq!(rec["outcome"], "hung", "{rec}");
        assert_eq!(rec["error_class"], "transient", "{rec}");
        let error = rec["error"].as_str().unwrap();
        assert!(
            error.contains("could not reach its model")
                && error.contains("Reconnecting... waiting for network")
                && error.contains("no progress for 2s (codex.idle_timeout_seconds)"),
            "{error}"
        );
        assert!(
            rec["duration_ms"].as_u64().unwrap() < 6000,
            "within the idle timeout (plus grace): {rec}"
        );
    }
    let events = ledger(&env);
    let retry = events
        .iter()
        .find(|e| e["type"] == "retry")
        .expect("a retry event");
    assert!(
        retry["reason"]
            .as_str()
            .unwrap()
            .contains("could not reach its model"),
        "{retry}"
    );
    let s = env.state();
    assert_eq!(s["stop_reason"], "failed", "{s}");
    let detail = s["stop_detail"].as_str().unwrap();
    assert!(
        detail.contains("could not reach its model")
            && detail.contains("runner.max_consecutive_failures"),
        "{detail}"
    );
    // The person hears of it: the hung run, and the loop's stop.
    let sent: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        sent.iter().any(|e| e == "hung") && sent.iter().any(|e| e == "failed"),
        "{sent:?}"
    );
}

#[test]
fn progress_events_keep_a_long_codex_run_alive() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("codex:\n  args: [exec]\n  idle_timeout_seconds: 1\n");
    // 3 s of work, an item every 0.4 s: longer than the idle timeout, never idle.
    let item = r#"out {"type":"item.completed","item":{"type":"agent_message","text":"working"}}"#;
    let mut script = format!("{THREAD}\n{TURN}\n");
    for _ in 0..8 {
        script.push_str(&format!("{item}\nsleep 0.4\n"));
    }
    script.push_str("check-todo\nout {\"type\":\"turn.completed\",\"usage\":{}}\n");
    env.script(&script);
    env.run(&["once"]).expect_code(0);
    assert_eq!(env.run_record(1)["outcome"], "ok");
}

#[test]
fn a_custom_agent_keeps_byte_based_activity() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config(
        "codex:\n  idle_timeout_seconds: 1\n  run_timeout_seconds: 3\nrunner:\n  max_consecutive_failures: 1\n  kill_grace_seconds: 1\n",
    );
    // Without `exec` in the args there are no Codex events: any output is
    // activity, even text that reads like a retry notice.
    env.script(&format!("out-every 0.2 {RECONNECT}\n"));
    env.run(&["run"]).expect_code(1);
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "timed_out", "not hung: {rec}");
}

#[test]
fn stderr_noise_is_not_progress_for_codex() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config(
        "codex:\n  args: [exec]\n  idle_timeout_seconds: 1\n  run_timeout_seconds: 20\nrunner:\n  max_consecutive_failures: 1\n  kill_grace_seconds: 1\n",
    );
    // Codex logs to stderr while it waits; only its events are progress.
    env.script(&format!(
        "{THREAD}\n{TURN}\nerr-every 0.2 WARN codex_core::client: retrying request\n"
    ));
    let t = Instant::now();
    env.run(&["run"]).expect_code(1);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "hung", "{rec}");
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains("no progress for 1s"),
        "{rec}"
    );
}

#[test]
fn a_codex_run_with_only_stderr_is_reported_as_no_progress_not_no_output() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config(
        "codex:\n  args: [exec]\n  idle_timeout_seconds: 1\n  run_timeout_seconds: 20\nrunner:\n  max_consecutive_failures: 1\n  kill_grace_seconds: 1\n",
    );
    // No event at all: the agent printed, on stderr, so "no output" would be false.
    env.script("err-every 0.2 still starting\n");
    env.run(&["run"]).expect_code(1);
    let rec = env.run_record(1);
    assert_eq!(rec["outcome"], "hung", "{rec}");
    let error = rec["error"].as_str().unwrap();
    assert!(
        error.contains("no progress (no event and no output on stdout) for 1s"),
        "{rec}"
    );
}
