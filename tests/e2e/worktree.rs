//! `car worktree new|list|remove|prune`: the Python layout and ids, and a
//! removal that never loses work without `--force`, archiving it first.

use crate::common::git;
use crate::hub_registry::hub_with;

fn manifest(env: &crate::common::TestEnv) -> String {
    env.read(".codex-autorunner/manifest.yml")
}

#[test]
fn new_list_and_remove_a_worktree_with_python_ids() {
    let env = hub_with(&["alpha"]);
    env.run(&["hub", "scan"]).expect_code(0);
    env.write("alpha/.codex-autorunner/TODO.md", "- [ ] base task\n");
    let out = env.run(&["worktree", "new", "alpha", "feat/x y", "--json"]);
    out.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["id"], "alpha--feat-x-y");
    assert_eq!(v["branch"], "job/feat/x-y");
    let wt = env.path("worktrees/alpha--feat-x-y");
    assert_eq!(v["path"], wt.to_str().unwrap());
    assert_eq!(
        git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "job/feat/x-y"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join(".codex-autorunner/TODO.md")).unwrap(),
        "- [ ] base task\n"
    );
    assert!(wt.join(".codex-autorunner/state.json").is_file());
    let m = manifest(&env);
    assert!(
        m.contains("- id: alpha--feat-x-y\n  path: worktrees/alpha--feat-x-y\n  enabled: true\n  auto_run: false\n  kind: worktree\n  worktree_of: alpha\n"),
        "{m}"
    );
    let out = env.run(&["worktree", "list"]);
    out.expect_code(0);
    assert!(out.stdout().contains("alpha--feat-x-y"), "{}", out.stdout());
    // --branch and --from.
    let first = git(&env.root.join("alpha"), &["rev-parse", "HEAD"]);
    env.run(&[
        "worktree",
        "new",
        "alpha",
        "two",
        "--branch",
        "b2",
        "--from",
        first.trim(),
    ])
    .expect_code(0);
    assert!(manifest(&env).contains("branch: b2"));
    // The same name again is refused.
    let out = env.run(&["worktree", "new", "alpha", "two"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr().contains("`alpha--two` exists already"),
        "{}",
        out.stderr()
    );

    // A clean worktree goes without --force and without an archive.
    let out = env.run(&["worktree", "remove", "alpha--feat-x-y"]);
    out.expect_code(0);
    assert!(!out.stdout().contains("archived"), "{}", out.stdout());
    assert!(!wt.exists());
    assert!(!manifest(&env).contains("alpha--feat-x-y"));
    // A worktree deleted by hand is pruned.
    std::fs::remove_dir_all(env.path("worktrees/alpha--two")).unwrap();
    let out = env.run(&["worktree", "prune"]);
    out.expect_code(0);
    assert!(
        out.stdout().contains("pruned alpha--two"),
        "{}",
        out.stdout()
    );
    assert!(!manifest(&env).contains("alpha--two"));
}

