//! An interactive Codex session through the bot and the fake Telegram
//! Bot API: plain text in a bound chat starts a task, progress is edited
//! into one message at most once a second, the answer is posted, and the
//! next message continues the same conversation (`codex exec resume`).

use std::time::Duration;

use serde_json::json;

use crate::common::{FAKE_AGENT, TestEnv};
use crate::fake_telegram::FakeTelegram;
use crate::telegram_bot::{CHAT, USER, bot_config, start_bot, stop_bot, texts_to};

const WAIT: Duration = Duration::from_secs(40);
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;

fn command(cmd: &str) -> String {
    format!(
        r#"out {{"type":"item.completed","item":{{"type":"command_execution","command":"{cmd}","exit_code":0}}}}"#
    )
}

#[test]
fn two_messages_are_one_conversation_with_progress_edited_at_most_once_a_second() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    env.config(&format!(
        "codex:\n  binary: {FAKE_AGENT}\n  args: [exec]\n  env:\n    FAKE_AGENT_SCRIPT: {}\n{}",
        env.script.display(),
        bot_config(&fake)
    ));
    let thread = r#"out {"type":"thread.started","thread_id":"th-c1"}"#;
    let mut first = vec![thread.to_string()];
    for i in 1..=6 {
        first.push(command(&format!("step {i}")));
        first.push("sleep 0.4".into());
    }
    first.push("last-message First answer.".into());
    first.push(DONE.into());
    env.script(&format!(
        "{}\n---\n{thread}\n{}\nlast-message Second answer.\n{DONE}\n",
        first.join("\n"),
        command("cargo test")
    ));
    let bot = start_bot(&env, &env.root);
    fake.push_text(CHAT, USER, "/bind", None);
    fake.wait("the binding", WAIT, |c| {
        texts_to(c, CHAT).iter().any(|t| t.contains("bound to"))
    });

    fake.push_text(CHAT, USER, "What is in this repository?", None);
    let calls = fake.wait("the first answer", WAIT, |c| {
        texts_to(c, CHAT).iter().any(|t| t == "First answer.")
    });
    // One progress message, edited while the turn ran, never twice in a
    // second.
    let progress = calls
        .iter()
        .find(|c| {
            c.method == "sendMessage"
                && c.body["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("⏳ Working")
        })
        .unwrap_or_else(|| panic!("no progress message: {calls:#?}"));
    let edits: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "editMessageText")
        .collect();
    assert!(edits.len() >= 2, "the progress was edited: {calls:#?}");
    let id = edits[0].body["message_id"].clone();
    assert!(edits.iter().all(|e| e.body["message_id"] == id));
    let mut times = vec![progress.at];
    times.extend(edits.iter().map(|e| e.at));
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(990),
            "edits {:?} apart: {edits:#?}",
            w[1] - w[0]
        );
    }
    let last = edits.last().unwrap().body["text"].as_str().unwrap();
    assert!(
        last.starts_with("✅ Done") && last.contains("$ step 6"),
        "{last}"
    );
    assert!(edits.iter().any(|e| e.body["chat_id"] == json!(CHAT)));

    // The second message continues the conversation.
    fake.push_text(CHAT, USER, "And the tests?", None);
    fake.wait("the second answer", WAIT, |c| {
        texts_to(c, CHAT).iter().any(|t| t == "Second answer.")
    });
    let argv = std::fs::read_to_string(format!("{}.argv", env.script.display())).unwrap();
    let second = argv.lines().find(|l| l.starts_with("2 ")).unwrap();
    let args: Vec<&str> = second[2..].split('\x1f').collect();
    assert!(
        args.windows(2).any(|w| w == ["resume", "th-c1"]),
        "the second turn resumes the first's thread: {args:?}"
    );
    let (code, err) = stop_bot(bot);
    assert_eq!(code, 0, "{err}");
}
