//! The doc tools: snapshot, ingest-spec, edit, clear-docs, doctor.

use std::io::Write;
use std::process::Stdio;

use crate::common::{TestEnv, git};

const SK: &str = "sk-abcdefghijklmnopqrstuvwxyz0123456789";
const GHP: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
const AKIA: &str = "AKIAIOSFODNN7EXAMPLE";
const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

fn secrets_absent(text: &str, what: &str) {
    for s in [SK, GHP, AKIA, JWT, "TOPSECRETVALUE"] {
        assert!(!text.contains(s), "{what} leaks {s}:\n{text}");
    }
}

fn repo_with_files() -> TestEnv {
    let env = TestEnv::new();
    env.write(
        "README.md",
        &format!("# Demo\n\nKeys: {SK} {GHP} {AKIA}\ntoken {JWT}\n"),
    );
    env.write("Cargo.toml", "[package]\nname = \"demo\"\n");
    env.write("src/main.rs", "fn main() {}\n");
    env.write(".env", "API_KEY=TOPSECRETVALUE\n");
    env.write(
        "certs/server.pem",
        "-----BEGIN PRIVATE KEY-----\nTOPSECRETVALUE\n-----END PRIVATE KEY-----\n",
    );
    env.todo("- [x] first\n- [ ] second\n");
    git(&env.root, &["add", "-A"]);
    git(&env.root, &["commit", "-qm", "start"]);
    env
}

#[test]
fn snapshot_fresh_is_bounded_redacted_and_hides_secret_paths() {
    let env = repo_with_files();
    env.script(&format!(
        "out # Repo snapshot\nout The README holds {SK} and {AKIA}.\n"
    ));
    let r = env.run(&["snapshot"]);
    r.expect_code(0);
    assert!(r.stdout().contains("from scratch"), "{}", r.stdout());
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(
        prompt.contains("## Tree outline") && prompt.contains("- src\n  - main.rs"),
        "{prompt}"
    );
    assert!(prompt.contains("### TODO (`.codex-autorunner/TODO.md`)"));
    assert!(
        prompt.contains("sk-[REDACTED]")
            && prompt.contains("gh_[REDACTED]")
            && prompt.contains("AKIA[REDACTED]")
            && prompt.contains("[JWT_REDACTED]"),
        "{prompt}"
    );
    secrets_absent(&prompt, "the seed");
    assert!(
        !prompt.contains(".env") && !prompt.contains("server.pem"),
        "secret paths are never shown:\n{prompt}"
    );
    let snap = env.read(".codex-autorunner/SNAPSHOT.md");
    assert!(snap.starts_with("# Repo snapshot"));
    assert!(
        snap.contains("sk-[REDACTED]") && snap.contains("AKIA[REDACTED]"),
        "the output is redacted again: {snap}"
    );
    secrets_absent(&snap, "SNAPSHOT.md");
    let state: serde_json::Value =
        serde_json::from_str(&env.read(".codex-autorunner/snapshot_state.json")).unwrap();
    assert_eq!(state["truncated"], false, "{state}");
    assert_eq!(state["head_sha"].as_str().unwrap().len(), 40);
    assert!(state["seed_file_hashes"]["README.md"].is_string());
    assert!(state["budget"]["bytes_read"].as_u64().unwrap() > 0);
}

