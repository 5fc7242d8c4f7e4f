//! `car attach`: a person follows a loop in a terminal (driven here through
//! a pseudo-terminal made by `script`), answers its question from the
//! keyboard, and detaches with Ctrl-C while the loop goes on.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{CAR, TestEnv};

/// `car attach` running in a terminal: what it printed so far, and the
/// keyboard.
struct Terminal {
    child: Child,
    keys: ChildStdin,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    /// `car attach ARGS` under `script`, which gives it a pseudo-terminal
    /// (its controlling terminal: Ctrl-C there is a SIGINT to car).
    fn attach(env: &TestEnv, args: &str) -> Self {
        let command = format!("'{CAR}' attach {args}");
        let mut child = env
            .car_at(
                std::path::Path::new("script"),
                &["-q", "-e", "-c", &command, "/dev/null"],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("`script` (util-linux) runs the attach in a pseudo-terminal");
        let keys = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            child,
            keys,
            screen,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).replace("\r\n", "\n")
    }

    /// Waits until the screen shows `want` after what it showed at `from`
    /// (a byte count of [`Terminal::text`]); returns where it ends.
    fn wait_for(&self, want: &str, from: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text();
            if let Some(i) = text.get(from..).and_then(|t| t.find(want)) {
                return from + i + want.len();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {want:?}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.keys.write_all(keys).unwrap();
        self.keys.flush().unwrap();
    }

    /// Waits for `script` (and the attach in it) to exit; its exit code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "attach did not exit");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running(env: &TestEnv) -> bool {
    let out = env.run(&["status", "--json"]).stdout();
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["running"] == true
}

#[test]
fn attach_shows_the_question_takes_the_answer_resumes_and_ctrl_c_leaves_the_loop_running() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let go = env.path("go");
    let done = env.path("done");
    env.script(&format!(
        "out thinking\nwait-file {} 60\nout NEED_INPUT: Which database?\n---\nout on it\nwait-file {} 60\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n",
        go.display(),
        done.display()
    ));
    let mut looped = env.car(&["run"]).stdout(Stdio::null()).spawn().unwrap();
    // Its directory is made before the state names the run.
    env.wait_for("the first run", Duration::from_secs(30), || {
        env.path(".codex-autorunner/runs/1").exists() && env.state()["last_run_id"] == 1
    });

    let mut term = Terminal::attach(&env, "");
    let at = term.wait_for("Ctrl-C detaches (the loop keeps running)\n", 0);
    assert!(
        term.text().starts_with("repo  running  0/1  #1"),
        "the status line first:\n{}",
        term.text()
    );
    std::fs::write(&go, "").unwrap();
    // The question shows, with a prompt for the answer.
    let at = term.wait_for("? Which database?\nanswer> ", at);
    assert_eq!(
        looped.wait().unwrap().code(),
        Some(3),
        "the loop stopped to ask"
    );
    term.wait_for("stopped run=1", at);

    term.type_keys(b"Postgres\n");
    let at = term.wait_for("car: answered run 1's question\n", at);
    let at = term.wait_for("car: loop resumed (pid ", at);
    // The resumed loop's output shows, and its prompt carries the answer.
    let at = term.wait_for("stdout: on it", at);
    let prompt = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(prompt.contains("Postgres"), "{prompt}");

    // A line typed with no question waiting is ignored, with a word.
    term.type_keys(b"hello\n");
    term.wait_for("car: no question is waiting; Ctrl-C detaches\n", at);

    // Ctrl-C: attach exits 130; the loop goes on and completes.
    term.type_keys(b"\x03");
    assert_eq!(term.exit_code(), 130);
    assert!(running(&env), "the loop keeps running after a detach");
    std::fs::write(&done, "").unwrap();
    env.wait_for("the loop to complete", Duration::from_secs(30), || {
        env.state()["status"] == "completed"
    });
    assert_eq!(
        env.agent_runs(),
        3,
        "the question run, the answer run, the summary"
    );
}

#[test]
fn attach_keeps_following_after_the_end_of_stdin_and_a_signal_detaches_with_130() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let go = env.path("go");
    env.script(&format!(
        "wait-file {} 60\nout working\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n",
        go.display()
    ));
    // stdin is empty (/dev/null): it ends at once.
    let mut attach = env
        .car(&["attach", "repo"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = attach.stdout.take().unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&screen);
    std::thread::spawn(move || {
        let mut s = String::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.push_str(&String::from_utf8_lossy(&buf[..n]));
            sink.lock().unwrap().clone_from(&s);
        }
    });
    let shows = |want: &str| screen.lock().unwrap().contains(want);
    env.wait_for("the attach header", Duration::from_secs(30), || {
        shows("car: attached to repo;")
    });
    assert!(shows("repo  idle  0/1  -"), "{}", screen.lock().unwrap());
    let mut looped = env.car(&["run"]).stdout(Stdio::null()).spawn().unwrap();
    std::fs::write(&go, "").unwrap();
    assert_eq!(looped.wait().unwrap().code(), Some(0));
    env.wait_for("the loop's events", Duration::from_secs(30), || {
        shows("reason=completed")
    });
    assert!(shows("stdout: working"), "{}", screen.lock().unwrap());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(attach.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(attach.wait().unwrap().code(), Some(130));
}

#[test]
fn attach_to_another_id_in_a_repository_names_both() {
    let env = TestEnv::new();
    let run = env.run(&["attach", "web--job-a"]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("no repository `web--job-a` here: this is `repo`"),
        "{err}"
    );
}