#[test]
fn remove_refuses_uncommitted_and_unpushed_work_and_force_archives_it() {
    let env = hub_with(&["alpha"]);
    env.run(&["hub", "scan"]).expect_code(0);
    env.run(&["worktree", "new", "alpha", "job1"])
        .expect_code(0);
    let wt = env.path("worktrees/alpha--job1");

    // Uncommitted work: refused.
    std::fs::write(wt.join("wip.txt"), "half done\n").unwrap();
    let out = env.run(&["worktree", "remove", "alpha--job1"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr().contains("1 uncommitted change"),
        "{}",
        out.stderr()
    );
    assert!(wt.exists());

    // Committed but on no remote and not on main: refused too (also via hub remove).
    git(&wt, &["add", "wip.txt"]);
    git(&wt, &["commit", "-qm", "job work"]);
    let out = env.run(&["hub", "remove", "alpha--job1"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr()
            .contains("1 commit(s) on no remote and not on main"),
        "{}",
        out.stderr()
    );

    // Both, then --force: archived first, then removed.
    std::fs::write(wt.join("README.md"), "changed\n").unwrap();
    let out = env.run(&["worktree", "remove", "alpha--job1", "--force"]);
    out.expect_code(0);
    assert!(out.stdout().contains("archived"), "{}", out.stdout());
    assert!(!wt.exists());
    let archives: Vec<_> = std::fs::read_dir(env.path(".codex-autorunner/archive"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(archives.len(), 1);
    let dir = &archives[0];
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("alpha--job1-")
    );
    let patch = std::fs::read_to_string(dir.join("uncommitted.patch")).unwrap();
    assert!(patch.contains("+changed"), "{patch}");
    // The bundle holds the commit: fetch it into a fresh clone.
    let check = env.home.join("check");
    git(
        &env.home,
        &[
            "clone",
            "-q",
            env.root.join("alpha").to_str().unwrap(),
            check.to_str().unwrap(),
        ],
    );
    let bundle = dir.join("commits.bundle");
    git(
        &check,
        &["fetch", "-q", bundle.to_str().unwrap(), "job/job1:restored"],
    );
    assert_eq!(git(&check, &["show", "restored:wip.txt"]), "half done\n");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("archive.json")).unwrap()).unwrap();
    assert_eq!(info["unpushed_commits"], 1);
}

#[test]
fn merged_work_needs_no_force_and_a_failing_setup_keeps_the_worktree() {
    let env = hub_with(&["alpha"]);
    env.write(
        "codex-autorunner.yml",
        "hub:\n  worktree_branch_prefix: ''\n  worktree_setup_commands:\n    - echo ready > setup.txt\n    - echo boom >&2; exit 3\n    - echo never > never.txt\n",
    );
    env.run(&["hub", "scan"]).expect_code(0);
    let out = env.run(&["worktree", "new", "alpha", "job2"]);
    assert_eq!(out.code(), 1, "{}", out.stderr());
    assert!(out.stdout().contains("FAILED (exit 3)"), "{}", out.stdout());
    assert!(out.stdout().contains("boom"), "{}", out.stdout());
    let wt = env.path("worktrees/alpha--job2");
    assert_eq!(
        std::fs::read_to_string(wt.join("setup.txt")).unwrap(),
        "ready\n"
    );
    assert!(!wt.join("never.txt").exists());
    assert!(manifest(&env).contains("- id: alpha--job2"));
    assert_eq!(
        git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "job2"
    );

    // A commit merged into the base branch is not at risk.
    std::fs::remove_file(wt.join("setup.txt")).unwrap();
    std::fs::write(wt.join("f.txt"), "x\n").unwrap();
    git(&wt, &["add", "f.txt"]);
    git(&wt, &["commit", "-qm", "f"]);
    git(&env.root.join("alpha"), &["merge", "-q", "job2"]);
    env.run(&["worktree", "remove", "alpha--job2"])
        .expect_code(0);
    assert!(!env.path(".codex-autorunner/archive").exists());
}

#[test]
fn remove_is_refused_while_the_loop_runs_even_with_force() {
    let env = hub_with(&["alpha"]);
    env.run(&["hub", "scan"]).expect_code(0);
    env.run(&["worktree", "new", "alpha", "busy"])
        .expect_code(0);
    let car_dir = env.path("worktrees/alpha--busy/.codex-autorunner");
    // A runner holds the run lock: an exclusive flock on the directory.
    let dir = std::fs::File::open(&car_dir).unwrap();
    let held = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).unwrap();
    for args in [
        &["worktree", "remove", "alpha--busy", "--force"][..],
        &["hub", "remove", "alpha--busy", "--force"][..],
    ] {
        let out = env.run(args);
        assert_ne!(out.code(), 0);
        assert!(
            out.stderr()
                .contains("the loop of `alpha--busy` is running"),
            "{}",
            out.stderr()
        );
    }
    let base = env.run(&["hub", "remove", "alpha"]);
    assert_ne!(base.code(), 0);
    assert!(
        base.stderr().contains("has worktrees (alpha--busy)"),
        "{}",
        base.stderr()
    );
    drop(held);
    env.run(&["worktree", "remove", "alpha--busy"])
        .expect_code(0);
    env.run(&["hub", "remove", "alpha"]).expect_code(0);
}