#[test]
fn snapshot_incremental_gives_the_agent_the_previous_snapshot_and_the_changes() {
    let env = repo_with_files();
    env.script("out # Repo snapshot v1\n---\nout # Repo snapshot v2\n");
    env.run(&["snapshot"]).expect_code(0);
    env.write("src/new_module.rs", "pub fn f() {}\n");
    git(&env.root, &["add", "src/new_module.rs"]);
    git(&env.root, &["commit", "-qm", "add module"]);
    env.write("src/main.rs", "fn main() { println!(\"changed\"); }\n");
    env.write(".env.production", "TOKEN=TOPSECRETVALUE\n");
    env.write("deploy.key", "x\n");
    let r = env.run(&["snapshot"]);
    r.expect_code(0);
    assert!(r.stdout().contains("incremental"), "{}", r.stdout());
    let prompt = String::from_utf8(env.agent_prompt(2)).unwrap();
    assert!(
        prompt.contains("<PREVIOUS_SNAPSHOT>\n# Repo snapshot v1\n</PREVIOUS_SNAPSHOT>"),
        "{prompt}"
    );
    let changes = prompt
        .split("<CHANGES_SINCE_LAST_SNAPSHOT>")
        .nth(1)
        .unwrap();
    assert!(changes.contains("A\tsrc/new_module.rs"), "{changes}");
    assert!(changes.contains(" M src/main.rs"), "{changes}");
    assert!(
        !changes.contains(".env.production") && !changes.contains("deploy.key"),
        "secret names leak: {changes}"
    );
    assert_eq!(
        env.read(".codex-autorunner/SNAPSHOT.md"),
        "# Repo snapshot v2\n"
    );

    env.script("out # fresh\n");
    std::fs::remove_file(format!("{}.count", env.script.display())).unwrap();
    env.run(&["snapshot", "--from-scratch"]).expect_code(0);
    assert!(
        !String::from_utf8(env.agent_prompt(1))
            .unwrap()
            .contains("<PREVIOUS_SNAPSHOT>")
    );
}

