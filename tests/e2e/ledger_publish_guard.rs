//! What `car ledger publish` must never do to the user's repository: run
//! its hooks (they are the user's code, for the user's own git work), or
//! move the ledger branch once the user checked it out somewhere.

use std::process::Stdio;
use std::time::Duration;

use crate::common::git;
use crate::ledger_publish::{exec, repo_with_origin};
use crate::remote_local::KillOnDrop;

#[test]
fn no_hook_of_the_repository_runs() {
    let (env, origin) = repo_with_origin(true);
    exec(&env, "echo one");
    let hooks = env.root.join(".git/hooks");
    let marker = env.root.parent().unwrap().join("hook-ran");
    for hook in ["reference-transaction", "post-index-change", "pre-push"] {
        let p = hooks.join(hook);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho {hook} >> '{}'\n", marker.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The hooks work for the user's own git commands.
    git(&env.root, &["update-ref", "refs/tags/probe", "HEAD"]);
    assert!(marker.exists(), "the test's hook does not run at all");
    std::fs::remove_file(&marker).unwrap();

    env.run(&["ledger", "publish", "--once"]).expect_code(0);
    assert_eq!(
        git(&origin, &["rev-list", "--count", "car-ledger"]).trim(),
        "1"
    );
    assert!(
        !marker.exists(),
        "a hook ran: {}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
}

#[test]
fn a_branch_checked_out_while_publishing_is_left_alone_and_the_error_names_where() {
    let (env, origin) = repo_with_origin(true);
    exec(&env, "echo one");
    let mut child = env
        .car(&["ledger", "publish", "--interval", "200ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = crate::serve_client::lines_of(child.stderr.take().unwrap());
    let _publisher = KillOnDrop(child);
    let pushed = || {
        std::process::Command::new("git")
            .args(["rev-list", "--count", "car-ledger"])
            .current_dir(&origin)
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "1")
    };
    env.wait_for("the first commit pushed", Duration::from_secs(10), pushed);

    // The user checks the ledger branch out in a worktree of their own.
    let wt = env.root.parent().unwrap().join("ledger-wt");
    git(
        &env.root,
        &["worktree", "add", "-q", wt.to_str().unwrap(), "car-ledger"],
    );
    let head = git(&wt, &["rev-parse", "HEAD"]);
    exec(&env, "echo two");
    let said = stderr
        .recv_timeout(Duration::from_secs(10))
        .expect("no error told");
    assert!(
        said.contains("is checked out in") && said.contains("ledger-wt"),
        "{said}"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(git(&wt, &["rev-parse", "HEAD"]), head, "the branch moved");
    assert_eq!(
        git(&wt, &["status", "--porcelain"]),
        "",
        "the worktree changed"
    );
}
