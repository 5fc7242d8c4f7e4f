//! `car ledger publish` and `car ledger status`: the event ledger committed
//! to a branch of its own and pushed to a local bare repository as
//! `origin`, the user's checkout (work tree, index, HEAD, stash) left as it
//! was, a commit only when something changed, a failing or rejected push
//! reported and recovered, a hub's repositories under their ids, SIGTERM
//! ending the publisher cleanly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, git};
use crate::hub_common::hub_of;

/// A repository with a commit, a remote `origin` (a bare repository next
/// to it, at `origin.git`, created unless `create_origin` is false) and a
/// dirty checkout: a staged file, a modified tracked file, an untracked one.
pub(crate) fn repo_with_origin(create_origin: bool) -> (TestEnv, PathBuf) {
    let env = TestEnv::new();
    let origin = env.root.parent().unwrap().join("origin.git");
    if create_origin {
        git(
            env.root.parent().unwrap(),
            &["init", "-q", "--bare", "origin.git"],
        );
    }
    env.write("README.md", "hello\n");
    git(&env.root, &["add", "README.md"]);
    git(&env.root, &["commit", "-q", "-m", "first"]);
    git(
        &env.root,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    env.write("README.md", "hello, changed\n");
    env.write("staged.txt", "staged\n");
    git(&env.root, &["add", "staged.txt"]);
    env.write("untracked.txt", "mine\n");
    (env, origin)
}

/// What the user sees of their checkout.
fn checkout(root: &Path) -> Vec<String> {
    [
        vec!["status", "--porcelain", "--untracked-files=all"],
        vec!["rev-parse", "HEAD"],
        vec!["symbolic-ref", "HEAD"],
        vec!["diff", "--cached", "--name-status"],
        vec!["diff", "--name-status"],
        vec!["stash", "list"],
    ]
    .iter()
    .map(|a| git(root, a))
    .collect()
}

/// Runs `car exec start CMD` and waits for its `exec_done`.
pub(crate) fn exec(env: &TestEnv, cmd: &str) {
    let out = env.run(&["exec", "start", cmd]);
    out.expect_code(0);
    let id = out.stdout().trim().to_string();
    env.wait_for("exec_done", Duration::from_secs(10), || {
        env.read(".codex-autorunner/events.jsonl")
            .lines()
            .any(|l| l.contains("\"exec_done\"") && l.contains(&id))
    });
}

fn ledger_lines(env: &TestEnv) -> usize {
    env.read(".codex-autorunner/events.jsonl").lines().count()
}

fn commits(origin: &Path, rev: &str) -> usize {
    git(origin, &["rev-list", "--count", rev])
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn ledger_publish_commits_to_its_own_branch_only_when_changed_and_leaves_the_checkout_alone() {
    let (env, origin) = repo_with_origin(true);
    exec(&env, "API_TOKEN=hunter2secret echo hi");
    let before = checkout(&env.root);

    let out = env.run(&["ledger", "publish", "--once"]);
    out.expect_code(0);
    assert!(
        out.stdout().contains("car: ledger: committed"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("pushed"), "{}", out.stdout());
    assert_eq!(checkout(&env.root), before, "the checkout changed");
    // Only the ledger's branch was added.
    let current = git(&env.root, &["branch", "--show-current"]);
    let mut want = vec!["car-ledger", current.trim()];
    want.sort_unstable();
    assert_eq!(
        git(&env.root, &["branch", "--format=%(refname:short)"])
            .lines()
            .collect::<Vec<_>>(),
        want
    );

    let published = git(&origin, &["show", "car-ledger:events.jsonl"]);
    assert_eq!(published.lines().count(), ledger_lines(&env));
    // Command lines are left out unless asked for (they may hold secrets).
    assert!(
        published.contains(r#""cmd":"[left out: car ledger publish --include-prompts]""#),
        "{published}"
    );
    assert!(!published.contains("hunter2secret"), "{published}");
    let status: serde_json::Value =
        serde_json::from_str(&git(&origin, &["show", "car-ledger:status.json"])).unwrap();
    assert_eq!(status[0]["subject"], "exec");
    assert_eq!(status[0]["last"]["type"], "exec_done");
    assert_eq!(commits(&origin, "car-ledger"), 1);

    // Nothing new: no commit.
    let out = env.run(&["ledger", "publish", "--once"]);
    out.expect_code(0);
    assert!(out.stdout().contains("nothing new"), "{}", out.stdout());
    assert_eq!(commits(&origin, "car-ledger"), 1);

    // New events: a second commit on top of the first.
    exec(&env, "echo two");
    env.run(&["ledger", "publish", "--once"]).expect_code(0);
    assert_eq!(commits(&origin, "car-ledger"), 2);
    let published = git(&origin, &["show", "car-ledger:events.jsonl"]);
    assert_eq!(published.lines().count(), ledger_lines(&env));
    assert_eq!(published.matches(r#""type":"exec_started""#).count(), 2);
    assert_eq!(checkout(&env.root), before, "the checkout changed");

    // `car ledger status`: the last event per command, from the ledger.
    let out = env.run(&["ledger", "status", "--json"]);
    out.expect_code(0);
    let last: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    let last = last.as_array().unwrap();
    assert_eq!(last.len(), 2, "{last:?}");
    assert!(
        last.iter().all(|e| e["subject"] == "exec"
            && e["last"]["type"] == "exec_done"
            && e["events"] == 2)
    );
    let text = env.run(&["ledger", "status"]);
    assert_eq!(text.stdout().lines().count(), 2, "{}", text.stdout());
    assert!(
        text.stdout()
            .lines()
            .all(|l| l.starts_with("exec x-") && l.contains("exec_done  succeeded")),
        "{}",
        text.stdout()
    );
}

#[test]
fn ledger_publish_reports_an_unreachable_or_rejecting_remote_and_recovers() {
    let (env, origin) = repo_with_origin(false);
    exec(&env, "echo one");

    // The remote is not there: reported, the commit kept locally.
    let out = env.run(&["ledger", "publish", "--once"]);
    out.expect_code(1);
    assert!(out.stdout().contains("committed"), "{}", out.stdout());
    assert!(
        out.stderr().contains("push of car-ledger to origin failed")
            && out.stderr().contains("pushed again next round"),
        "{}",
        out.stderr()
    );
    let local = git(&env.root, &["rev-parse", "car-ledger"]);

    // It comes back: the next round pushes what was kept.
    git(
        origin.parent().unwrap(),
        &["init", "-q", "--bare", "origin.git"],
    );
    let out = env.run(&["ledger", "publish", "--once"]);
    out.expect_code(0);
    assert!(out.stdout().contains("pushed"), "{}", out.stdout());
    assert_eq!(git(&origin, &["rev-parse", "car-ledger"]), local);

    // Someone else pushed to the branch: the push is rejected, the
    // remote's branch fetched; the next round merges it and goes through.
    let other = env.root.parent().unwrap().join("other");
    git(
        env.root.parent().unwrap(),
        &[
            "clone",
            "-q",
            "--branch",
            "car-ledger",
            origin.to_str().unwrap(),
            "other",
        ],
    );
    std::fs::write(other.join("NOTE.md"), "read me\n").unwrap();
    git(&other, &["add", "NOTE.md"]);
    git(&other, &["commit", "-q", "-m", "a note"]);
    git(&other, &["push", "-q", "origin", "car-ledger"]);
    let theirs = git(&other, &["rev-parse", "HEAD"]);
    exec(&env, "echo two");
    let out = env.run(&["ledger", "publish", "--once"]);
    out.expect_code(1);
    assert!(
        out.stderr().contains("rejected") && out.stderr().contains("the next round merges it"),
        "{}",
        out.stderr()
    );
    assert_eq!(git(&origin, &["rev-parse", "car-ledger"]), theirs);
    let out = env.run(&["ledger", "publish", "--once"]);
    out.expect_code(0);
    assert!(out.stdout().contains("pushed"), "{}", out.stdout());
    let tip = git(&origin, &["rev-parse", "car-ledger"]);
    let tip = tip.trim();
    for kept in [theirs.trim(), local.trim()] {
        git(&origin, &["merge-base", "--is-ancestor", kept, tip]);
    }
    let published = git(&origin, &["show", "car-ledger:events.jsonl"]);
    assert_eq!(published.lines().count(), ledger_lines(&env));
    assert_eq!(published.matches(r#""type":"exec_done""#).count(), 2);
}

#[test]
fn ledger_publish_refuses_a_checked_out_branch_a_missing_remote_and_a_bad_name() {
    let (env, _origin) = repo_with_origin(true);
    let current = git(&env.root, &["branch", "--show-current"]);
    for (args, said) in [
        (
            &["--once", "--branch", current.trim()][..],
            "is checked out in",
        ),
        (
            &["--once", "--remote", "upstream"],
            "has no remote `upstream`",
        ),
        (
            &["--once", "--branch", "bad..name"],
            "not a valid branch name",
        ),
        (&["--interval", "5x"], "unknown unit"),
    ] {
        let mut all = vec!["ledger", "publish"];
        all.extend_from_slice(args);
        let out = env.run(&all);
        out.expect_code(2);
        assert!(out.stderr().contains(said), "{args:?}: {}", out.stderr());
    }
    // Nothing was written on the way.
    assert!(git(&env.root, &["branch", "--list", "car-ledger"]).is_empty());
}

#[test]
fn ledger_publish_keeps_going_every_interval_and_stops_on_sigterm() {
    let (env, origin) = repo_with_origin(true);
    exec(&env, "echo one");
    let mut child = env
        .car(&["ledger", "publish", "--interval", "200ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let has = |n: usize| {
        std::process::Command::new("git")
            .args(["rev-list", "--count", "car-ledger"])
            .current_dir(&origin)
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == n.to_string())
    };
    env.wait_for("the first commit pushed", Duration::from_secs(10), || {
        has(1)
    });
    exec(&env, "echo two");
    env.wait_for("the second commit pushed", Duration::from_secs(10), || {
        has(2)
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("car ledger publish did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("every 200ms") && stdout.ends_with("car: ledger: stopped\n"),
        "{stdout}"
    );
}

#[test]
fn ledger_publish_of_a_hub_puts_each_repository_under_its_id() {
    let env = hub_of(&["alpha", "beta"], "- [ ] one\n");
    // A hub root is often no git repository: said, nothing written.
    let out = env.run(&["ledger", "publish", "--once"]);
    out.expect_code(2);
    assert!(
        out.stderr().contains("is not in a git repository"),
        "{}",
        out.stderr()
    );
    git(&env.root, &["init", "-q"]);
    let parent = env.root.parent().unwrap();
    git(parent, &["init", "-q", "--bare", "hub-origin.git"]);
    let origin = parent.join("hub-origin.git");
    git(
        &env.root,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    for repo in ["alpha", "beta"] {
        let out = env.run(&["--repo", repo, "exec", "start", &format!("echo {repo}")]);
        out.expect_code(0);
        let ledger = env.path(&format!("{repo}/.codex-autorunner/events.jsonl"));
        env.wait_for("exec_done", Duration::from_secs(10), || {
            std::fs::read_to_string(&ledger).is_ok_and(|t| t.contains("exec_done"))
        });
    }
    // At the hub root, the hub is published without --hub.
    env.run(&["ledger", "publish", "--once"]).expect_code(0);
    let tree = git(&origin, &["ls-tree", "-r", "--name-only", "car-ledger"]);
    assert_eq!(tree, "alpha/events.jsonl\nbeta/events.jsonl\nstatus.json\n");
    let alpha = git(&origin, &["show", "car-ledger:alpha/events.jsonl"]);
    let beta = git(&origin, &["show", "car-ledger:beta/events.jsonl"]);
    // Each repository's own ledger: its cwd, not the other's.
    assert!(
        alpha.contains("/alpha\"") && !alpha.contains("/beta\"") && beta.contains("/beta\""),
        "{alpha}\n{beta}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&git(&origin, &["show", "car-ledger:status.json"])).unwrap();
    let repos: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["repo"].as_str().unwrap())
        .collect();
    assert_eq!(repos, ["alpha", "beta"]);
    // From inside a repository of the hub, --hub finds the hub.
    let out = env.run(&["--repo", "alpha", "ledger", "status", "--hub"]);
    out.expect_code(0);
    let lines: Vec<String> = out.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("alpha  exec x-") && lines[1].starts_with("beta  exec x-"),
        "{lines:?}"
    );
}

#[test]
fn the_ledger_unit_at_a_hub_root_publishes_the_hub_until_sigterm() {
    let env = hub_of(&["alpha"], "- [ ] one\n");
    git(&env.root, &["init", "-q"]);
    let parent = env.root.parent().unwrap();
    git(parent, &["init", "-q", "--bare", "hub-origin.git"]);
    let origin = parent.join("hub-origin.git");
    git(
        &env.root,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    env.run(&["--repo", "alpha", "exec", "start", "echo unit"])
        .expect_code(0);
    let xdg = env.home.join("xdg");
    let mut install = env.car(&["service", "install", "systemd", "--what", "ledger"]);
    install.env("XDG_CONFIG_HOME", &xdg);
    let out = install.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = xdg.join("systemd/user");
    let unit = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "service"))
        .unwrap();
    assert!(
        unit.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("car-ledger-"),
        "{unit:?}"
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    let exec = crate::service::sections(&text)["Service"]["ExecStart"].clone();
    let hub = std::fs::canonicalize(&env.root).unwrap();
    assert!(
        exec.ends_with(&format!(" --repo {} ledger publish", hub.display())),
        "{exec}"
    );
    assert_eq!(
        crate::service::sections(&text)["Service"]["Restart"],
        "on-failure"
    );
    // What systemd would start: it publishes the hub, and stops on SIGTERM.
    let words: Vec<&str> = exec.split(' ').collect();
    let mut child = env
        .car_at(Path::new(words[0]), &words[1..])
        .current_dir("/")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_for(
        "alpha's ledger on the branch",
        Duration::from_secs(10),
        || {
            std::process::Command::new("git")
                .args(["show", "car-ledger:alpha/events.jsonl"])
                .current_dir(&origin)
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("exec_done"))
        },
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("the ledger unit's command did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn ledger_publish_include_prompts_adds_each_tasks_prompt_with_secrets_redacted() {
    let (env, origin) = repo_with_origin(true);
    env.config("codex:\n  args: [exec]\n");
    env.script(
        "out {\"type\":\"thread.started\",\"thread_id\":\"th-1\"}\nout {\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":1,\"cached_input_tokens\":0,\"output_tokens\":1,\"reasoning_output_tokens\":0}}\n",
    );
    let out = env.run(&["task", "spawn", "Rotate the key SECRET_KEY=abc123 please"]);
    out.expect_code(0);
    let id = out.stdout().trim().to_string();
    env.wait_for("task_done", Duration::from_secs(10), || {
        env.read(".codex-autorunner/events.jsonl")
            .contains("\"task_done\"")
    });
    let task_entry = || -> serde_json::Value {
        let status: serde_json::Value =
            serde_json::from_str(&git(&origin, &["show", "car-ledger:status.json"])).unwrap();
        status
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == "task")
            .unwrap()
            .clone()
    };
    env.run(&["ledger", "publish", "--once"]).expect_code(0);
    let entry = task_entry();
    assert_eq!(entry["id"], id.as_str());
    assert!(entry.get("prompt").is_none(), "{entry}");
    env.run(&["ledger", "publish", "--once", "--include-prompts"])
        .expect_code(0);
    assert_eq!(
        task_entry()["prompt"],
        "Rotate the key SECRET_KEY=[redacted] please"
    );
    assert_eq!(commits(&origin, "car-ledger"), 2);
}