#[test]
fn snapshot_budgets_are_honoured_and_truncation_is_recorded() {
    let env = repo_with_files();
    for i in 0..30 {
        env.write(&format!("many/file{i:02}.txt"), "x\n");
    }
    env.todo(&format!("- [ ] {}\n", "long task text ".repeat(50)));
    env.write("big.md", &"y".repeat(5000));
    git(&env.root, &["add", "-A"]);
    git(&env.root, &["commit", "-qm", "more"]);
    env.config("snapshot:\n  max_entries: 10\n  excerpt_chars: 40\n  max_file_bytes: 3000\n");
    env.write("README.md", &"z".repeat(4000));
    env.script("out # s\n");
    env.run(&["snapshot"]).expect_code(0);
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(
        prompt.contains("- … (truncated after 10 entries)"),
        "{prompt}"
    );
    assert!(
        prompt.contains("_Skipped: 4000 bytes, over the per-file cap of 3000_"),
        "{prompt}"
    );
    let todo_excerpt = prompt
        .split("### TODO")
        .nth(1)
        .unwrap()
        .split("```")
        .nth(1)
        .unwrap();
    assert!(
        todo_excerpt.chars().count() <= 40 + "text\n".len() + 1,
        "{todo_excerpt}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&env.read(".codex-autorunner/snapshot_state.json")).unwrap();
    assert_eq!(state["truncated"], true);
    let cuts = state["truncations"].to_string();
    assert!(
        cuts.contains("tree outline cut after 10")
            && cuts.contains("README.md: skipped")
            && cuts.contains("excerpt cut at 40"),
        "{cuts}"
    );

    // A total budget smaller than what the excerpts need.
    env.config(
        "snapshot:\n  max_total_bytes: 10\n  max_file_bytes: 200000\n  excerpt_chars: 2000\n",
    );
    env.run(&["snapshot", "--from-scratch"]).expect_code(0);
    let state: serde_json::Value =
        serde_json::from_str(&env.read(".codex-autorunner/snapshot_state.json")).unwrap();
    assert!(
        state["budget"]["bytes_read"].as_u64().unwrap() <= 10,
        "{state}"
    );
    assert_eq!(state["truncated"], true);
}

#[test]
fn snapshot_stdout_prints_and_writes_nothing_and_a_failing_agent_changes_nothing() {
    let env = repo_with_files();
    env.script("out # printed only\n");
    let r = env.run(&["snapshot", "--stdout"]);
    r.expect_code(0);
    assert_eq!(r.stdout(), "# printed only\n");
    assert!(!env.path(".codex-autorunner/SNAPSHOT.md").exists());

    env.write(".codex-autorunner/SNAPSHOT.md", "# old\n");
    env.script("out partial\nexit 3\n");
    let r = env.run(&["snapshot"]);
    r.expect_code(1);
    assert!(r.stderr().contains("exited with code 3"), "{}", r.stderr());
    assert_eq!(env.read(".codex-autorunner/SNAPSHOT.md"), "# old\n");
}

#[test]
fn snapshot_seed_of_a_20000_file_repo() {
    let env = TestEnv::new();
    for d in 0..200 {
        let dir = env.root.join(format!("pkg{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("mod{f:03}.rs")), "pub fn f() {}\n").unwrap();
        }
    }
    git(&env.root, &["add", "-A"]);
    git(&env.root, &["commit", "-qm", "big"]);
    env.script("out # big repo\n");
    let r = env.run(&["snapshot"]);
    r.expect_code(0);
    let out = r.stdout();
    assert!(
        out.contains("seed of 2000") && out.contains(" files in "),
        "{out}"
    );
    // Reported, not asserted (timing belongs to scripts/bench.sh).
    eprintln!("20,000-file seed: {}", out.lines().last().unwrap_or(""));
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(
        prompt.contains("- Files: 2000"),
        "tracked files are counted"
    );
    assert!(prompt.contains("(truncated after 500 entries)"));
}

fn ingest_answer() -> &'static str {
    "out Thinking about the spec.\nout <TODO>\nout - [ ] Build the parser\nout - [ ] Test the parser\nout </TODO>\nout <PROGRESS>\nout Started from SPEC.\nout </PROGRESS>\nout <OPINIONS>\nout - Keep functions small.\nout </OPINIONS>\n"
}

#[test]
fn ingest_spec_refuses_without_force_before_running_anything() {
    let env = TestEnv::new();
    env.write(".codex-autorunner/SPEC.md", "# Spec\nA parser.\n");
    env.todo("- [ ] my own task\n");
    env.script(ingest_answer());
    let r = env.run(&["ingest-spec"]);
    r.expect_code(2);
    assert!(
        r.stderr().contains("--force") && r.stderr().contains("TODO.md"),
        "{}",
        r.stderr()
    );
    assert_eq!(env.agent_runs(), 0, "no agent run is wasted");
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [ ] my own task\n");
}

#[test]
fn ingest_spec_writes_docs_with_backups_and_a_diff_summary() {
    let env = TestEnv::new();
    env.write(".codex-autorunner/SPEC.md", "# Spec\nA parser.\n");
    env.todo("- [ ] my own task\n");
    env.script(ingest_answer());
    let r = env.run(&["ingest-spec", "--force"]);
    r.expect_code(0);
    assert!(
        r.stdout().contains("TODO      +2 -1 lines (old copy:"),
        "{}",
        r.stdout()
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [ ] Build the parser\n- [ ] Test the parser\n"
    );
    assert_eq!(
        env.read(".codex-autorunner/PROGRESS.md"),
        "Started from SPEC.\n"
    );
    assert_eq!(
        env.read(".codex-autorunner/OPINIONS.md"),
        "- Keep functions small.\n"
    );
    assert_eq!(
        env.read(".codex-autorunner/TODO.md.bak"),
        "- [ ] my own task\n"
    );
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    assert!(
        prompt.contains("<SPEC path=\".codex-autorunner/SPEC.md\">\n# Spec\nA parser.\n"),
        "{prompt}"
    );

    // Fresh docs from `car init` need no --force.
    let env = TestEnv::new();
    env.write(".codex-autorunner/SPEC.md", "# Spec\nA parser.\n");
    env.script(ingest_answer());
    env.run(&["ingest-spec"]).expect_code(0);
}

#[test]
fn ingest_spec_rejects_garbage_and_echoes_and_changes_nothing() {
    for script in [
        "out I could not do it.\n",
        "cat-prompt\n",
        "out <TODO>\nout no checkboxes here\nout </TODO>\nout <PROGRESS>\nout p\nout </PROGRESS>\nout <OPINIONS>\nout o\nout </OPINIONS>\n",
        "out <TODO>\nout - [ ] a\nout </TODO>\nout <PROGRESS>\nout p\nout </PROGRESS>\n",
    ] {
        let env = TestEnv::new();
        env.write(".codex-autorunner/SPEC.md", "# Spec\nA parser.\n");
        let before = env.read(".codex-autorunner/TODO.md");
        env.script(script);
        let r = env.run(&["ingest-spec"]);
        r.expect_code(1);
        assert!(
            r.stderr().contains("cannot be used") && r.stderr().contains("nothing was written"),
            "{script}: {}",
            r.stderr()
        );
        assert_eq!(env.read(".codex-autorunner/TODO.md"), before, "{script}");
        assert!(!env.path(".codex-autorunner/TODO.md.bak").exists());
    }
}

#[test]
fn ingest_spec_missing_or_empty_spec_and_a_failed_agent() {
    let env = TestEnv::new();
    std::fs::remove_file(env.path(".codex-autorunner/SPEC.md")).unwrap();
    let r = env.run(&["ingest-spec"]);
    r.expect_code(2);
    assert!(r.stderr().contains("SPEC not found"), "{}", r.stderr());
    env.write(".codex-autorunner/SPEC.md", "  \n");
    let r = env.run(&["ingest-spec"]);
    r.expect_code(2);
    assert!(r.stderr().contains("is empty"), "{}", r.stderr());
    env.write("other-spec.md", "# Other\n");
    env.script("exit 5\n");
    let r = env.run(&["ingest-spec", "--spec", "other-spec.md"]);
    r.expect_code(1);
    assert!(r.stderr().contains("exited with code 5"), "{}", r.stderr());
    assert_eq!(env.agent_runs(), 1);
}

#[test]
fn clear_docs_needs_confirmation_and_keeps_backups() {
    let env = TestEnv::new();
    env.todo("- [ ] keep me\n");
    let run_with_input = |args: &[&str], input: &str| {
        let mut child = env
            .car(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let no = run_with_input(&["clear-docs"], "no\n");
    assert_eq!(no.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no.stdout).contains("Aborted"));
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [ ] keep me\n");
    let yes = run_with_input(&["clear-docs"], "CLEAR\n");
    assert_eq!(
        yes.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&yes.stderr)
    );
    assert!(
        env.read(".codex-autorunner/TODO.md")
            .contains("Replace this item")
    );
    assert_eq!(env.read(".codex-autorunner/TODO.md.bak"), "- [ ] keep me\n");
    env.todo("- [ ] again\n");
    env.run(&["clear-docs", "--yes"]).expect_code(0);
    assert_eq!(env.read(".codex-autorunner/TODO.md.bak.1"), "- [ ] again\n");
}

#[test]
fn edit_uses_the_editor_and_reports_todo_counts() {
    let env = TestEnv::new();
    env.todo("- [x] a\n");
    let editor = env.root.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\necho '- [ ] added by the editor' >> \"$1\"\n",
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&editor).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = env
        .car(&["edit", "todo"])
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("TODO: 1/2 done, 1 open"));
    let none = env.run(&["edit", "spec"]);
    none.expect_code(2);
    assert!(none.stderr().contains("EDITOR"), "{}", none.stderr());
}

