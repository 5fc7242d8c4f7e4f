//! `car task`: Codex tasks as processes of their own, with the fake agent
//! speaking Codex's `--json` events: spawn, reply in the same thread, abort
//! of an agent that ignores SIGTERM, a task outliving its caller, and many
//! tasks at once.

use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive, read_pid};

const THREAD: &str = r#"out {"type":"thread.started","thread_id":"th-7"}"#;
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;

/// A repo whose agent is run as `codex exec`.
fn codex_env() -> TestEnv {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env
}

/// Spawns a task and returns its id.
fn spawn(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["task", "spawn"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    out.expect_code(0);
    let id = out.stdout().trim().to_string();
    assert!(id.starts_with("t-"), "{id:?}");
    id
}

/// The task's record, as `car task status ID --json` prints it.
fn status(env: &TestEnv, id: &str) -> serde_json::Value {
    let out = env.run(&["task", "status", id, "--json"]);
    out.expect_code(0);
    serde_json::from_str(&out.stdout()).unwrap()
}

/// Waits until the task's state is `want`.
fn wait_state(env: &TestEnv, id: &str, want: &str, timeout: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let rec = status(env, id);
        // A task's runner finishes its record, then appends `task_done`
        // (one per turn).
        let recorded = || {
            let turns = rec["turns"].as_array().map_or(1, Vec::len).max(1);
            let done = task_events(env)
                .iter()
                .filter(|e| e.0 == "task_done" && e.1 == id)
                .count();
            done >= turns
        };
        if rec["state"] == want && (["queued", "running"].contains(&want) || recorded()) {
            return rec;
        }
        assert!(
            start.elapsed() < timeout,
            "task {id} is not {want} after {timeout:?}: {rec:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ledger's task events: (type, task id, state or requested_by).
fn task_events(env: &TestEnv) -> Vec<(String, String, String)> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"].as_str().unwrap().starts_with("task_"))
        .map(|e| {
            let extra = e["state"].as_str().or(e["requested_by"].as_str());
            (
                e["type"].as_str().unwrap().to_string(),
                e["task_id"].as_str().unwrap().to_string(),
                extra.unwrap_or_default().to_string(),
            )
        })
        .collect()
}

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

#[test]
fn a_task_runs_codex_exec_and_records_its_final_output_and_thread() {
    let env = codex_env();
    env.script(&format!(
        "{THREAD}\nout {{\"type\":\"item.completed\",\"item\":{{\"id\":\"i1\",\"type\":\"agent_message\",\"text\":\"thinking\"}}}}\n\
         last-message The answer is 4.\n{DONE}\n"
    ));
    std::fs::create_dir_all(env.path("sub")).unwrap();
    let id = spawn(&env, &["What is 2+2?", "--cwd", "sub", "--model", "m-9"]);
    let rec = wait_state(&env, &id, "succeeded", Duration::from_secs(20));
    assert_eq!(rec["thread_id"], "th-7");
    assert_eq!(rec["exit_code"], 0);
    assert_eq!(rec["prompt"], "What is 2+2?");
    assert_eq!(rec["model"], "m-9");
    assert_eq!(rec["requested_by"], "cli");
    let cwd = std::fs::canonicalize(env.path("sub")).unwrap();
    assert_eq!(rec["cwd"], cwd.display().to_string());
    assert_eq!(rec["turns"][0]["state"], "succeeded");
    assert_eq!(env.agent_prompt(1), b"What is 2+2?");
    let argv = argv_of(&env, 1);
    assert_eq!(argv[..3], ["--model", "m-9", "exec"]);
    assert!(argv.contains(&"--json".to_string()), "{argv:?}");
    assert_eq!(argv.last().unwrap(), "-");

    let text = env.run(&["task", "status", &id]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("State:     succeeded"),
        "{}",
        text.stdout()
    );
    assert!(
        text.stdout().contains("The answer is 4."),
        "{}",
        text.stdout()
    );
    let logs = env.run(&["task", "logs", &id]);
    assert!(
        logs.stdout().contains("codex: agent: thinking"),
        "{}",
        logs.stdout()
    );
    let list = env.run(&["task", "list"]);
    assert!(
        list.stdout()
            .contains(&format!("{id}  succeeded  turn 1  What is 2+2?")),
        "{}",
        list.stdout()
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["task", "list", "--json"]).stdout()).unwrap();
    assert_eq!(json["total"], 1);
    assert_eq!(json["tasks"][0]["id"], id.as_str());
    assert_eq!(
        task_events(&env),
        [
            ("task_spawned".into(), id.clone(), "cli".into()),
            ("task_done".into(), id.clone(), "succeeded".into()),
        ]
    );
    env.expect_no_agent_process("after the task", Duration::from_secs(5));
}

#[test]
fn a_reply_resumes_the_same_codex_thread_as_a_new_turn() {
    let env = codex_env();
    env.script(&format!(
        "{THREAD}\nlast-message first answer\n{DONE}\n---\n\
         save-prompt reply-seen\nlast-message second answer\n{DONE}\n"
    ));
    let id = spawn(&env, &["start"]);
    wait_state(&env, &id, "succeeded", Duration::from_secs(20));
    let out = env.run(&["task", "reply", &id, "and now the tests"]);
    out.expect_code(0);
    assert!(out.stdout().contains("turn 2 started"), "{}", out.stdout());
    let rec = wait_state(&env, &id, "succeeded", Duration::from_secs(20));
    assert_eq!(rec["turns"].as_array().unwrap().len(), 2);
    assert_eq!(rec["turns"][1]["n"], 2);
    assert_eq!(
        rec["thread_id"], "th-7",
        "the thread of the first turn is kept"
    );
    let argv = argv_of(&env, 2);
    let tail: Vec<&str> = argv
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(tail, ["resume", "th-7", "-"], "{argv:?}");
    assert_eq!(env.read("reply-seen"), "and now the tests");
    assert!(
        env.run(&["task", "status", &id])
            .stdout()
            .contains("second answer")
    );
    // Both turns' output is in the one log.
    let logs = env.run(&["task", "logs", &id, "-f"]);
    assert_eq!(
        logs.stdout().matches("codex: turn completed").count(),
        2,
        "{}",
        logs.stdout()
    );
    let events: Vec<String> = task_events(&env).into_iter().map(|e| e.0).collect();
    assert_eq!(
        events,
        ["task_spawned", "task_done", "task_reply", "task_done"]
    );
}

#[test]
fn abort_ends_an_agent_that_ignores_sigterm_and_everything_it_started() {
    let env = codex_env();
    env.config("runner:\n  kill_grace_seconds: 1\n");
    let grandchild = env.path("grandchild.pid");
    env.script(&format!(
        "{THREAD}\nignore-term\nspawn-grandchild {} 120\nwrite-pid agent.pid\nout-every 0.1 busy\n",
        grandchild.display()
    ));
    let id = spawn(&env, &["work forever"]);
    env.wait_for("the agent", Duration::from_secs(20), || {
        env.path("agent.pid").exists() && grandchild.exists()
    });
    let rec = status(&env, &id);
    assert_eq!(rec["state"], "running");
    // A running task takes no reply.
    let busy = env.run(&["task", "reply", &id, "more"]);
    busy.expect_code(1);
    assert!(busy.stderr().contains("has not ended"), "{}", busy.stderr());
    assert!(
        busy.stderr().contains("car task abort"),
        "{}",
        busy.stderr()
    );

    let start = Instant::now();
    let out = env.run(&["task", "abort", &id]);
    out.expect_code(0);
    assert!(out.stdout().contains("cancelled"), "{}", out.stdout());
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    let (agent, gc) = (read_pid(&env.path("agent.pid")), read_pid(&grandchild));
    assert!(
        !alive(agent) && !alive(gc),
        "agent {agent} or grandchild {gc} survived"
    );
    env.expect_no_agent_process("after the abort", Duration::from_secs(2));
    let rec = status(&env, &id);
    assert_eq!(rec["state"], "cancelled");
    assert_eq!(rec["runner_pid"], serde_json::Value::Null);
    assert_eq!(
        task_events(&env),
        [
            ("task_spawned".into(), id.clone(), "cli".into()),
            ("task_aborted".into(), id.clone(), "cli".into()),
            ("task_done".into(), id.clone(), "cancelled".into()),
        ]
    );
    // Aborting again says it is over; following it ends at once.
    let again = env.run(&["task", "abort", &id]);
    again.expect_code(0);
    assert!(
        again.stdout().contains("already ended (cancelled)"),
        "{}",
        again.stdout()
    );
    assert!(
        env.run(&["task", "logs", &id, "-f"])
            .stdout()
            .contains("busy")
    );
}

#[test]
fn the_task_goes_on_after_its_caller_exits_in_a_session_of_its_own() {
    let env = codex_env();
    env.script(&format!(
        "{THREAD}\nwrite-pid agent.pid\nwait-file go 20\nlast-message finished alone\n{DONE}\n"
    ));
    let id = spawn(&env, &["long job"]);
    // The caller has exited; the task's process lives on.
    env.wait_for("the agent", Duration::from_secs(20), || {
        env.path("agent.pid").exists()
    });
    let rec = status(&env, &id);
    assert_eq!(rec["state"], "running");
    let runner = i32::try_from(rec["runner_pid"].as_u64().unwrap()).unwrap();
    assert!(alive(runner));
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(runner))).unwrap();
    assert_eq!(
        sid.as_raw(),
        runner,
        "the task's process leads a session of its own"
    );
    // Anyone can re-attach to its output and read to the end.
    let follower = env
        .car(&["task", "logs", &id, "-f"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.write("go", "");
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("codex: turn completed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rec = wait_state(&env, &id, "succeeded", Duration::from_secs(10));
    assert_eq!(rec["exit_code"], 0);
    assert!(
        env.run(&["task", "status", &id])
            .stdout()
            .contains("finished alone")
    );
}

#[test]
fn twenty_tasks_at_once_all_finish() {
    let env = codex_env();
    env.script(&format!("{THREAD}\nsleep 0.2\nlast-message done\n{DONE}\n"));
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let env = &env;
                s.spawn(move || spawn(env, &[&format!("task number {i}")]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20, "{ids:?}");
    for (i, id) in ids.iter().enumerate() {
        let rec = wait_state(&env, id, "succeeded", Duration::from_secs(60));
        assert_eq!(rec["prompt"], format!("task number {i}"));
        let prompt = env.read(&format!(".codex-autorunner/jobs/{id}/turns/1/prompt.md"));
        assert_eq!(prompt, format!("task number {i}"));
    }
    let list: serde_json::Value = serde_json::from_str(
        &env.run(&["task", "list", "--json", "--limit", "5"])
            .stdout(),
    )
    .unwrap();
    assert_eq!(list["total"], 20);
    assert_eq!(list["tasks"].as_array().unwrap().len(), 5);
    let done = task_events(&env)
        .iter()
        .filter(|e| e.0 == "task_done" && e.2 == "succeeded")
        .count();
    assert_eq!(done, 20);
    env.expect_no_agent_process("after twenty tasks", Duration::from_secs(5));
}

#[test]
fn unknown_tasks_and_bad_requests_are_usage_errors() {
    let env = codex_env();
    let out = env.run(&["task", "status", "t-nope"]);
    out.expect_code(2);
    assert!(
        out.stderr().contains("no task t-nope is recorded"),
        "{}",
        out.stderr()
    );
    env.run(&["task", "abort", "../../etc"]).expect_code(2);
    let out = env.run(&["task", "spawn", "x", "--cwd", "/"]);
    out.expect_code(2);
    assert!(
        out.stderr().contains("outside the repository"),
        "{}",
        out.stderr()
    );
    env.run(&["task", "spawn", "  "]).expect_code(2);
    assert!(
        !env.path(".codex-autorunner/jobs").exists()
            || env.run(&["task", "list"]).stdout().contains("no tasks")
    );
}
