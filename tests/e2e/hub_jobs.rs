//! The hub of the issue: three repositories and two worktrees, their loops
//! run by the supervisor within `max_parallel_loops: 2`, ntfy configured
//! once at the hub root.
//!
//! The six loops: the five jobs (repositories `alpha`, `beta`, `gamma` and
//! worktrees `alpha--one`, `beta--two`) are started with one `car hub start`;
//! `beta--two`'s first loop asks a question and stops, and once answered it
//! is started again: that second loop of `beta--two` is the sixth. A job is
//! one place on disk, so a sixth loop at the same moment would have to share
//! a directory with another, which the run lock forbids.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{FAKE_AGENT, Run, TestEnv, files_under, git};
use crate::fake_http::{Answer, FakeHttp};
use crate::hub_common::{
    agents_alive_for, count, events, kill_supervisor, state_of, supervisor_pid,
    wait_supervisor_gone,
};
use crate::hub_registry::hub_with;
use crate::notify::chrono_ms;

const IDS: [&str; 5] = ["alpha", "beta", "gamma", "alpha--one", "beta--two"];
const ASKER: &str = "beta--two";
const QUESTION: &str = "Postgres or SQLite for the sessions table?";
const TOPIC: &str = "hub-topic-7f3a";

/// A job's directory, relative to the hub root.
fn dir_of(id: &str) -> String {
    if id.contains("--") {
        format!("worktrees/{id}")
    } else {
        id.to_string()
    }
}

/// The fake agent's script of job `id` (each job has its own).
fn script_of(env: &TestEnv, id: &str) -> PathBuf {
    env.script.with_file_name(format!("agent-{id}"))
}

/// `car` at the hub root with the ntfy topic, as a person's shell has it.
fn car(env: &TestEnv, args: &[&str]) -> Run {
    Run(env.car(args).env("CAR_NTFY_TOPIC", TOPIC).output().unwrap())
}

/// A job's ledger, one JSON value per event.
fn ledger(env: &TestEnv, id: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.path(&format!("{}/.codex-autorunner/events.jsonl", dir_of(id))))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The hub: three repositories, two worktrees, each job's agent writing
/// only `<id>.log` in its own directory; ntfy and the events to hear of set
/// once, in the hub root's `codex-autorunner.yml`.
fn hub(ntfy: &FakeHttp) -> TestEnv {
    let env = hub_with(&IDS[..3]);
    env.run(&["hub", "scan"]).expect_code(0);
    env.run(&["worktree", "new", "alpha", "one"]).expect_code(0);
    env.run(&["worktree", "new", "beta", "two"]).expect_code(0);
    let cfg = env.read(".codex-autorunner/config.yml");
    env.write(
        ".codex-autorunner/config.yml",
        &format!("{cfg}hub:\n  max_parallel_loops: 2\n"),
    );
    env.write(
        "codex-autorunner.yml",
        &format!(
            "notifications:\n  events: [needs_input, completed]\n  ntfy:\n    server: {}\n",
            ntfy.url()
        ),
    );
    let work = |id: &str| {
        format!(
            "check-todo\nappend {id}.log run\nappend .codex-autorunner/SUMMARY.md x\nsleep 0.4\n"
        )
    };
    for id in IDS {
        let dir = dir_of(id);
        let script = script_of(&env, id);
        env.write(
            &format!("{dir}/.codex-autorunner/config.yml"),
            &format!(
                "version: 2\nmode: repo\ncodex:\n  binary: {FAKE_AGENT}\n  args: []\n  env:\n    FAKE_AGENT_SCRIPT: {}\nrunner:\n  sleep_seconds: 0\n  kill_grace_seconds: 2\n",
                script.display()
            ),
        );
        env.write(
            &format!("{dir}/.codex-autorunner/TODO.md"),
            "- [ ] one\n- [ ] two\n- [ ] three\n",
        );
        let text = if id == ASKER {
            format!(
                "out I need a decision.\nout NEED_INPUT: {QUESTION}\n---\n{}",
                work(id)
            )
        } else {
            work(id)
        };
        std::fs::write(&script, text).unwrap();
    }
    env
}

/// Counts the agents alive every 20 ms on a thread of its own, keeping the
/// most seen at once, until dropped.
struct Sampler {
    most: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
}

