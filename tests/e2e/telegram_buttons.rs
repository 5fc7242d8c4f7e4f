//! The bot's buttons, pressed as Telegram sends them (`callback_query`):
//! Resume and Stop under a question, and the repository picker of
//! `/bind` in a hub.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestEnv;
use crate::fake_telegram::{Call, FakeTelegram};
use crate::telegram_bot::{CHAT, USER, bot_config, start_bot, stop_bot, texts_to};

const WAIT: Duration = Duration::from_secs(30);

/// The message sent whose text contains `needle`: its body and the id
/// the fake gave it.
fn sent_with(fake: &FakeTelegram, calls: &[Call], needle: &str) -> (Value, i64) {
    let sends: Vec<&Call> = calls.iter().filter(|c| c.method == "sendMessage").collect();
    let i = sends
        .iter()
        .position(|c| c.body["text"].as_str().unwrap_or("").contains(needle))
        .unwrap_or_else(|| panic!("no message with {needle:?}: {calls:#?}"));
    (sends[i].body.clone(), fake.message_ids()[i])
}

/// The callback data of the button labelled `label` in `body`.
fn button(body: &Value, label: &str) -> String {
    body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .find(|b| b["text"] == label)
        .unwrap_or_else(|| panic!("no button {label:?} in {body:#}"))["callback_data"]
        .as_str()
        .unwrap()
        .to_string()
}

fn answered_callback(calls: &[Call], id: &str) -> bool {
    calls
        .iter()
        .any(|c| c.method == "answerCallbackQuery" && c.body["callback_query_id"] == json!(id))
}

#[test]
fn resume_goes_on_without_an_answer_and_stop_leaves_the_loop_stopped() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    env.config(&bot_config(&fake));
    env.todo("- [ ] a\n");
    env.script(
        "out NEED_INPUT: First question?\n---\nout NEED_INPUT: Second question?\n---\ncheck-todo\n",
    );
    env.run(&["run"]).expect_code(3);
    let bot = start_bot(&env, &env.root);
    fake.push_text(CHAT, USER, "/bind", None);
    let calls = fake.wait("the first question", WAIT, |c| {
        texts_to(c, CHAT)
            .iter()
            .any(|t| t.contains("First question?"))
    });
    let (q1, q1_id) = sent_with(&fake, &calls, "First question?");

    // Resume: the loop goes on (run 2 asks the next question).
    let press = fake.push_button(CHAT, USER, q1_id, &button(&q1, "Resume"));
    let calls = fake.wait("the second question", WAIT, |c| {
        texts_to(c, CHAT)
            .iter()
            .any(|t| t.contains("Second question?"))
    });
    assert!(
        answered_callback(&calls, &format!("cb-{press}")),
        "{calls:#?}"
    );
    let prompt2 = String::from_utf8_lossy(&env.agent_prompt(2)).into_owned();
    assert!(!prompt2.is_empty());

    // Stop: the question is dismissed, the loop stays stopped (no run 3).
    let (q2, q2_id) = sent_with(&fake, &calls, "Second question?");
    let press = fake.push_button(CHAT, USER, q2_id, &button(&q2, "Stop"));
    let calls = fake.wait("the stop's confirmation", WAIT, |c| {
        texts_to(c, CHAT)
            .iter()
            .any(|t| t.contains("stays stopped"))
    });
    assert!(
        answered_callback(&calls, &format!("cb-{press}")),
        "{calls:#?}"
    );
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        assert!(env.state()["runner_pid"].is_null(), "{}", env.state());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        env.read(&format!("{}.count", env.script.display())).trim(),
        "2"
    );
    assert!(env.read(".codex-autorunner/TODO.md").contains("- [ ] a"));
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn in_a_hub_bind_shows_a_picker_and_a_press_binds_the_chat() {
    let fake = FakeTelegram::start();
    let env = crate::hub_common::hub_of(&["alpha", "beta"], "- [ ] a\n");
    let cfg = env.path(".codex-autorunner/config.yml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&bot_config(&fake));
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(
        env.path("beta/.codex-autorunner/TODO.md"),
        "- [ ] only in beta\n",
    )
    .unwrap();
    let bot = start_bot(&env, &env.root);
    fake.push_text(CHAT, USER, "/bind", None);
    let calls = fake.wait("the picker", WAIT, |c| {
        c.iter().any(|c| {
            c.method == "sendMessage" && !c.body["reply_markup"]["inline_keyboard"].is_null()
        })
    });
    let picker = calls
        .iter()
        .filter(|c| c.method == "sendMessage")
        .position(|c| !c.body["reply_markup"]["inline_keyboard"].is_null())
        .unwrap();
    let body = &calls
        .iter()
        .filter(|c| c.method == "sendMessage")
        .nth(picker)
        .unwrap()
        .body;
    let picker_id = fake.message_ids()[picker];
    assert_eq!(button(body, "alpha"), "bind:alpha");
    let press = fake.push_button(CHAT, USER, picker_id, &button(body, "beta"));
    let calls = fake.wait("the binding", WAIT, |c| {
        c.iter().any(|c| {
            c.method == "editMessageText"
                && c.body["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("bound to beta")
        })
    });
    assert!(
        answered_callback(&calls, &format!("cb-{press}")),
        "{calls:#?}"
    );
    fake.push_text(CHAT, USER, "/todo", None);
    fake.wait("beta's TODO", WAIT, |c| {
        texts_to(c, CHAT).iter().any(|t| t.contains("only in beta"))
    });
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
}
