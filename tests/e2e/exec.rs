//! `car exec`: commands (`sh -c CMD`) as processes of their own: both
//! streams kept apart and byte-exact, tail, cancel of a command that
//! ignores SIGTERM and leaves its session, a command outliving its caller
//! with `logs -f` re-attaching, the cwd rules, and many at once.

use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive, read_pid};

/// Starts a command and returns its id.
fn start(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["exec", "start"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    out.expect_code(0);
    let id = out.stdout().trim().to_string();
    assert!(id.starts_with("x-"), "{id:?}");
    id
}

fn status(env: &TestEnv, id: &str) -> serde_json::Value {
    let out = env.run(&["exec", "status", id, "--json"]);
    out.expect_code(0);
    serde_json::from_str(&out.stdout()).unwrap()
}

fn wait_done(env: &TestEnv, id: &str, timeout: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let rec = status(env, id);
        // The runner finishes the record, then appends `exec_done`.
        let done = ["succeeded", "failed", "cancelled"].contains(&rec["state"].as_str().unwrap());
        if done
            && exec_events(env)
                .iter()
                .any(|e| e.0 == "exec_done" && e.1 == id)
        {
            return rec;
        }
        assert!(start.elapsed() < timeout, "{id} not over: {rec:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn logs(env: &TestEnv, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["exec", "logs"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    out.expect_code(0);
    out.0.stdout
}

/// The ledger's command events: (type, id, state or requested_by).
fn exec_events(env: &TestEnv) -> Vec<(String, String, String)> {
    env.read(".codex-autorunner/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"].as_str().unwrap().starts_with("exec_"))
        .map(|e| {
            let extra = e["state"].as_str().or(e["requested_by"].as_str());
            (
                e["type"].as_str().unwrap().to_string(),
                e["exec_id"].as_str().unwrap().to_string(),
                extra.unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn exit_code_and_both_streams_are_kept_apart_byte_exact_and_tailed() {
    let env = TestEnv::new();
    let id = start(
        &env,
        &[r"printf 'one\ntwo\r\n\377\376three\n'; printf 'e1\000\nlast' >&2; exit 7"],
    );
    let rec = wait_done(&env, &id, Duration::from_secs(20));
    assert_eq!(rec["state"], "failed");
    assert_eq!(rec["exit_code"], 7);
    assert_eq!(rec["signal"], serde_json::Value::Null);
    assert!(rec["started_at"].is_string() && rec["finished_at"].is_string());
    assert_eq!(rec["requested_by"], "cli");
    let out = b"one\ntwo\r\n\xff\xfethree\n";
    assert_eq!(logs(&env, &[&id]), out);
    assert_eq!(
        std::fs::read(env.path(&format!(".codex-autorunner/jobs/{id}/stdout.log"))).unwrap(),
        out
    );
    assert_eq!(logs(&env, &[&id, "--stream", "stderr"]), b"e1\0\nlast");
    assert_eq!(logs(&env, &[&id, "--tail", "2"]), b"two\r\n\xff\xfethree\n");
    assert_eq!(
        logs(&env, &[&id, "--stream", "stderr", "--tail", "1"]),
        b"last"
    );
    assert_eq!(logs(&env, &[&id, "--tail", "0"]), b"");
    assert_eq!(logs(&env, &[&id, "--tail", "99", "-f"]), out);
    let ok = start(&env, &["true"]);
    let rec = wait_done(&env, &ok, Duration::from_secs(20));
    assert_eq!(
        (rec["state"].as_str(), rec["exit_code"].as_i64()),
        (Some("succeeded"), Some(0))
    );
    assert_eq!(
        exec_events(&env),
        [
            ("exec_started".into(), id.clone(), "cli".into()),
            ("exec_done".into(), id.clone(), "failed".into()),
            ("exec_started".into(), ok.clone(), "cli".into()),
            ("exec_done".into(), ok.clone(), "succeeded".into()),
        ]
    );
    let list = env.run(&["exec", "list"]);
    list.expect_code(0);
    assert!(
        list.stdout().lines().next().unwrap().starts_with(&ok),
        "{}",
        list.stdout()
    );
    // Tasks and commands share the jobs directory, not their lists.
    assert!(env.run(&["task", "list"]).stdout().contains("no tasks"));
}

#[test]
fn cancel_ends_a_command_ignoring_sigterm_and_a_child_in_its_own_session() {
    let env = TestEnv::new();
    env.config("runner:\n  kill_grace_seconds: 1\n");
    let cmd = "trap '' TERM; setsid sh -c 'echo $$ > child.pid; exec sleep 120' & \
               echo $$ > sh.pid; while :; do sleep 0.1; done";
    let id = start(&env, &[cmd]);
    env.wait_for("the command and its child", Duration::from_secs(20), || {
        env.path("sh.pid").exists() && env.path("child.pid").exists()
    });
    assert_eq!(status(&env, &id)["state"], "running");
    let started = Instant::now();
    let out = env.run(&["exec", "cancel", &id]);
    out.expect_code(0);
    assert!(out.stdout().contains("cancelled"), "{}", out.stdout());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let (sh, child) = (
        read_pid(&env.path("sh.pid")),
        read_pid(&env.path("child.pid")),
    );
    env.wait_for("nothing left", Duration::from_secs(3), || {
        !alive(sh) && !alive(child)
    });
    env.expect_no_agent_process("after the cancel", Duration::from_secs(3));
    let rec = status(&env, &id);
    assert_eq!(rec["state"], "cancelled");
    assert_eq!(rec["runner_pid"], serde_json::Value::Null);
    assert_eq!(
        exec_events(&env),
        [
            ("exec_started".into(), id.clone(), "cli".into()),
            ("exec_cancelled".into(), id.clone(), "cli".into()),
            ("exec_done".into(), id.clone(), "cancelled".into()),
        ]
    );
    let again = env.run(&["exec", "cancel", &id]);
    again.expect_code(0);
    assert!(
        again.stdout().contains("already ended (cancelled)"),
        "{}",
        again.stdout()
    );
}

#[test]
fn the_command_goes_on_after_its_caller_exits_and_logs_follow_reattaches() {
    let env = TestEnv::new();
    let id = start(
        &env,
        &["echo first; while [ ! -e go ]; do sleep 0.05; done; echo second; echo err >&2"],
    );
    env.wait_for("the first line", Duration::from_secs(20), || {
        logs(&env, &[&id]) == b"first\n"
    });
    let rec = status(&env, &id);
    assert_eq!(rec["state"], "running");
    let runner = i32::try_from(rec["runner_pid"].as_u64().unwrap()).unwrap();
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(runner))).unwrap();
    assert_eq!(
        sid.as_raw(),
        runner,
        "the command's process leads its session"
    );
    // A follower that went away, then one re-attaching from the last line.
    let follower = env
        .car(&["exec", "logs", &id, "-f", "--tail", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.write("go", "");
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"first\nsecond\n");
    let rec = wait_done(&env, &id, Duration::from_secs(10));
    assert_eq!(
        (rec["state"].as_str(), rec["exit_code"].as_i64()),
        (Some("succeeded"), Some(0))
    );
    assert_eq!(logs(&env, &[&id, "--stream", "stderr", "-f"]), b"err\n");
    env.expect_no_agent_process("after the command", Duration::from_secs(3));
}

#[test]
fn a_cwd_outside_the_repository_and_unknown_ids_are_refused() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("sub")).unwrap();
    let id = start(&env, &["pwd", "--cwd", "sub"]);
    wait_done(&env, &id, Duration::from_secs(20));
    let pwd = String::from_utf8(logs(&env, &[&id])).unwrap();
    assert!(pwd.trim_end().ends_with("/sub"), "{pwd}");
    let outside = tempfile::tempdir().unwrap();
    let out = env.run(&[
        "exec",
        "start",
        "true",
        "--cwd",
        outside.path().to_str().unwrap(),
    ]);
    out.expect_code(2);
    assert!(
        out.stderr().contains("outside the repository"),
        "{}",
        out.stderr()
    );
    let out = env.run(&["exec", "start", "true", "--cwd", "../.."]);
    out.expect_code(2);
    env.run(&["exec", "start", "  "]).expect_code(2);
    for args in [
        &["exec", "status", "x-nope"][..],
        &["exec", "cancel", "../../etc"],
        &["exec", "logs", "t-1", "-f"],
    ] {
        let out = env.run(args);
        out.expect_code(2);
        assert!(out.stderr().contains("no command"), "{}", out.stderr());
    }
    assert_eq!(exec_events(&env).len(), 2);
}

#[test]
fn twenty_commands_at_once_all_finish() {
    let env = TestEnv::new();
    let ids: Vec<String> = (0..20)
        .map(|i| start(&env, &[&format!("sleep 0.2; echo {i}; exit {}", i % 3)]))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let rec = wait_done(&env, id, Duration::from_secs(60));
        assert_eq!(rec["exit_code"], i % 3, "{rec:#}");
        assert_eq!(logs(&env, &[id]), format!("{i}\n").into_bytes());
    }
    let page: serde_json::Value =
        serde_json::from_str(&env.run(&["exec", "list", "--json"]).stdout()).unwrap();
    assert_eq!(page["total"], 20);
    env.expect_no_agent_process("after twenty commands", Duration::from_secs(3));
}

#[test]
fn a_command_gets_the_agents_environment_without_car_secrets() {
    let env = TestEnv::new();
    env.config("server:\n  auth_token_env: MY_SERVE_TOKEN\nnotifications:\n  webhook:\n    url_env: MY_HOOK\ncodex:\n  env:\n    FROM_CODEX_ENV: set\n");
    let out = env
        .car(&["exec", "start", "env"])
        .env("MY_SERVE_TOKEN", "tok-secret")
        .env("MY_HOOK", "http://hook.invalid/secret")
        .env("CAR_NTFY_TOKEN", "ntfy-secret")
        .env("KEPT_VAR", "kept")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let rec = wait_done(&env, &id, Duration::from_secs(20));
    assert_eq!(rec["state"], "succeeded", "{rec:#}");
    let seen = String::from_utf8(logs(&env, &[&id])).unwrap();
    assert!(seen.lines().any(|l| l == "KEPT_VAR=kept"), "{seen}");
    assert!(seen.lines().any(|l| l == "FROM_CODEX_ENV=set"), "{seen}");
    assert!(seen.lines().any(|l| l.starts_with("PATH=")), "{seen}");
    for secret in ["tok-secret", "hook.invalid", "ntfy-secret"] {
        assert!(
            !seen.contains(secret),
            "{secret} leaked into a command: {seen}"
        );
    }
    // The marker that lets car find the command's processes stays.
    assert!(seen.lines().any(|l| l.starts_with("CAR_RUN=")), "{seen}");
}