impl Sampler {
    fn start(scripts: Vec<PathBuf>) -> Self {
        let most = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (m, d) = (most.clone(), done.clone());
        std::thread::spawn(move || {
            while !d.load(Ordering::SeqCst) {
                m.fetch_max(agents_alive_for(&scripts), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { most, done }
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

#[test]
fn five_jobs_and_a_sixth_loop_run_two_at_a_time_survive_a_killed_hub_and_notify_once() {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"m"}"#));
    let env = hub(&ntfy);
    // The hub file is the source of the shared keys in every job.
    let shown = env.run(&["--repo", "worktrees/alpha--one", "config", "show"]);
    shown.expect_code(0);
    assert!(
        shown
            .stdout()
            .lines()
            .any(|l| l.starts_with("notifications.ntfy.server")
                && l.contains(&format!(
                    "{}/codex-autorunner.yml (hub-wide)",
                    std::fs::canonicalize(&env.root).unwrap().display()
                ))),
        "{}",
        shown.stdout()
    );
    let sampler = Sampler::start(IDS.iter().map(|id| script_of(&env, id)).collect());

    let mut args = vec!["hub", "start"];
    args.extend(IDS);
    car(&env, &args).expect_code(0);
    env.wait_for("two loops started", Duration::from_secs(30), || {
        events(&env)
            .iter()
            .filter(|(e, _)| e == "loop_started")
            .count()
            >= 2
            && sampler.most() > 0
    });
    // The hub process killed mid-way, then started again: it adopts.
    kill_supervisor(&env, supervisor_pid(&env).expect("a supervisor runs"));
    car(&env, &["hub", "start"]).expect_code(0);

    // The question: exactly one ntfy message, within a second, naming the
    // job and the question.
    env.wait_for("the question", Duration::from_secs(90), || {
        ledger(&env, ASKER)
            .iter()
            .any(|e| e["type"] == "needs_input")
    });
    let is_question =
        |r: &crate::fake_http::Request| r.header("Title").is_some_and(|t| t.contains("needs you"));
    env.wait_for("the question's message", Duration::from_secs(10), || {
        ntfy.requests().iter().any(is_question)
    });
    std::thread::sleep(Duration::from_millis(500));
    let asked = ntfy.requests();
    let questions: Vec<_> = asked.iter().filter(|r| is_question(r)).collect();
    assert_eq!(questions.len(), 1, "{asked:?}");
    let q = questions[0];
    assert_eq!(q.path, format!("/{TOPIC}"));
    assert!(q.header("Title").unwrap().contains(ASKER), "{q:?}");
    assert!(
        q.body.contains(&format!("Question: {QUESTION}")),
        "{}",
        q.body
    );
    env.wait_for("the delivery's record", Duration::from_secs(10), || {
        ledger(&env, ASKER)
            .iter()
            .any(|e| e["type"] == "notification")
    });
    let l = ledger(&env, ASKER);
    let at = |t: &str| {
        chrono_ms(
            l.iter().find(|e| e["type"] == t).unwrap()["ts"]
                .as_str()
                .unwrap(),
        )
    };
    assert!(at("notification") - at("needs_input") < 1000, "{l:?}");

    // Answered, the job is started again: the sixth loop.
    env.run(&["--repo", &dir_of(ASKER), "reply", "Postgres"])
        .expect_code(0);
    car(&env, &["hub", "start", ASKER]).expect_code(0);

    let start = Instant::now();
    while !IDS
        .iter()
        .all(|id| state_of(&env, &dir_of(id))["stop_reason"] == "completed")
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not all completed: {:?}; hub events: {:?}",
            IDS.map(|id| state_of(&env, &dir_of(id))["stop_reason"].clone()),
            events(&env)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_supervisor_gone(&env);
    let most = sampler.most();
    drop(sampler);
    assert!(
        most <= 2,
        "{most} agents alive at once with max_parallel_loops 2"
    );
    assert_eq!(most, 2, "the loops never ran side by side");

    // No loop lost or started twice, though the hub was killed.
    for id in IDS {
        let loops = if id == ASKER { 2 } else { 1 };
        let started = count(&env, "loop_started", id);
        assert_eq!(started, loops, "{id}: {:?}", events(&env));
        let runs: Vec<u64> = ledger(&env, id)
            .iter()
            .filter(|e| e["type"] == "run_started")
            .map(|e| e["run_id"].as_u64().unwrap())
            .collect();
        let unique: HashSet<_> = runs.iter().collect();
        assert_eq!(
            unique.len(),
            runs.len(),
            "{id}: a run started twice: {runs:?}"
        );
        // Three items and the summary; the asker's question run besides.
        assert_eq!(
            runs.len(),
            if id == ASKER { 5 } else { 4 },
            "{id}: {runs:?}"
        );
    }

    // Each job's agent touched its own directory only.
    for id in IDS {
        let dir = env.path(&dir_of(id));
        let logs: Vec<String> = files_under(&dir)
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(String::from))
            .filter(|n| n.ends_with(".log") && IDS.iter().any(|i| n == &format!("{i}.log")))
            .collect();
        assert_eq!(logs, [format!("{id}.log")], "{id}");
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("{id}.log")))
                .unwrap()
                .lines()
                .count(),
            4,
            "{id}"
        );
        let status = git(&dir, &["status", "--porcelain", "--untracked-files=all"]);
        let changed: Vec<&str> = status
            .lines()
            .filter(|l| !l[3..].starts_with(".codex-autorunner/"))
            .collect();
        assert_eq!(changed, [format!("?? {id}.log")], "{id}: {status}");
    }

    // The question was the one message for it; besides it, one `completed`
    // per job (notifications.events), nothing from the hub itself.
    let all = ntfy.requests();
    let titles: Vec<&str> = all.iter().filter_map(|r| r.header("Title")).collect();
    assert_eq!(all.len(), 1 + IDS.len(), "{titles:?}");
    for id in IDS {
        assert_eq!(
            titles
                .iter()
                .filter(|t| **t == format!("car: {id} completed"))
                .count(),
            1,
            "{titles:?}"
        );
    }

    // A worktree with uncommitted work is refused by `remove`.
    let out = env.run(&["worktree", "remove", "alpha--one"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr().contains("uncommitted change"),
        "{}",
        out.stderr()
    );
    assert!(env.path("worktrees/alpha--one/alpha--one.log").is_file());
}