#[test]
fn doctor_on_a_healthy_and_on_a_broken_repo() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let ok = env.run(&["doctor"]);
    ok.expect_code(0);
    assert!(ok.stdout().contains("all checks passed"), "{}", ok.stdout());
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["doctor", "--json"]).stdout()).unwrap();
    let names: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in [
        "repository",
        "config",
        "agent",
        "docs",
        "todo",
        "git",
        "lock",
        "state",
        "disk",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }

    env.config("codex:\n  binary: no-such-agent-binary\n");
    env.todo("no checkboxes\n");
    let bad = env.run(&["doctor"]);
    bad.expect_code(1);
    let out = bad.stdout();
    assert!(
        out.contains("FAIL agent") && out.contains("fix: install Codex"),
        "{out}"
    );
    assert!(
        out.contains("FAIL todo") && out.contains("no checkbox items"),
        "{out}"
    );

    env.write(
        ".codex-autorunner/config.yml",
        "version: 2\nrunner: [broken\n",
    );
    let broken = env.run(&["doctor"]);
    broken.expect_code(1);
    assert!(
        broken.stdout().contains("FAIL config") && broken.stdout().contains("config.yml:"),
        "{}",
        broken.stdout()
    );
}

#[test]
fn snapshot_hides_every_kind_of_secret_path_and_redacts_before_cutting() {
    let env = repo_with_files();
    for p in [
        ".envrc",
        ".env-prod",
        ".env_local",
        "certs/server.crt",
        "config/secrets.yml",
    ] {
        env.write(p, "TOPSECRETVALUE\n");
    }
    // A token that straddles the README excerpt's cut.
    env.write(
        "README.md",
        &format!("{}TOKEN={GHP} and more\n", "x".repeat(100)),
    );
    git(&env.root, &["add", "-A"]);
    git(&env.root, &["commit", "-qm", "secrets"]);
    env.config("snapshot:\n  readme_chars: 120\n");
    env.script("out # s\n");
    env.run(&["snapshot"]).expect_code(0);
    let prompt = String::from_utf8(env.agent_prompt(1)).unwrap();
    for p in [
        ".envrc",
        ".env-prod",
        ".env_local",
        "server.crt",
        "secrets.yml",
    ] {
        assert!(!prompt.contains(p), "{p} is shown:\n{prompt}");
    }
    assert!(
        !prompt.contains("ghp_ABC") && !prompt.contains("ghp_abcdefghij"),
        "a piece of the token leaks:\n{prompt}"
    );
}

