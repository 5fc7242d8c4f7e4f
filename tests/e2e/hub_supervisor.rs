//! The hub's supervisor: `car hub start|stop|run` run many loops at once
//! within `hub.max_parallel_loops`, in request order; a killed supervisor
//! re-adopts the running loops; a crashing loop is restarted with backoff,
//! then given up with a notification.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::fake_http::{Answer, FakeHttp};
use crate::hub_common::{
    agents_alive, count, events, hub_of, kill_supervisor, state_of, supervisor_pid,
    wait_supervisor_gone,
};

/// A hub holding repositories `names`, each with car initialised, the fake
/// agent configured and `todo` as its TODO; `hub_yaml` is the hub's
/// `hub:` mapping.
fn hub(names: &[&str], todo: &str, hub_yaml: &str) -> TestEnv {
    let env = hub_of(names, todo);
    let cfg = env.read(".codex-autorunner/config.yml");
    env.write(
        ".codex-autorunner/config.yml",
        &format!("{cfg}hub:\n{hub_yaml}"),
    );
    env
}

/// Samples the live agents until every repo of `names` completed; returns
/// the most seen alive at once.
fn run_to_completion(env: &TestEnv, names: &[&str], timeout: Duration) -> usize {
    let start = Instant::now();
    let mut most = 0;
    loop {
        most = most.max(agents_alive(env));
        if names
            .iter()
            .all(|n| state_of(env, n)["stop_reason"] == "completed")
        {
            return most;
        }
        assert!(
            start.elapsed() < timeout,
            "not all completed: {:?}; hub events: {:?}",
            names
                .iter()
                .map(|n| state_of(env, n)["stop_reason"].clone())
                .collect::<Vec<_>>(),
            events(env)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const NAMES: [&str; 5] = ["r1", "r2", "r3", "r4", "r5"];

#[test]
fn many_loops_run_within_the_cap_in_request_order_and_all_complete() {
    let env = hub(
        &NAMES,
        "- [ ] one\n- [ ] two\n",
        "  max_parallel_loops: 2\n",
    );
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md x\nappend runs.log x\nsleep 0.6\n");
    // Asked in an order that is not the manifest's: the queue keeps it.
    let order = ["r4", "r2", "r5", "r1", "r3"];
    let mut args = vec!["hub", "start"];
    args.extend(order);
    let out = env.run(&args);
    out.expect_code(0);
    assert!(
        out.stdout().contains("hub supervisor started"),
        "{}",
        out.stdout()
    );
    // Three of the five wait for a slot (each loop takes over a second),
    // and the status says so, here and over JSON.
    let status = env.run(&["hub", "status"]);
    status.expect_code(0);
    let queued = status
        .stdout()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("queued"))
        .count();
    assert!(queued >= 3, "{}", status.stdout());
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["hub", "status", "--json"]).stdout()).unwrap();
    assert!(
        json["repos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["state"] == "queued"),
        "{json}"
    );

    let most = run_to_completion(&env, &NAMES, Duration::from_secs(90));
    assert!(
        most <= 2,
        "{most} agents alive at once with max_parallel_loops 2"
    );
    assert_eq!(most, 2, "the loops never ran side by side");
    let started: Vec<String> = events(&env)
        .into_iter()
        .filter(|(e, _)| e == "loop_started")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(started, order, "loops start in request order, once each");
    // The detached supervisor ends once nothing is wanted.
    wait_supervisor_gone(&env);
    let q: serde_json::Value =
        serde_json::from_str(&env.read(".codex-autorunner/hub/queue.json")).unwrap();
    assert_eq!(q["wishes"], serde_json::json!([]));
}

#[test]
fn a_killed_supervisor_is_restarted_and_adopts_loops_without_duplicates() {
    let names = &NAMES[..4];
    let env = hub(
        names,
        "- [ ] one\n- [ ] two\n- [ ] three\n",
        "  max_parallel_loops: 2\n",
    );
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md x\nappend runs.log x\nsleep 0.5\n");
    env.run(&["hub", "start", "--all"]).expect_code(0);
    env.wait_for("two loops started", Duration::from_secs(20), || {
        events(&env)
            .iter()
            .filter(|(e, _)| e == "loop_started")
            .count()
            == 2
            && agents_alive(&env) > 0
    });
    let pid = supervisor_pid(&env).expect("a supervisor runs");
    kill_supervisor(&env, pid);
    // The loops it started keep running without it.
    let running_now: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| state_of(&env, n)["status"] == "running")
        .collect();
    assert!(
        !running_now.is_empty(),
        "killing the supervisor stopped its loops"
    );
    // A second `run` refuses while one runs; `start` without ids starts one.
    let out = env.run(&["hub", "start"]);
    out.expect_code(0);
    assert!(
        out.stdout().contains("hub supervisor started"),
        "{}",
        out.stdout()
    );
    // `--until-idle`: should the started one have ended already (its loops
    // done), this one ends too instead of running on.
    let again = env.run(&["hub", "run", "--until-idle"]);
    assert!(
        again.code() == 0 || again.stderr().contains("supervisor runs already"),
        "{}",
        again.stderr()
    );

    let most = run_to_completion(&env, names, Duration::from_secs(90));
    assert!(most <= 2, "{most} agents alive at once");
    wait_supervisor_gone(&env);
    let runs: HashMap<&str, usize> = names
        .iter()
        .map(|n| (*n, env.read(&format!("{n}/runs.log")).lines().count()))
        .collect();
    for n in names {
        assert_eq!(
            count(&env, "loop_started", n),
            1,
            "{n} started more than once"
        );
        assert_eq!(runs[n], runs[names[0]], "agent runs differ: {runs:?}");
    }
    assert_eq!(
        runs[names[0]], 4,
        "one agent run per TODO item, then the summary: {runs:?}"
    );
}

