//! Notifications to ntfy, Telegram, Discord and a webhook, against fake
//! endpoints on 127.0.0.1.

use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::fake_http::{Answer, FakeHttp};

const TG_TOKEN: &str = "123456:SECRET-telegram-token-value";
const NTFY_TOPIC: &str = "secret-topic-zq81";
const NTFY_TOKEN: &str = "tk_secretntfytoken123";

struct Env {
    env: TestEnv,
    vars: Vec<(&'static str, String)>,
}

impl Env {
    fn run(&self, args: &[&str]) -> crate::common::Run {
        let mut c = self.env.car(args);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        crate::common::Run(c.output().unwrap())
    }

    fn ledger(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.env.path(".codex-autorunner/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn deliveries(&self) -> Vec<serde_json::Value> {
        self.ledger()
            .into_iter()
            .filter(|e| e["type"] == "notification")
            .collect()
    }
}

fn with_ntfy(server: &FakeHttp) -> Env {
    let env = TestEnv::new();
    env.config(&format!(
        "notifications:\n  ntfy:\n    server: {}\n",
        server.url()
    ));
    Env {
        env,
        vars: vec![
            ("CAR_NTFY_TOPIC", NTFY_TOPIC.into()),
            ("CAR_NTFY_TOKEN", NTFY_TOKEN.into()),
        ],
    }
}

#[test]
fn needs_input_sends_exactly_one_urgent_ntfy_message_within_a_second() {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"msg-1"}"#));
    let e = with_ntfy(&ntfy);
    e.env.todo("- [ ] a\n");
    e.env
        .script("out I need a decision.\nout NEED_INPUT: Deploy to staging or production?\n");
    e.run(&["run"]).expect_code(3);
    let reqs = ntfy.wait_for(1);
    std::thread::sleep(Duration::from_millis(300));
    let reqs2 = ntfy.requests();
    assert_eq!(reqs2.len(), 1, "exactly one message: {reqs2:?}");
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/{NTFY_TOPIC}"));
    assert_eq!(r.header("Priority"), Some("5"));
    assert!(r.header("Title").unwrap().contains("needs you"), "{r:?}");
    assert_eq!(
        r.header("Authorization"),
        Some(format!("Bearer {NTFY_TOKEN}").as_str())
    );
    assert!(
        r.body
            .contains("Question: Deploy to staging or production?"),
        "{}",
        r.body
    );
    // Within one second of the question being recorded.
    let ledger = e.ledger();
    let asked = ledger.iter().find(|v| v["type"] == "needs_input").unwrap();
    let sent = ledger.iter().find(|v| v["type"] == "notification").unwrap();
    let ms = |v: &serde_json::Value| chrono_ms(v["ts"].as_str().unwrap());
    assert!(ms(sent) - ms(asked) < 1000, "{asked} -> {sent}");
    assert_eq!(sent["ok"], true);
    assert_eq!(sent["message_id"], "msg-1");
    assert_eq!(sent["provider"], "ntfy");
}

/// Milliseconds of an RFC 3339 UTC time of the ledger (`2026-11-21T11:41:17.301Z`).
pub(crate) fn chrono_ms(ts: &str) -> i64 {
    let t = ts.trim_end_matches('Z');
    let (date, time) = t.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    ((d[2] * 24 + h[0]) * 3600 + h[1] * 60 + h[2]) * 1000 + frac.parse::<i64>().unwrap_or(0)
}

#[test]
fn each_event_reaches_each_provider_in_its_format() {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"n1"}"#));
    let tg = FakeHttp::start(
        vec![],
        Answer::ok(r#"{"ok":true,"result":{"message_id":42}}"#),
    );
    let discord = FakeHttp::start(vec![], Answer::ok(r#"{"id":"d1"}"#));
    let hook = FakeHttp::start(vec![], Answer::ok("{}"));
    let env = TestEnv::new();
    env.config(&format!(
        "server:\n  public_url: https://car.example.com\nnotifications:\n  ntfy:\n    server: {}\n  telegram:\n    api_base: {}\n    thread_id: 77\n",
        ntfy.url(),
        tg.url()
    ));
    let e = Env {
        env,
        vars: vec![
            ("CAR_NTFY_TOPIC", NTFY_TOPIC.into()),
            ("CAR_TELEGRAM_BOT_TOKEN", TG_TOKEN.into()),
            ("CAR_TELEGRAM_CHAT_ID", "-1001".into()),
            (
                "CAR_DISCORD_WEBHOOK_URL",
                format!("{}/api/webhooks/1/abc", discord.url()),
            ),
            ("CAR_WEBHOOK_URL", format!("{}/hook", hook.url())),
        ],
    };
    e.env.todo("- [ ] a\n");
    e.env.config("runner:\n  max_consecutive_failures: 1\n");
    e.env.script("err something broke\nexit 3\n");
    e.run(&["run"]).expect_code(1);

    let n = &ntfy.wait_for(1)[0];
    assert_eq!(
        n.header("Priority"),
        Some("4"),
        "failures are high priority"
    );
    assert!(n.header("Title").unwrap().contains("failed"));
    assert_eq!(n.header("Tags"), Some("x"));
    assert_eq!(
        n.header("Click"),
        Some("https://car.example.com/repos/repo/runs/1")
    );
    assert!(
        n.body.contains("Repo: repo") && n.body.contains("Run: 1") && n.body.contains("exit 3"),
        "{}",
        n.body
    );
    assert!(n.body.contains("Loop running for:"), "{}", n.body);

    let t = &tg.wait_for(1)[0];
    assert_eq!(t.path, format!("/bot{TG_TOKEN}/sendMessage"));
    let j = t.json();
    assert_eq!(j["chat_id"], "-1001");
    assert_eq!(j["message_thread_id"], 77);
    assert_eq!(j["disable_notification"], false);
    assert!(j["text"].as_str().unwrap().contains("failed"));

    let d = &discord.wait_for(1)[0];
    assert_eq!(d.path, "/api/webhooks/1/abc?wait=true");
    assert!(d.json()["content"].as_str().unwrap().contains("failed"));

    let h = &hook.wait_for(1)[0];
    assert_eq!(h.json()["event"], "failed");
    assert_eq!(h.json()["priority"], 4);
    assert_eq!(h.json()["run_id"], 1);

    let ids: Vec<String> = e
        .deliveries()
        .iter()
        .map(|d| format!("{}={}", d["provider"], d["message_id"]))
        .collect();
    for want in [
        "\"ntfy\"=\"n1\"",
        "\"telegram\"=\"42\"",
        "\"discord\"=\"d1\"",
    ] {
        assert!(ids.contains(&want.to_string()), "{want} not in {ids:?}");
    }
}

#[test]
fn completion_carries_the_summary_and_a_second_failure_is_throttled() {
    let ntfy = FakeHttp::start(vec![], Answer::ok("{}"));
    let e = with_ntfy(&ntfy);
    e.env.todo("- [ ] a\n");
    e.env
        .script("check-todo\n---\nwrite .codex-autorunner/SUMMARY.md # Summary\n");
    e.run(&["run"]).expect_code(0);
    let r = &ntfy.wait_for(1)[0];
    assert_eq!(r.header("Priority"), Some("3"));
    assert!(r.header("Title").unwrap().contains("completed"));
    assert!(r.body.contains("Summary:\n# Summary"), "{}", r.body);

    // Two failed loops in a row: the second, within throttle_seconds, is not sent again.
    let ntfy = FakeHttp::start(vec![], Answer::ok("{}"));
    let e = with_ntfy(&ntfy);
    e.env.todo("- [ ] a\n");
    e.env.config("runner:\n  max_consecutive_failures: 1\n");
    e.env.script("exit 2\n");
    e.run(&["run"]).expect_code(1);
    e.run(&["run"]).expect_code(1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        ntfy.requests().len(),
        1,
        "the same class within 600 s is sent once"
    );
}

#[test]
fn an_unanswered_question_is_escalated_by_the_next_invocation() {
    let ntfy = FakeHttp::start(vec![], Answer::ok("{}"));
    let e = with_ntfy(&ntfy);
    e.env
        .config("notifications:\n  escalate_after_seconds: 1\n");
    e.env.todo("- [ ] a\n");
    e.env.script("out NEED_INPUT: Which region?\n");
    e.run(&["run"]).expect_code(3);
    std::thread::sleep(Duration::from_millis(1200));
    // A scheduler's next start: the question is still open.
    e.run(&["run", "--if-idle", "--quiet"]).expect_code(3);
    let reqs = ntfy.wait_for(2);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(reqs[1].header("Title").unwrap().contains("STILL waiting"));
    assert_eq!(reqs[1].header("Priority"), Some("5"));
    e.run(&["run", "--if-idle", "--quiet"]).expect_code(3);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ntfy.requests().len(), 2, "escalated once");
}

#[test]
fn a_slow_or_down_provider_does_not_slow_the_loop_and_is_retried() {
    // Slow: every answer takes 2 s.
    let slow = FakeHttp::start(
        vec![],
        Answer {
            status: 200,
            body: "{}".into(),
            delay: Duration::from_secs(2),
        },
    );
    let e = with_ntfy(&slow);
    e.env
        .config("notifications:\n  events: [run_finished]\n  throttle_seconds: 0\n");
    e.env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    e.env.script("check-todo\n");
    let t = Instant::now();
    e.run(&["run", "--max-runs", "3"]).expect_code(0);
    let starts: Vec<i64> = e
        .ledger()
        .iter()
        .filter(|v| v["type"] == "run_started")
        .map(|v| chrono_ms(v["ts"].as_str().unwrap()))
        .collect();
    assert_eq!(starts.len(), 3);
    assert!(
        starts[2] - starts[0] < 1500,
        "runs were slowed by delivery: {starts:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(
        slow.wait_for(3).len() >= 3,
        "every notification was still delivered"
    );

    // Down: a 503 twice, then it comes back; each attempt is in the ledger.
    let flaky = FakeHttp::start(
        vec![
            Answer {
                status: 503,
                body: "{}".into(),
                delay: Duration::ZERO,
            },
            Answer {
                status: 503,
                body: "{}".into(),
                delay: Duration::ZERO,
            },
        ],
        Answer::ok(r#"{"id":"late"}"#),
    );
    let e = with_ntfy(&flaky);
    e.env.config("runner:\n  max_consecutive_failures: 1\n");
    e.env.todo("- [ ] a\n");
    e.env.script("exit 1\n");
    e.run(&["run"]).expect_code(1);
    let d = e.deliveries();
    let attempts: Vec<(u64, bool)> = d
        .iter()
        .map(|v| (v["attempt"].as_u64().unwrap(), v["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(attempts, [(1, false), (2, false), (3, true)], "{d:?}");
    assert!(d[0]["error"].as_str().unwrap().contains("503"));
    assert_eq!(d[2]["message_id"], "late");
}

#[test]
fn telegram_429_retry_after_is_honoured_and_no_secret_leaks() {
    let tg = FakeHttp::start(
        vec![Answer {
            status: 429,
            body: format!(
                r#"{{"ok":false,"error_code":429,"description":"Too Many Requests for {TG_TOKEN}","parameters":{{"retry_after":2}}}}"#
            ),
            delay: Duration::ZERO,
        }],
        Answer::ok(r#"{"ok":true,"result":{"message_id":9}}"#),
    );
    let env = TestEnv::new();
    env.config(&format!(
        "notifications:\n  telegram:\n    api_base: {}\n",
        tg.url()
    ));
    let e = Env {
        env,
        vars: vec![
            ("CAR_TELEGRAM_BOT_TOKEN", TG_TOKEN.into()),
            ("CAR_TELEGRAM_CHAT_ID", "555".into()),
        ],
    };
    e.env.todo("- [ ] a\n");
    e.env.script("out NEED_INPUT: ok?\n");
    let out = e.run(&["run"]);
    out.expect_code(3);
    let reqs = tg.wait_for(2);
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "retry_after 2 s was not honoured: {gap:?}"
    );
    let d = e.deliveries();
    assert_eq!(d[0]["ok"], false);
    assert_eq!(d[1]["ok"], true);
    // The token must appear nowhere car writes or prints.
    let mut seen = vec![out.stdout(), out.stderr()];
    for entry in crate::common::files_under(&e.env.path(".codex-autorunner")) {
        seen.push(String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned());
    }
    for text in &seen {
        assert!(
            !text.contains(TG_TOKEN) && !text.contains("SECRET-telegram"),
            "the bot token leaked:\n{text}"
        );
    }
    assert!(
        d[0]["error"].as_str().unwrap().contains("***"),
        "the echoed token is scrubbed: {}",
        d[0]["error"]
    );
}

#[test]
fn notify_test_reports_each_provider() {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"t1"}"#));
    let discord = FakeHttp::start(
        vec![],
        Answer {
            status: 401,
            body: "{}".into(),
            delay: Duration::ZERO,
        },
    );
    let mut e = with_ntfy(&ntfy);
    e.vars.push((
        "CAR_DISCORD_WEBHOOK_URL",
        format!("{}/hooks/x", discord.url()),
    ));
    let r = e.run(&["notify", "test"]);
    r.expect_code(1);
    assert!(
        r.stdout().contains("ntfy      ok (message t1)"),
        "{}",
        r.stdout()
    );
    assert!(
        r.stdout().contains("discord   FAILED: HTTP 401"),
        "{}",
        r.stdout()
    );
    assert!(
        ntfy.requests()[0]
            .header("Title")
            .unwrap()
            .contains("test notification")
    );
    let only = e.run(&["notify", "test", "--provider", "ntfy"]);
    only.expect_code(0);
    let none = Env {
        env: TestEnv::new(),
        vars: vec![],
    }
    .run(&["notify", "test"]);
    none.expect_code(1);
    assert!(
        none.stdout()
            .contains("no notification provider is configured")
    );
}

#[test]
fn a_non_ascii_repo_name_still_reaches_ntfy_and_debug_logs_hold_no_secret() {
    let ntfy = FakeHttp::start(vec![], Answer::ok("{}"));
    let tg = FakeHttp::start(
        vec![],
        Answer::ok(r#"{"ok":true,"result":{"message_id":1}}"#),
    );
    let env = TestEnv::bare();
    let root = env.root.parent().unwrap().join("café");
    std::fs::create_dir_all(&root).unwrap();
    crate::common::git(&root, &["init", "-q"]);
    let mut e = Env { env, vars: vec![] };
    e.env.root = root.clone();
    e.env.run(&["init"]).expect_code(0);
    e.env.write(
        ".codex-autorunner/config.yml",
        &format!(
            "version: 2\nmode: repo\ncodex:\n  binary: {}\n  args: []\nrunner:\n  sleep_seconds: 0\nnotifications:\n  ntfy:\n    server: {}\n  telegram:\n    api_base: {}\n",
            crate::common::FAKE_AGENT,
            ntfy.url(),
            tg.url()
        ),
    );
    e.vars = vec![
        ("CAR_NTFY_TOPIC", NTFY_TOPIC.into()),
        ("CAR_NTFY_TOKEN", NTFY_TOKEN.into()),
        ("CAR_TELEGRAM_BOT_TOKEN", TG_TOKEN.into()),
        ("CAR_TELEGRAM_CHAT_ID", "1".into()),
        ("CAR_LOG", "debug".into()),
    ];
    e.env.todo("- [ ] a\n");
    e.env.script("out NEED_INPUT: ok?\n");
    let out = e.run(&["run"]);
    out.expect_code(3);
    let r = &ntfy.wait_for(1)[0];
    let title = r.header("Title").unwrap();
    assert!(
        title.starts_with("=?UTF-8?B?") && title.is_ascii(),
        "{title}"
    );
    assert_eq!(e.deliveries().iter().filter(|d| d["ok"] == true).count(), 2);
    let mut seen = vec![out.stdout(), out.stderr()];
    for f in crate::common::files_under(&e.env.path(".codex-autorunner")) {
        seen.push(String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned());
    }
    for text in &seen {
        for secret in [TG_TOKEN, NTFY_TOPIC, NTFY_TOKEN] {
            assert!(
                !text.contains(secret),
                "{secret} leaked at debug level:\n{text}"
            );
        }
    }
}
