//! The Telegram bot's interactive sessions (`car_telegram::session`) with
//! a recording chat in place of Telegram and the real `car` binary running
//! each turn as a Codex task of the fake agent: a conversation over two
//! messages, progress edits at most once a second, one queue per chat,
//! `/interrupt`, a long answer as a document, a restart that loses nothing.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use car_telegram::session::{ChatError, ChatIo, ChatKey, MessageId, Sessions};

use crate::common::{CAR, FAKE_AGENT, TestEnv, alive, read_pid};

const WAIT: Duration = Duration::from_secs(40);
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;

/// `thread.started` with thread `id`.
fn thread(id: &str) -> String {
    format!(r#"out {{"type":"thread.started","thread_id":"{id}"}}"#)
}

/// A command the agent ran, as Codex reports it.
fn command(cmd: &str) -> String {
    format!(
        r#"out {{"type":"item.completed","item":{{"type":"command_execution","command":"{cmd}","exit_code":0}}}}"#
    )
}

/// What the chat was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Send,
    Edit,
    Document { name: String, bytes: Vec<u8> },
}

/// One call, with when it came.
#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    chat: ChatKey,
    kind: Kind,
    /// The message's id (the edited one for an edit).
    id: MessageId,
    /// The text (the caption for a document).
    text: String,
}

/// A chat that records every call and answers with fresh message ids.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<Call>>,
    next: AtomicI64,
}

