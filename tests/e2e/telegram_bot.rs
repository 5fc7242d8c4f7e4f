//! `car telegram start` against a fake Bot API on 127.0.0.1: the
//! allow-list, `/status` in a hub, a question answered from the chat, a
//! 429, and a restart that neither loses nor replays an update.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TestEnv;
use crate::fake_telegram::{Call, FakeTelegram};

pub(crate) const TOKEN: &str = "424242:SECRET-bot-token-xyz";
pub(crate) const CHAT: i64 = 5001;
pub(crate) const USER: i64 = 77;

/// The `telegram_bot` section letting `CHAT` and `USER` in.
pub(crate) fn bot_config(fake: &FakeTelegram) -> String {
    format!(
        "telegram_bot:\n  enabled: true\n  api_base: {}\n  allowed_chat_ids: [{CHAT}]\n  allowed_user_ids: [{USER}]\n  polling:\n    timeout_seconds: 1\n",
        fake.url()
    )
}

/// Starts the bot for the directory `dir` of `env`.
pub(crate) fn start_bot(env: &TestEnv, dir: &std::path::Path) -> Child {
    let mut c = env.car(&["telegram", "start", "--path", dir.to_str().unwrap()]);
    c.env("CAR_TELEGRAM_BOT_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c.spawn().unwrap()
}

/// SIGTERM, then the exit code and stderr.
pub(crate) fn stop_bot(mut child: Child) -> (i32, String) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the bot did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The texts sent to `chat`.
pub(crate) fn texts_to(calls: &[Call], chat: i64) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.method == "sendMessage" && c.body["chat_id"] == json!(chat))
        .map(|c| c.body["text"].as_str().unwrap_or("").to_string())
        .collect()
}

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn a_chat_not_on_the_allow_list_gets_nothing_but_ids() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    env.config(&bot_config(&fake));
    let bot = start_bot(&env, &env.root);
    let stranger = 9999;
    // A stranger in an unknown chat, and a stranger in the allowed chat.
    fake.push_text(stranger, 31337, "/status", None);
    fake.push_text(stranger, 31337, "hello", None);
    fake.push_text(CHAT, 31337, "/status", None);
    fake.push_text(stranger, 31337, "/ids", None);
    let last = fake.push_text(CHAT, USER, "/help", None);
    let calls = fake.wait("the answer to /help", WAIT, |c| {
        !texts_to(c, CHAT).is_empty()
    });
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
    let to_stranger = texts_to(&calls, stranger);
    assert_eq!(
        to_stranger.len(),
        1,
        "only /ids is answered: {to_stranger:?}"
    );
    assert!(to_stranger[0].contains("chat id: 9999") && to_stranger[0].contains("user id: 31337"));
    assert!(
        to_stranger[0].contains("allowed_chat_ids: [9999]"),
        "{}",
        to_stranger[0]
    );
    let to_chat = texts_to(&calls, CHAT);
    assert_eq!(
        to_chat.len(),
        1,
        "the stranger's /status in the allowed chat is ignored: {to_chat:?}"
    );
    assert!(
        to_chat[0].contains("/status"),
        "the help lists the commands: {}",
        to_chat[0]
    );
    // The menu was registered, and the token never shows in the output.
    assert!(calls.iter().any(|c| c.method == "setMyCommands"));
    assert!(!err.contains("SECRET"), "{err}");
    let state: serde_json::Value =
        serde_json::from_str(&env.read(".codex-autorunner/telegram_bot_state.json")).unwrap();
    assert_eq!(state["offset"], json!(last + 1));
}

#[test]
fn a_disabled_or_misconfigured_bot_exits_with_an_error_naming_the_key() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    let out = env.run(&["telegram", "start"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr().contains("telegram_bot.enabled"),
        "{}",
        out.stderr()
    );
    env.config(&bot_config(&fake));
    // No token in the environment.
    let out = env.run(&["telegram", "start"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr().contains("CAR_TELEGRAM_BOT_TOKEN"),
        "{}",
        out.stderr()
    );
    env.config("telegram_bot:\n  allowed_user_ids: []\n");
    let out = env
        .car(&["telegram", "start"])
        .env("CAR_TELEGRAM_BOT_TOKEN", TOKEN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("telegram_bot.allowed_user_ids"),
        "{err}"
    );
    assert!(fake.calls().is_empty(), "nothing reached Telegram");
}

#[test]
fn status_on_a_hub_lists_every_loop() {
    let fake = FakeTelegram::start();
    let env = crate::hub_common::hub_of(&["alpha", "beta"], "- [ ] a\n- [x] b\n");
    let cfg = env.path(".codex-autorunner/config.yml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&bot_config(&fake));
    std::fs::write(&cfg, text).unwrap();
    let bot = start_bot(&env, &env.root);
    fake.push_text(CHAT, USER, "/status", None);
    let calls = fake.wait("the status", WAIT, |c| !texts_to(c, CHAT).is_empty());
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
    let status = &texts_to(&calls, CHAT)[0];
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.len(), 2, "{status}");
    assert!(lines[0].starts_with("alpha  idle  1/2"), "{status}");
    assert!(lines[1].starts_with("beta  idle  1/2"), "{status}");
}

#[test]
fn a_429_is_honoured_by_waiting_retry_after() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    env.config(&bot_config(&fake));
    fake.fail_once("sendMessage", 429, json!({ "retry_after": 2 }));
    let bot = start_bot(&env, &env.root);
    fake.push_text(CHAT, USER, "/ids", None);
    let calls = fake.wait("two sendMessage calls", WAIT, |c| {
        c.iter().filter(|c| c.method == "sendMessage").count() >= 2
    });
    stop_bot(bot);
    let sends: Vec<&Call> = calls.iter().filter(|c| c.method == "sendMessage").collect();
    let waited = sends[1].at.duration_since(sends[0].at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(5), "retried after {waited:?}");
    assert_eq!(sends[0].body, sends[1].body, "the same message again");
}

#[test]
fn a_restart_resumes_from_the_stored_update_id_without_replaying() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    env.config(&bot_config(&fake));
    let bot = start_bot(&env, &env.root);
    let first = fake.push_text(CHAT, USER, "/ids", None);
    fake.wait("the first answer", WAIT, |c| texts_to(c, CHAT).len() == 1);
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
    let state: serde_json::Value =
        serde_json::from_str(&env.read(".codex-autorunner/telegram_bot_state.json")).unwrap();
    assert_eq!(state["offset"], json!(first + 1));
    // Sent while the bot is down.
    let second = fake.push_text(CHAT, USER, "/help", None);
    let polls_before = fake.sent("getUpdates").len();
    let bot = start_bot(&env, &env.root);
    let calls = fake.wait("the second answer", WAIT, |c| texts_to(c, CHAT).len() >= 2);
    std::thread::sleep(Duration::from_millis(1500));
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
    let texts = texts_to(&fake.calls(), CHAT);
    assert_eq!(texts.len(), 2, "each update answered once: {texts:?}");
    assert!(texts[0].contains("chat id") && texts[1].contains("/status"));
    let first_poll = &calls
        .iter()
        .filter(|c| c.method == "getUpdates")
        .nth(polls_before)
        .unwrap();
    assert_eq!(
        first_poll.body["offset"],
        json!(second),
        "the restart asks from the stored offset"
    );
    assert!(first_poll.path.contains(TOKEN));
}