#[test]
fn a_crashing_loop_is_restarted_with_backoff_then_given_up_with_a_notification() {
    let hook = FakeHttp::start(vec![], Answer::ok("{}"));
    let env = hub(
        &["crashy"],
        "- [ ] one\n",
        "  restart_max: 2\n  restart_backoff_seconds: 0.3\n",
    );
    // The agent SIGKILLs its runner: the runner dies without recording why.
    env.script("kill-runner 9\nsleep 5\n");
    let out = env
        .car(&["hub", "start", "crashy"])
        .env("CAR_WEBHOOK_URL", format!("{}/hook", hook.url()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.wait_for("the supervisor to give up", Duration::from_secs(60), || {
        count(&env, "gave_up", "crashy") == 1
    });
    wait_supervisor_gone(&env);
    assert_eq!(
        count(&env, "loop_started", "crashy"),
        3,
        "{:?}",
        events(&env)
    );
    assert_eq!(count(&env, "restart_scheduled", "crashy"), 2);
    assert_eq!(state_of(&env, "crashy")["stop_reason"], "crashed");
    let told: Vec<serde_json::Value> = hook
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|j| j["title"].as_str().unwrap_or("").contains("keeps crashing"))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["repo"], "crashy");
    assert_eq!(count(&env, "notified", "crashy"), 1, "{:?}", events(&env));
}

#[test]
fn stop_unqueues_waiting_loops_and_stops_running_ones_without_a_restart() {
    let env = hub(
        &["a", "b"],
        "- [ ] one\n- [ ] two\n",
        "  max_parallel_loops: 1\n",
    );
    env.script("sleep 30\n");
    env.run(&["hub", "start", "a", "b"]).expect_code(0);
    env.wait_for("a's agent", Duration::from_secs(20), || {
        agents_alive(&env) == 1
    });
    let out = env.run(&["hub", "stop", "b"]);
    out.expect_code(0);
    assert!(out.stdout().contains("unqueued b"), "{}", out.stdout());
    let out = env.run(&["hub", "stop", "a", "--now"]);
    out.expect_code(0);
    assert!(out.stdout().contains("stopping a now"), "{}", out.stdout());
    wait_supervisor_gone(&env);
    // The loop's own supervisor ends its agent's group a moment after the
    // runner stops; nothing is left running.
    env.wait_for("a's agent gone", Duration::from_secs(10), || {
        agents_alive(&env) == 0
    });
    assert_ne!(state_of(&env, "a")["stop_reason"], "crashed");
    assert_eq!(
        count(&env, "loop_started", "b"),
        0,
        "a stopped wish was started"
    );
    assert_eq!(
        count(&env, "restart_scheduled", "a"),
        0,
        "a stop by a person was restarted"
    );
    let bad = env.run(&["hub", "start", "nope"]);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stderr().contains("no repository `nope`"),
        "{}",
        bad.stderr()
    );
}

/// Sets `key: value` in repository `id`'s manifest entry.
fn set_in_manifest(env: &TestEnv, id: &str, key: &str, from: &str, to: &str) {
    let text = env.read(".codex-autorunner/manifest.yml");
    let parts: Vec<String> = text
        .split("- id: ")
        .map(|p| {
            if p.starts_with(&format!("{id}\n")) {
                p.replace(&format!("{key}: {from}"), &format!("{key}: {to}"))
            } else {
                p.to_string()
            }
        })
        .collect();
    env.write(".codex-autorunner/manifest.yml", &parts.join("- id: "));
}

#[test]
fn auto_run_repos_start_with_the_supervisor_and_disabled_ones_are_refused() {
    let env = hub(&["a", "b", "c"], "- [ ] one\n", "  max_parallel_loops: 4\n");
    env.script("check-todo\nappend .codex-autorunner/SUMMARY.md x\nappend runs.log x\n");
    set_in_manifest(&env, "b", "auto_run", "false", "true");
    set_in_manifest(&env, "c", "enabled", "true", "false");
    let out = env.run(&["hub", "start", "c"]);
    assert_ne!(out.code(), 0);
    assert!(out.stderr().contains("`c` is disabled"), "{}", out.stderr());

    env.run(&["hub", "run", "--until-idle"]).expect_code(0);
    assert_eq!(state_of(&env, "b")["stop_reason"], "completed");
    assert_eq!(count(&env, "loop_started", "b"), 1);
    assert_eq!(count(&env, "loop_started", "a"), 0);
    assert_eq!(count(&env, "loop_started", "c"), 0);
}

#[test]
fn sigterm_ends_the_foreground_supervisor_and_never_a_loop() {
    let env = hub(&["a"], "- [ ] one\n", "  max_parallel_loops: 1\n");
    env.script("sleep 30\n");
    let mut sup = env.car(&["hub", "run"]).spawn().unwrap();
    env.wait_for("the supervisor", Duration::from_secs(10), || {
        supervisor_pid(&env).is_some()
    });
    let out = env.run(&["hub", "start", "a"]);
    out.expect_code(0);
    assert!(
        out.stdout().contains("hub supervisor running"),
        "{}",
        out.stdout()
    );
    env.wait_for("a's agent", Duration::from_secs(20), || {
        agents_alive(&env) == 1
    });
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = sup.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "slow to end");
    assert_eq!(agents_alive(&env), 1, "the loop ended with the supervisor");
    assert_eq!(state_of(&env, "a")["status"], "running");
    env.run(&["hub", "stop", "a", "--now"]).expect_code(0);
    env.wait_for("a to stop", Duration::from_secs(20), || {
        agents_alive(&env) == 0
    });
}
