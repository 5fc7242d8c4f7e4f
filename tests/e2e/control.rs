//! Control from another process: a loop started by `car run` is stopped
//! through the library, and `car status` says who asked.

use std::process::{Child, Stdio};
use std::time::Duration;

use car_core::{LoadOptions, Repo, RequestedBy, Requester, StopReport};

use crate::common::{TestEnv, alive, read_pid};

/// Starts `car run` on an agent that works until stopped; returns the
/// runner once the agent is running.
fn running_loop(env: &TestEnv) -> Child {
    env.todo("- [ ] a\n");
    let agent_pid = env.root.join("agent.pid");
    env.script(&format!(
        "write-pid {}\nout working\nsleep 60\n",
        agent_pid.display()
    ));
    let runner = env
        .car(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for("the agent", Duration::from_secs(30), || agent_pid.exists());
    runner
}

fn status_json(env: &TestEnv) -> serde_json::Value {
    let r = env.run(&["status", "--json"]);
    r.expect_code(0);
    serde_json::from_str(&r.stdout()).unwrap()
}

#[test]
fn a_loop_stopped_through_the_library_records_that_the_api_asked() {
    let env = TestEnv::new();
    let mut runner = running_loop(&env);
    let agent = read_pid(&env.root.join("agent.pid"));
    // This test process is the other process: it opens the repo and asks.
    let repo = Repo::open_with(&env.root, &LoadOptions::default()).unwrap();
    let control = repo.control(Requester::new(RequestedBy::Api, "e2e web ui"));
    assert!(control.is_running());
    let report = control.stop_now().unwrap();
    assert_eq!(report, StopReport::Requested { pid: runner.id() });
    assert_eq!(runner.wait().unwrap().code(), Some(130));
    assert!(!alive(agent), "the agent survived the stop");
    let s = status_json(&env)["state"].clone();
    assert_eq!(s["stop_reason"], "killed");
    assert_eq!(s["stop_requested_by"], "api");
    assert_eq!(s["stop_origin"], "e2e web ui");
    let detail = s["stop_detail"].as_str().unwrap();
    assert!(!detail.contains("car kill"), "{detail}");
    let text = env.run(&["status"]).stdout();
    assert!(text.contains("Stopped by:  api (e2e web ui)"), "{text}");
    assert_eq!(env.run_record(1)["outcome"], "killed");
}

#[test]
fn car_kill_and_a_stop_after_the_run_are_recorded_as_the_command_line() {
    let env = TestEnv::new();
    let mut runner = running_loop(&env);
    env.run(&["kill"]).expect_code(0);
    assert_eq!(runner.wait().unwrap().code(), Some(130));
    let s = status_json(&env)["state"].clone();
    assert_eq!(s["stop_reason"], "killed");
    assert_eq!(s["stop_requested_by"], "cli");
    assert_eq!(s["stop_detail"], "run 1 was killed");

    // A stop asked by a bot is shown as pending with who asked, then
    // recorded when the loop honours it between runs.
    env.script("out done\n");
    let repo = Repo::open_with(&env.root, &LoadOptions::default()).unwrap();
    let bot = repo.control(Requester::new(RequestedBy::Bot, "chat 42"));
    assert_eq!(bot.stop_after_run().unwrap(), StopReport::NotRunning);
    let pending = status_json(&env);
    assert_eq!(pending["stop_request"]["requested_by"], "bot");
    assert!(
        env.run(&["status"])
            .stdout()
            .contains("Stop:        requested by bot (chat 42)")
    );
}
