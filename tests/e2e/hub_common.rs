//! Helpers shared by the hub tests: the hub ledger, each repository's state,
//! the supervisor's pid and the fake agents alive.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{FAKE_AGENT, TestEnv, alive, processes_with_env};
use crate::hub_registry::hub_with;

/// A hub holding repositories `names`, scanned, each with car initialised,
/// the fake agent configured and `todo` as its TODO.
pub(crate) fn hub_of(names: &[&str], todo: &str) -> TestEnv {
    let env = hub_with(names);
    env.run(&["hub", "scan"]).expect_code(0);
    for n in names {
        env.write(
            &format!("{n}/.codex-autorunner/config.yml"),
            &format!(
                "version: 2\nmode: repo\ncodex:\n  binary: {FAKE_AGENT}\n  args: []\nrunner:\n  sleep_seconds: 0\n  kill_grace_seconds: 2\n"
            ),
        );
        env.write(&format!("{n}/.codex-autorunner/TODO.md"), todo);
    }
    env
}

/// The hub ledger's events, as (event, repo).
pub(crate) fn events(env: &TestEnv) -> Vec<(String, String)> {
    std::fs::read_to_string(env.path(".codex-autorunner/hub/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["event"].as_str().unwrap().to_string(),
                v["repo"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// How many `event`s the hub ledger holds for `repo`.
pub(crate) fn count(env: &TestEnv, event: &str, repo: &str) -> usize {
    events(env)
        .iter()
        .filter(|(e, r)| e == event && r == repo)
        .count()
}

/// The fake agents alive now (not the car processes) whose script is one
/// of `scripts`.
pub(crate) fn agents_alive_for(scripts: &[PathBuf]) -> usize {
    scripts
        .iter()
        .flat_map(|s| processes_with_env("FAKE_AGENT_SCRIPT", s.as_os_str()))
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).next() == Some(FAKE_AGENT.as_bytes()))
        })
        .count()
}

/// The fake agents of this env alive now (not the car processes).
pub(crate) fn agents_alive(env: &TestEnv) -> usize {
    agents_alive_for(std::slice::from_ref(&env.script))
}

/// `state.json` of the repository at `repo` (relative to the hub root).
pub(crate) fn state_of(env: &TestEnv, repo: &str) -> serde_json::Value {
    std::fs::read_to_string(env.path(&format!("{repo}/.codex-autorunner/state.json")))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The pid of the hub's supervisor, while it is alive.
pub(crate) fn supervisor_pid(env: &TestEnv) -> Option<i32> {
    std::fs::read_to_string(env.path(".codex-autorunner/hub/supervisor.lock"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|&p| alive(p))
}

pub(crate) fn wait_supervisor_gone(env: &TestEnv) {
    env.wait_for("the supervisor to end", Duration::from_secs(20), || {
        supervisor_pid(env).is_none()
    });
}

/// SIGKILLs the supervisor `pid` and waits until its lock is gone (that is
/// when its last thread is gone, which may be after its main thread shows
/// as dead).
pub(crate) fn kill_supervisor(env: &TestEnv, pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let lock = env.path(".codex-autorunner/hub/supervisor.lock");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&lock).unwrap());
    env.wait_for(
        "the supervisor's lock to go",
        Duration::from_secs(5),
        || {
            !alive(pid)
                && !std::fs::read_to_string("/proc/locks")
                    .unwrap()
                    .lines()
                    .any(|l| {
                        l.split_whitespace()
                            .nth(5)
                            .is_some_and(|f| f.ends_with(&format!(":{ino}")))
                    })
        },
    );
}