#[test]
fn snapshot_without_git_sees_source_changes() {
    let env = TestEnv::bare();
    env.run(&["init", "--git-init"]).expect_code(0);
    std::fs::remove_dir_all(env.path(".git")).unwrap();
    env.config(&format!(
        "codex:\n  binary: {}\n  args: []\n",
        crate::common::FAKE_AGENT
    ));
    env.write("src/a.rs", "fn a() {}\n");
    env.script("out # v1\n---\nout # v2\n");
    env.run(&["snapshot"]).expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    env.write("src/a.rs", "fn a() { changed(); }\n");
    env.write("src/new_module.rs", "fn b() {}\n");
    env.run(&["snapshot"]).expect_code(0);
    let prompt = String::from_utf8(env.agent_prompt(2)).unwrap();
    let changes = prompt
        .split("<CHANGES_SINCE_LAST_SNAPSHOT>")
        .nth(1)
        .unwrap();
    assert!(
        changes.contains("M\tsrc/a.rs") && changes.contains("A\tsrc/new_module.rs"),
        "{changes}"
    );
}

#[test]
fn ingest_spec_refuses_the_untouched_spec_template() {
    let env = TestEnv::new();
    env.script(ingest_answer());
    let r = env.run(&["ingest-spec"]);
    r.expect_code(2);
    assert!(r.stderr().contains("still the template"), "{}", r.stderr());
    assert_eq!(env.agent_runs(), 0);
}

#[test]
fn doctor_warns_when_the_agent_reports_no_version() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("codex:\n  binary: /bin/false\n");
    let r = env.run(&["doctor"]);
    r.expect_code(0);
    assert!(
        r.stdout().contains("warn agent") && r.stdout().contains("printed no version"),
        "{}",
        r.stdout()
    );
}