impl Recorder {
    fn record(&self, chat: ChatKey, kind: Kind, id: Option<MessageId>, text: &str) -> MessageId {
        let id = id.unwrap_or_else(|| self.next.fetch_add(1, Ordering::SeqCst) + 100);
        self.calls.lock().unwrap().push(Call {
            at: Instant::now(),
            chat,
            kind,
            id,
            text: text.to_string(),
        });
        id
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until a call satisfies `f`; returns it.
    fn wait(&self, what: &str, f: impl Fn(&Call) -> bool) -> Call {
        let start = Instant::now();
        loop {
            if let Some(c) = self.calls().into_iter().find(|c| f(c)) {
                return c;
            }
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {what}; the chat got {:#?}",
                self.calls()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a new message whose text is `text`.
    fn wait_message(&self, text: &str) -> Call {
        self.wait(&format!("the message {text:?}"), |c| {
            c.kind == Kind::Send && c.text == text
        })
    }

    /// The send and the edits of message `id`, in order.
    fn history(&self, id: MessageId) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.id == id && matches!(c.kind, Kind::Send | Kind::Edit))
            .collect()
    }

    fn position(&self, f: impl Fn(&Call) -> bool) -> usize {
        self.calls().iter().position(f).expect("the call")
    }
}

impl ChatIo for Recorder {
    fn send(&self, chat: ChatKey, text: &str) -> Result<MessageId, ChatError> {
        Ok(self.record(chat, Kind::Send, None, text))
    }

    fn edit(&self, chat: ChatKey, message: MessageId, text: &str) -> Result<(), ChatError> {
        self.record(chat, Kind::Edit, Some(message), text);
        Ok(())
    }

    fn send_document(
        &self,
        chat: ChatKey,
        name: &str,
        bytes: &[u8],
        caption: &str,
    ) -> Result<MessageId, ChatError> {
        let kind = Kind::Document {
            name: name.to_string(),
            bytes: bytes.to_vec(),
        };
        Ok(self.record(chat, kind, None, caption))
    }
}

/// A repository whose agent (the fake one, with this env's script) runs
/// as `codex exec`.
fn codex_env() -> TestEnv {
    let env = TestEnv::new();
    env.config(&format!(
        "codex:\n  binary: {FAKE_AGENT}\n  args: [exec]\n  env:\n    FAKE_AGENT_SCRIPT: {}\n",
        env.script.display()
    ));
    env
}

/// Sessions on a recording chat, their state in `dir`.
fn sessions(dir: &Path) -> (Arc<Recorder>, Sessions) {
    let rec = Arc::new(Recorder::default());
    let s = Sessions::start(rec.clone(), CAR, dir.join("sessions.json")).unwrap();
    (rec, s)
}

/// The fake agent's arguments in its `n`th invocation.
fn argv_of(env: &TestEnv, n: usize) -> Vec<String> {
    let all = std::fs::read_to_string(format!("{}.argv", env.script.display())).unwrap();
    let line = all
        .lines()
        .find(|l| l.split_once(' ').unwrap().0 == n.to_string())
        .unwrap();
    line.split_once(' ')
        .unwrap()
        .1
        .split('\x1f')
        .map(str::to_owned)
        .collect()
}

/// Asserts that message `id` was sent and edited with at least a second
/// between one call and the next.
fn assert_edits_a_second_apart(rec: &Recorder, id: MessageId) -> Vec<Call> {
    let history = rec.history(id);
    for w in history.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(
            gap >= Duration::from_secs(1),
            "message {id} edited {gap:?} after the previous call: {history:#?}"
        );
    }
    history
}

#[test]
fn a_second_message_continues_the_conversation_with_progress_edits_a_second_apart() {
    let env = codex_env();
    let mut first = vec![thread("th-s1")];
    for i in 1..=8 {
        first.push(command(&format!("step {i}")));
        first.push("sleep 0.3".into());
    }
    let lib = std::fs::canonicalize(&env.root).unwrap().join("src/lib.rs");
    first.push(format!(
        r#"out {{"type":"item.completed","item":{{"type":"file_change","changes":[{{"path":"{}","kind":"update"}}]}}}}"#,
        lib.display()
    ));
    first.push("last-message First answer.".into());
    first.push(DONE.into());
    let second = [
        thread("th-s1"),
        command("cargo test"),
        "last-message Second answer.".into(),
        DONE.into(),
    ];
    env.script(&format!(
        "{}\n---\n{}\n",
        first.join("\n"),
        second.join("\n")
    ));
    let dir = tempfile::tempdir().unwrap();
    let (rec, s) = sessions(dir.path());
    let chat = ChatKey::topic(-100, 7);

    assert_eq!(s.on_text(chat, &env.root, "What does src/lib.rs do?"), 0);
    let answer1 = rec.wait_message("First answer.");
    let progress1 = rec.calls()[0].clone();
    assert_eq!(progress1.kind, Kind::Send);
    assert!(
        progress1.text.starts_with("⏳ Working… (task t-") && progress1.text.ends_with("turn 1)"),
        "{progress1:?}"
    );
    let task_id = s.state().chat(chat).unwrap().task_id.clone().unwrap();
    assert!(progress1.text.contains(&task_id), "{progress1:?}");

    let history = assert_edits_a_second_apart(&rec, progress1.id);
    assert!(history.len() >= 3, "edits as the turn went: {history:#?}");
    let during = &history[1];
    assert!(
        during.text.starts_with("⏳ Working…") && during.text.contains("$ step"),
        "an edit while it ran shows its commands: {during:?}"
    );
    let last = history.last().unwrap();
    assert_eq!(
        last.text,
        format!(
            "✅ Done (task {task_id}, turn 1): 8 commands, 1 file changed\n\
             $ step 4\n$ step 5\n$ step 6\n$ step 7\n$ step 8\nupdate src/lib.rs"
        )
    );
    assert!(
        answer1.at >= last.at,
        "the answer comes after the last edit"
    );
    assert_eq!(answer1.chat, chat);

    assert_eq!(s.on_text(chat, &env.root, "And its tests?"), 0);
    rec.wait_message("Second answer.");
    let argv = argv_of(&env, 2);
    assert_eq!(
        argv[argv.len() - 3..],
        ["resume", "th-s1", "-"],
        "the second message resumes the first turn's conversation: {argv:?}"
    );
    assert_eq!(env.agent_prompt(2), b"And its tests?");
    assert_eq!(env.agent_runs(), 2);
    let progress2 = rec.wait("the second progress message", |c| {
        c.kind == Kind::Send && c.text.starts_with("⏳") && c.id != progress1.id
    });
    assert_eq!(
        progress2.text,
        format!("⏳ Working… (task {task_id}, turn 2)")
    );
    let h2 = assert_edits_a_second_apart(&rec, progress2.id);
    assert!(
        h2.last()
            .unwrap()
            .text
            .starts_with(&format!("✅ Done (task {task_id}, turn 2): 1 command")),
        "{h2:#?}"
    );

    let state = s.state();
    let c = state.chat(chat).unwrap();
    assert_eq!(c.task_id.as_deref(), Some(task_id.as_str()));
    assert_eq!(c.in_flight, None);
    assert!(c.pending.is_empty());
    s.shutdown();
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sessions.json")).unwrap()).unwrap();
    assert_eq!(on_disk["chats"][0]["task_id"], task_id.as_str());
    assert_eq!(on_disk["chats"][0]["thread_id"], 7);

    // Forgotten, the conversation starts again: a new task.
    assert!(s.reset(chat));
    let (rec, s) = sessions(dir.path());
    env.script(&format!(
        "{}\nlast-message Fresh.\n{DONE}\n",
        thread("th-new")
    ));
    s.on_text(chat, &env.root, "Start over");
    rec.wait_message("Fresh.");
    let argv = argv_of(&env, 3);
    assert!(!argv.contains(&"resume".to_string()), "{argv:?}");
    assert_ne!(
        s.state().chat(chat).unwrap().task_id.as_deref(),
        Some(task_id.as_str())
    );
}

#[test]
fn a_message_while_a_turn_runs_waits_for_it_and_other_chats_do_not() {
    let env = codex_env();
    let release = env.path("release");
    env.script(&format!(
        "{}\nwait-file {} 60\nlast-message one\n{DONE}\n---\n{}\nlast-message two\n{DONE}\n",
        thread("th-q"),
        release.display(),
        thread("th-q")
    ));
    let other = codex_env();
    other.script(&format!(
        "{}\nlast-message elsewhere\n{DONE}\n",
        thread("th-o")
    ));
    let dir = tempfile::tempdir().unwrap();
    let (rec, s) = sessions(dir.path());
    let chat = ChatKey::chat(42);
    let chat2 = ChatKey::chat(43);

    assert_eq!(s.on_text(chat, &env.root, "first"), 0);
    rec.wait("the first progress message", |c| c.text.starts_with("⏳"));
    assert_eq!(s.on_text(chat, &env.root, "second"), 1);
    rec.wait_message(
        "Queued: it runs after the 1 turn before it (/interrupt stops the one at work).",
    );
    assert_eq!(s.state().chat(chat).unwrap().pending.len(), 1);
    // Another chat's turn runs now, beside the first.
    assert_eq!(s.on_text(chat2, &other.root, "meanwhile"), 0);
    // (The first chat's turn waits for the release file.)
    let elsewhere = rec.wait_message("elsewhere");
    assert_eq!(elsewhere.chat, chat2);
    assert_eq!(env.agent_runs(), 1, "the second message waits");
    std::fs::write(&release, "").unwrap();

    rec.wait_message("two");
    let one = rec.position(|c| c.text == "one");
    let second_progress = rec.position(|c| c.text.starts_with("⏳") && c.text.ends_with("turn 2)"));
    assert!(
        one < second_progress,
        "the second turn starts once the first answered: {:#?}",
        rec.calls()
    );
    assert_eq!(env.agent_runs(), 2);
    assert_eq!(env.agent_prompt(2), b"second");
    assert!(argv_of(&env, 2).contains(&"th-q".to_string()));
    assert!(s.state().chat(chat).unwrap().pending.is_empty());
}

#[test]
fn interrupt_cancels_the_turn_and_ends_its_agent() {
    let env = codex_env();
    let pid_file = env.path("agent.pid");
    env.script(&format!(
        "{}\nwrite-pid {}\nsleep 60\n",
        thread("th-i"),
        pid_file.display()
    ));
    let dir = tempfile::tempdir().unwrap();
    let (rec, s) = sessions(dir.path());
    let chat = ChatKey::chat(5);

    assert!(!s.interrupt(chat), "nothing runs yet");
    rec.wait_message("Nothing is running in this chat.");
    s.on_text(chat, &env.root, "work for a long time");
    env.wait_for("the agent", WAIT, || pid_file.exists());
    let pid = read_pid(&pid_file);
    let progress = rec.wait("the progress message", |c| c.text.starts_with("⏳"));
    let task_id = s.state().chat(chat).unwrap().task_id.clone().unwrap();
    let asked = Instant::now();
    assert!(s.interrupt(chat));
    let notice = rec.wait_message(&format!("⏹ Interrupted (task {task_id}, turn 1)."));
    assert!(
        notice.at - asked < Duration::from_secs(15),
        "{:?}",
        notice.at - asked
    );
    env.wait_for("the agent to end", WAIT, || !alive(pid));
    env.expect_no_agent_process("after /interrupt", WAIT);
    let history = assert_edits_a_second_apart(&rec, progress.id);
    assert!(
        history
            .last()
            .unwrap()
            .text
            .starts_with(&format!("⏹ Interrupted (task {task_id}, turn 1)")),
        "{history:#?}"
    );
    let status = env.run(&["task", "status", &task_id, "--json"]);
    status.expect_code(0);
    let rec_json: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(rec_json["state"], "cancelled");
    assert_eq!(rec_json["requested_by"], "bot");
    assert_eq!(rec_json["origin"], "telegram chat 5");
    assert_eq!(s.state().chat(chat).unwrap().in_flight, None);
}

#[test]
fn a_long_answer_is_sent_as_a_document() {
    let env = codex_env();
    let line = "All the details of the answer, line after line.";
    let long: Vec<&str> = std::iter::repeat_n(line, 120).collect();
    env.script(&format!(
        "{}\nlast-message {}\n{DONE}\n",
        thread("th-l"),
        long.join("\\n")
    ));
    let dir = tempfile::tempdir().unwrap();
    let (rec, s) = sessions(dir.path());
    let chat = ChatKey::chat(6);
    s.on_text(chat, &env.root, "explain everything");
    let doc = rec.wait("the document", |c| matches!(c.kind, Kind::Document { .. }));
    let task_id = s.state().chat(chat).unwrap().task_id.clone().unwrap();
    let want = long.join("\n");
    assert!(want.len() > 4096);
    assert_eq!(
        doc.kind,
        Kind::Document {
            name: format!("answer-{task_id}-turn-1.md"),
            bytes: want.clone().into_bytes(),
        }
    );
    assert_eq!(
        doc.text,
        format!(
            "The answer is {} characters long, so it is attached (task {task_id}, turn 1).",
            want.chars().count()
        )
    );
    for c in rec.calls() {
        assert!(c.text.encode_utf16().count() <= 4096, "{c:?}");
    }
}

#[test]
fn a_restarted_bot_follows_the_turn_it_left_and_runs_what_waited() {
    let env = codex_env();
    let pid_file = env.path("agent.pid");
    let release = env.path("release");
    env.script(&format!(
        "{}\nwrite-pid {}\nwait-file {} 60\nlast-message one\n{DONE}\n---\n{}\nlast-message two\n{DONE}\n",
        thread("th-r"),
        pid_file.display(),
        release.display(),
        thread("th-r")
    ));
    let dir = tempfile::tempdir().unwrap();
    let (rec, s) = sessions(dir.path());
    let chat = ChatKey::chat(8);
    s.on_text(chat, &env.root, "first");
    env.wait_for("the agent", WAIT, || pid_file.exists());
    let progress = rec.wait("the progress message", |c| c.text.starts_with("⏳"));
    s.on_text(chat, &env.root, "second");
    s.shutdown();
    drop(s);
    let left = rec.calls().len();
    let state =
        car_telegram::session::SessionState::load(&dir.path().join("sessions.json")).unwrap();
    let c = state.chat(chat).unwrap();
    assert_eq!(
        c.in_flight.as_ref().unwrap().progress_message,
        Some(progress.id)
    );
    assert_eq!(c.pending.len(), 1);
    assert!(alive(read_pid(&pid_file)), "the turn outlives the bot");

    let rec2 = Arc::new(Recorder::default());
    let s2 = Sessions::start(rec2.clone(), CAR, dir.path().join("sessions.json")).unwrap();
    std::fs::write(&release, "").unwrap();
    rec2.wait_message("one");
    rec2.wait_message("two");
    assert!(
        rec2.calls()
            .iter()
            .any(|c| c.kind == Kind::Edit && c.id == progress.id && c.text.starts_with("✅ Done")),
        "the first turn's progress message is finished: {:#?}",
        rec2.calls()
    );
    assert_eq!(
        rec.calls().len(),
        left,
        "the stopped sessions send nothing more"
    );
    assert_eq!(env.agent_runs(), 2);
    assert_eq!(env.agent_prompt(2), b"second");
    drop(s2);
}

#[test]
fn a_failed_turn_and_a_repository_that_cannot_be_opened_are_told() {
    let env = codex_env();
    env.script(&format!(
        "{}\n{}\nout {{\"type\":\"turn.failed\",\"error\":{{\"message\":\"the model is overloaded\"}}}}\nexit 1\n",
        thread("th-f"),
        command("make")
    ));
    let dir = tempfile::tempdir().unwrap();
    let (rec, s) = sessions(dir.path());
    let chat = ChatKey::chat(11);
    s.on_text(chat, &env.root, "try");
    rec.wait_message("❌ The turn failed: the model is overloaded");
    let task_id = s.state().chat(chat).unwrap().task_id.clone().unwrap();
    let progress = rec.wait("the progress message", |c| c.text.starts_with("⏳"));
    let history = assert_edits_a_second_apart(&rec, progress.id);
    assert_eq!(
        history.last().unwrap().text,
        format!("❌ Failed (task {task_id}, turn 1): the model is overloaded\n$ make")
    );

    let nowhere = tempfile::tempdir().unwrap();
    let other = ChatKey::chat(12);
    s.on_text(other, nowhere.path(), "hello");
    let told = rec.wait("the repository's error", |c| c.chat == other);
    assert!(
        told.text.starts_with(&format!(
            "Cannot open the repository {}: ",
            nowhere.path().display()
        )),
        "{told:?}"
    );
    assert_eq!(s.state().chat(other).unwrap().task_id, None);
    assert!(s.state().chat(other).unwrap().pending.is_empty());
}
