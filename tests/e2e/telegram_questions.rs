//! A question from a loop, through the bot: the message with the buttons,
//! a reply to it, and the loop resuming with the answer until it completes.

use std::time::Duration;

use serde_json::json;

use crate::common::TestEnv;
use crate::fake_telegram::FakeTelegram;
use crate::telegram_bot::{CHAT, USER, bot_config, start_bot, stop_bot, texts_to};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn a_question_is_answered_from_the_chat_and_the_loop_completes_with_the_answer() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    env.config(&bot_config(&fake));
    env.todo("- [ ] pick the port\n");
    env.script(
        "out NEED_INPUT: Which port should the server use?\n---\ncheck-todo\nout done\n---\nwrite .codex-autorunner/SUMMARY.md Port 8080 chosen.\n",
    );
    env.run(&["run"]).expect_code(3);
    let bot = start_bot(&env, &env.root);
    fake.push_text(CHAT, USER, "/bind", None);
    // The question arrives once, with its buttons.
    let calls = fake.wait("the question", WAIT, |c| {
        texts_to(c, CHAT).iter().any(|t| t.contains("Which port"))
    });
    let question = calls
        .iter()
        .find(|c| {
            c.method == "sendMessage"
                && c.body["text"].as_str().unwrap_or("").contains("Which port")
        })
        .unwrap()
        .clone();
    let buttons: Vec<String> = question.body["reply_markup"]["inline_keyboard"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(buttons, ["Reply", "Resume", "Stop"]);
    assert!(question.body["text"].as_str().unwrap().contains("run #1"));
    // Find the question's message id: the fake numbers its answers in order.
    let sends: Vec<_> = calls.iter().filter(|c| c.method == "sendMessage").collect();
    let index = sends.iter().position(|c| c.body == question.body).unwrap();
    let question_id = message_id_of(&fake, index);
    fake.push_text(CHAT, USER, "Use port 8080", Some(question_id));
    let calls = fake.wait("the confirmation", WAIT, |c| {
        texts_to(c, CHAT)
            .iter()
            .any(|t| t.contains("Answer recorded"))
    });
    let confirm = texts_to(&calls, CHAT)
        .into_iter()
        .find(|t| t.contains("Answer recorded"))
        .unwrap();
    assert!(
        confirm.contains("run #1") && confirm.contains("resumed"),
        "{confirm}"
    );
    let start = std::time::Instant::now();
    while !(env.state()["status"] == json!("completed") && env.state()["runner_pid"].is_null()) {
        assert!(
            start.elapsed() < WAIT,
            "the loop did not complete: {}\n{}",
            env.state(),
            env.read(".codex-autorunner/events.jsonl")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let prompt = String::from_utf8_lossy(&env.agent_prompt(2)).into_owned();
    assert!(
        prompt.contains("Use port 8080"),
        "the next prompt carries the answer"
    );
    assert!(
        env.read(".codex-autorunner/TODO.md")
            .contains("- [x] pick the port")
    );
    std::thread::sleep(Duration::from_millis(500));
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
    let all = fake.calls();
    let asked = texts_to(&all, CHAT)
        .iter()
        .filter(|t| t.contains("Which port"))
        .count();
    assert_eq!(asked, 1, "the question is posted once");
    // The record of what the fake received (for the report).
    let summary: Vec<String> = all
        .iter()
        .filter(|c| c.method != "getUpdates")
        .map(|c| format!("{} {}", c.method, c.body))
        .collect();
    eprintln!("fake telegram received:\n{}", summary.join("\n"));
    // A restart does not post the answered question again.
    let bot = start_bot(&env, &env.root);
    std::thread::sleep(Duration::from_secs(2));
    stop_bot(bot);
    let asked = texts_to(&fake.calls(), CHAT)
        .iter()
        .filter(|t| t.contains("Which port"))
        .count();
    assert_eq!(asked, 1, "not re-sent after a restart");
}

/// The message id the fake gave the `index`-th sendMessage (ids go up by
/// one per message it numbers: pushed updates and sent messages).
fn message_id_of(fake: &FakeTelegram, index: usize) -> i64 {
    fake.message_ids()[index]
}
