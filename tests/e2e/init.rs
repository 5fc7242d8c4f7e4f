//! `car init`: layout, idempotence, `--force` backups, `--git-init`.

use crate::common::{TestEnv, git};

#[test]
fn init_creates_docs_and_a_gitignore_that_keeps_docs_versioned() {
    let env = TestEnv::bare();
    git(&env.root, &["init", "-q"]);
    env.run(&["init"]).expect_code(0);
    for f in [
        "config.yml",
        "TODO.md",
        "PROGRESS.md",
        "OPINIONS.md",
        "SPEC.md",
        "SUMMARY.md",
        ".gitignore",
        "state.json",
    ] {
        assert!(
            env.path(&format!(".codex-autorunner/{f}")).is_file(),
            "{f} missing"
        );
    }
    // git must see the docs and config but not the runtime files.
    env.write(".codex-autorunner/state.json.lock", "");
    env.write(".codex-autorunner/runs/1/output.log", "x");
    let status = git(
        &env.root,
        &["status", "--porcelain", "--untracked-files=all"],
    );
    assert!(status.contains(".codex-autorunner/TODO.md"), "{status}");
    assert!(status.contains(".codex-autorunner/config.yml"), "{status}");
    assert!(!status.contains("state.json"), "{status}");
    assert!(!status.contains("runs/"), "{status}");
}

#[test]
fn init_is_idempotent_and_force_keeps_backups() {
    let env = TestEnv::bare();
    git(&env.root, &["init", "-q"]);
    env.run(&["init"]).expect_code(0);
    env.todo("- [ ] my precious task\n");
    let again = env.run(&["init"]);
    again.expect_code(0);
    assert!(
        again
            .stdout()
            .contains("kept     .codex-autorunner/TODO.md"),
        "{}",
        again.stdout()
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [ ] my precious task\n"
    );

    env.run(&["init", "--force"]).expect_code(0);
    assert_ne!(
        env.read(".codex-autorunner/TODO.md"),
        "- [ ] my precious task\n"
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md.bak"),
        "- [ ] my precious task\n"
    );
    // A second --force never overwrites the first backup.
    env.todo("- [ ] second\n");
    env.run(&["init", "--force"]).expect_code(0);
    assert_eq!(
        env.read(".codex-autorunner/TODO.md.bak"),
        "- [ ] my precious task\n"
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md.bak.1"),
        "- [ ] second\n"
    );
}

#[test]
fn init_without_git_needs_git_init() {
    let env = TestEnv::bare();
    let r = env.run(&["init"]);
    r.expect_code(2);
    assert!(r.stderr().contains("--git-init"), "{}", r.stderr());
    assert!(
        !env.path(".codex-autorunner").exists(),
        "nothing may be written"
    );
    env.run(&["init", "--git-init"]).expect_code(0);
    assert!(env.path(".git").exists());
    assert!(env.path(".codex-autorunner/TODO.md").exists());
}

#[test]
fn init_in_a_subdirectory_uses_the_git_root() {
    let env = TestEnv::bare();
    git(&env.root, &["init", "-q"]);
    std::fs::create_dir_all(env.path("src/deep")).unwrap();
    env.run(&["init", "--path", "src/deep"]).expect_code(0);
    assert!(env.path(".codex-autorunner/config.yml").exists());
    assert!(!env.path("src/deep/.codex-autorunner").exists());
}

#[test]
fn init_upgrades_the_python_ignore_everything_gitignore() {
    let env = TestEnv::bare();
    git(&env.root, &["init", "-q"]);
    env.write(".codex-autorunner/.gitignore", "*");
    env.write(".codex-autorunner/config.yml", "version: 2\nmode: repo\n");
    env.run(&["init"]).expect_code(0);
    assert!(
        env.read(".codex-autorunner/.gitignore")
            .contains("state.json")
    );
    assert_eq!(env.read(".codex-autorunner/.gitignore.bak"), "*");
}
