//! `car bridge github` on recorded GitHub Actions payloads (GitHub's
//! `issue_comment` and `issues` shapes), with the fake agent as Codex:
//! `@codex spawn|reply|abort|status` from an allowed author association
//! become tasks; strangers, bots, other commands and a cwd outside the
//! repository do not. And `car service print github-actions`: the workflow
//! parses, has least privileges and the `@codex` filter, and its steps post
//! the reply through `gh` (a fake one on PATH, recording what it posts).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestEnv;

const THREAD: &str = r#"out {"type":"thread.started","thread_id":"th-9"}"#;
const DONE: &str = r#"out {"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#;

fn user(login: &str, kind: &str) -> Value {
    json!({
        "login": login, "id": 583231, "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "html_url": format!("https://github.com/{login}"), "type": kind, "site_admin": false
    })
}

fn issue(body: &str, association: &str) -> Value {
    json!({
        "url": "https://api.github.com/repos/octo-org/widgets/issues/7",
        "repository_url": "https://api.github.com/repos/octo-org/widgets",
        "html_url": "https://github.com/octo-org/widgets/issues/7",
        "id": 2203145526u64, "node_id": "I_kwDOLa1b2c6DUxY2", "number": 7,
        "title": "Refactor the parser", "user": user("octocat", "User"),
        "labels": [], "state": "open", "locked": false, "assignees": [], "comments": 1,
        "created_at": "2026-12-03T21:10:00Z", "updated_at": "2026-12-04T00:01:00Z",
        "author_association": association, "body": body, "reactions": {"total_count": 0}
    })
}

fn repository() -> Value {
    json!({
        "id": 761234567, "node_id": "R_kgDOLa1b2c", "name": "widgets",
        "full_name": "octo-org/widgets", "private": true,
        "owner": {"login": "octo-org", "id": 9919, "type": "Organization"},
        "html_url": "https://github.com/octo-org/widgets", "default_branch": "main"
    })
}

/// An `issue_comment` payload: `body` written by `login` (`kind` `User`
/// or `Bot`) whose association is `association`.
fn comment(body: &str, login: &str, kind: &str, association: &str, action: &str) -> Value {
    json!({
        "action": action,
        "issue": issue("The parser is slow on big inputs.", "OWNER"),
        "comment": {
            "url": "https://api.github.com/repos/octo-org/widgets/issues/comments/2517000001",
            "html_url": "https://github.com/octo-org/widgets/issues/7#issuecomment-2517000001",
            "issue_url": "https://api.github.com/repos/octo-org/widgets/issues/7",
            "id": 2517000001u64, "node_id": "IC_kwDOLa1b2c6WBc01",
            "user": user(login, kind),
            "created_at": "2026-12-04T00:01:00Z", "updated_at": "2026-12-04T00:01:00Z",
            "author_association": association, "body": body,
            "reactions": {"total_count": 0}, "performed_via_github_app": null
        },
        "repository": repository(),
        "sender": user(login, kind)
    })
}

/// A comment by `alice`, a MEMBER.
fn member(body: &str) -> Value {
    comment(body, "alice", "User", "MEMBER", "created")
}

/// Runs `car bridge github` on `payload`; returns what it printed.
fn bridge(env: &TestEnv, payload: &Value) -> Value {
    let path = env.root.parent().unwrap().join("event.json");
    std::fs::write(&path, serde_json::to_string_pretty(payload).unwrap()).unwrap();
    let out = env.run(&["bridge", "github", "--event", path.to_str().unwrap()]);
    out.expect_code(0);
    serde_json::from_str(&out.stdout()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout()))
}

fn body(v: &Value) -> String {
    v["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no body: {v}"))
        .to_string()
}

fn task(env: &TestEnv, id: &str) -> Value {
    let out = env.run(&["task", "status", id, "--json"]);
    out.expect_code(0);
    serde_json::from_str(&out.stdout()).unwrap()
}

fn wait_task(env: &TestEnv, id: &str, state: &str) -> Value {
    let start = Instant::now();
    loop {
        let rec = task(env, id);
        let turns = rec["turns"].as_array().map_or(0, Vec::len);
        let done = env
            .read(".codex-autorunner/events.jsonl")
            .lines()
            .filter(|l| l.contains("\"task_done\"") && l.contains(id))
            .count();
        if rec["state"] == state && (state == "running" || done >= turns) {
            return rec;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "task {id} not {state}: {rec:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn task_count(env: &TestEnv) -> u64 {
    let out = env.run(&["task", "list", "--json"]);
    out.expect_code(0);
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    v["total"].as_u64().unwrap()
}

fn codex_env() -> TestEnv {
    let env = TestEnv::new();
    env.config("codex:\n  args: [exec]\n");
    env
}

#[test]
fn bridge_github_spawns_shows_replies_to_and_aborts_tasks_for_allowed_authors() {
    let env = codex_env();
    env.script(&format!(
        "{THREAD}\nlast-message Parser summarised. Used DB_PASSWORD=hunter22 to test.\n{DONE}\n"
    ));
    std::fs::create_dir_all(env.path("src")).unwrap();

    let reply = bridge(
        &env,
        &member("Could you look?\n\n@codex spawn \"Summarise the parser\" cwd=src\n\nThanks"),
    );
    let text = body(&reply);
    assert!(text.starts_with("🛠️ spawned: cid `t-"), "{text}");
    let cid = text.split('`').nth(1).unwrap().to_string();
    let rec = wait_task(&env, &cid, "succeeded");
    assert_eq!(rec["prompt"], "Summarise the parser");
    let src = std::fs::canonicalize(env.path("src")).unwrap();
    assert_eq!(rec["cwd"], src.display().to_string());
    assert_eq!(rec["requested_by"], "bot");
    assert!(
        rec.to_string()
            .contains("github @alice on octo-org/widgets#7 (MEMBER)"),
        "{rec}"
    );

    let text = body(&bridge(&env, &member(&format!("@codex status cid={cid}"))));
    assert!(
        text.starts_with(&format!("ℹ️ task `{cid}`: succeeded, turn 1 (succeeded)")),
        "{text}"
    );
    // The final output, what looks like a secret redacted (it is posted).
    assert!(
        text.contains("Parser summarised. Used DB_PASSWORD=[redacted] to test."),
        "{text}"
    );

    let text = body(&bridge(
        &env,
        &member(&format!(
            "@codex reply cid={cid} \"Now list the \\\"hot\\\" paths\""
        )),
    ));
    assert_eq!(text, format!("💬 reply → `{cid}`: turn 2 started."));
    wait_task(&env, &cid, "succeeded");
    assert_eq!(env.agent_prompt(2), b"Now list the \"hot\" paths");

    // A turn that runs: abort stops it.
    env.script("sleep 30\n");
    body(&bridge(
        &env,
        &member(&format!("@codex reply cid={cid} \"one more\"")),
    ));
    wait_task(&env, &cid, "running");
    let text = body(&bridge(&env, &member(&format!("@codex abort cid={cid}"))));
    assert!(text.starts_with(&format!("🛑 task `{cid}`")), "{text}");
    wait_task(&env, &cid, "cancelled");
    let text = body(&bridge(&env, &member(&format!("@codex abort cid={cid}"))));
    assert_eq!(
        text,
        format!("ℹ️ task `{cid}` had already ended (cancelled).")
    );

    // An issue opened with a command works the same way.
    let opened = json!({
        "action": "opened",
        "issue": issue("@codex status cid=t-nope", "OWNER"),
        "repository": repository(),
        "sender": user("octocat", "User")
    });
    let text = body(&bridge(&env, &opened));
    assert_eq!(
        text,
        "⚠️ no task `t-nope` was started from this repository's issues."
    );
    // The author editing the issue's body: acted on; the author's
    // association is not lent to someone else's edit, nor to a new title.
    let edit = |sender: &str, body_changed: bool| {
        let mut v = json!({
            "action": "edited",
            "issue": issue(&format!("@codex status cid={cid}"), "OWNER"),
            "repository": repository(),
            "sender": user(sender, "User")
        });
        if body_changed {
            v["changes"] = json!({"body": {"from": "Refactor it."}});
        } else {
            v["changes"] = json!({"title": {"from": "Refactor"}});
        }
        v
    };
    let text = body(&bridge(&env, &edit("octocat", true)));
    assert!(
        text.starts_with(&format!("ℹ️ task `{cid}`: cancelled")),
        "{text}"
    );
    assert_eq!(bridge(&env, &edit("alice", true)), json!({}));
    assert_eq!(bridge(&env, &edit("octocat", false)), json!({}));
}

#[test]
fn bridge_github_refuses_strangers_bots_other_commands_and_a_cwd_outside_the_repository() {
    let env = codex_env();
    env.script(&format!("{THREAD}\n{DONE}\n"));

    let text = body(&bridge(
        &env,
        &comment(
            "@codex spawn \"rm -rf /\"",
            "mallory",
            "User",
            "NONE",
            "created",
        ),
    ));
    assert_eq!(
        text,
        "@mallory your comment was not acted on: author association NONE is not one of OWNER, MEMBER, COLLABORATOR (github_bridge.allowed_associations)."
    );
    // Bots (the bridge's own replies mention @codex), edits and comments
    // without @codex get no answer at all.
    let bot = comment(
        "Commands: `@codex spawn \"<prompt>\"`",
        "github-actions[bot]",
        "Bot",
        "MEMBER",
        "created",
    );
    assert_eq!(bridge(&env, &bot), json!({}));
    assert_eq!(bridge(&env, &member("looks good to me")), json!({}));
    let edited = comment("@codex spawn \"x\"", "alice", "User", "MEMBER", "edited");
    assert_eq!(bridge(&env, &edited), json!({}));

    let text = body(&bridge(&env, &member("@codex deploy prod")));
    assert!(text.starts_with("⚠️ `deploy` is not a command"), "{text}");
    assert!(text.contains("`@codex abort cid=<id>`"), "{text}");
    let text = body(&bridge(
        &env,
        &member("@codex spawn \"x\" sandbox=danger-full-access"),
    ));
    assert!(text.contains("`sandbox=` is not an option"), "{text}");
    for outside in ["..", "/etc", "src/../../"] {
        let text = body(&bridge(
            &env,
            &member(&format!("@codex spawn \"look\" cwd={outside}")),
        ));
        assert!(text.starts_with("⚠️ not spawned:"), "{outside}: {text}");
    }
    assert_eq!(task_count(&env), 0, "a refused comment started a task");

    // A task started another way (the CLI, a server user) is not the
    // bridge's to show, answer or stop.
    let out = env.run(&["task", "spawn", "private work"]);
    out.expect_code(0);
    let local = out.stdout().trim().to_string();
    assert!(local.starts_with("t-"), "{local}");
    for cmd in ["status", "abort"] {
        let text = body(&bridge(&env, &member(&format!("@codex {cmd} cid={local}"))));
        assert_eq!(
            text,
            format!("⚠️ no task `{local}` was started from this repository's issues."),
            "{cmd}"
        );
    }
    assert_ne!(task(&env, &local)["state"], "cancelled");

    // The allow-list is configuration; a wrong value names its key.
    env.config("github_bridge:\n  allowed_associations: [none]\n");
    let text = body(&bridge(
        &env,
        &comment("@codex", "mallory", "User", "NONE", "created"),
    ));
    assert!(text.starts_with("Commands (one per comment):"), "{text}");
    env.config("github_bridge:\n  allowed_associations: [OWNERS]\n");
    let path = env.root.parent().unwrap().join("event.json");
    let out = env.run(&["bridge", "github", "--event", path.to_str().unwrap()]);
    out.expect_code(2);
    assert!(
        out.stderr().contains("github_bridge.allowed_associations")
            && out.stderr().contains("`OWNERS`"),
        "{}",
        out.stderr()
    );

    // A payload that is no issue event, or no file, is named.
    std::fs::write(&path, r#"{"action":"push","ref":"refs/heads/main"}"#).unwrap();
    let out = env.run(&["bridge", "github", "--event", path.to_str().unwrap()]);
    out.expect_code(2);
    assert!(
        out.stderr().contains("event.json has no `issue`"),
        "{}",
        out.stderr()
    );
    let out = env.run(&["bridge", "github", "--event", "/nonexistent/event.json"]);
    out.expect_code(2);
    assert!(
        out.stderr()
            .contains("cannot read the event payload /nonexistent/event.json: No such file"),
        "{}",
        out.stderr()
    );
}

/// A fake `gh` in `dir` that appends its arguments and the body file's
/// text to `dir/gh.log`.
fn fake_gh(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let gh = bin.join("gh");
    std::fs::write(
        &gh,
        format!(
            "#!/bin/sh\nlog={}\necho \"args: $*\" >> \"$log\"\necho \"token: $GH_TOKEN\" >> \"$log\"\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --body-file ]; then echo \"body: $(cat \"$2\")\" >> \"$log\"; fi\n  shift\ndone\n",
            dir.join("gh.log").display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&gh).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&gh, perm).unwrap();
    bin
}

#[test]
fn service_print_github_actions_is_a_least_privilege_workflow_whose_steps_post_the_reply() {
    let env = codex_env();
    env.script(&format!("{THREAD}\n{DONE}\n"));
    let out = env.run(&["service", "print", "github-actions"]);
    out.expect_code(0);
    let wf: serde_yaml::Value = serde_yaml::from_str(&out.stdout()).unwrap();
    let on = &wf["on"];
    assert_eq!(
        on["issue_comment"]["types"],
        serde_yaml::from_str::<serde_yaml::Value>("[created]").unwrap()
    );
    assert!(on["issues"]["types"].is_sequence());
    assert_eq!(
        wf["permissions"],
        serde_yaml::from_str::<serde_yaml::Value>("{contents: read, issues: write}").unwrap()
    );
    let job = &wf["jobs"]["bridge"];
    let filter = job["if"].as_str().unwrap();
    assert!(
        filter.contains("contains(github.event.comment.body, '@codex')")
            && filter.contains("contains(github.event.issue.body, '@codex')")
            && filter.contains("!github.event.issue.pull_request"),
        "{filter}"
    );
    assert_eq!(job["runs-on"][0], "self-hosted");
    let steps = job["steps"].as_sequence().unwrap();
    assert_eq!(steps.len(), 2);
    // The token reaches the posting step only, never car (nor its tasks).
    assert!(steps[0]["env"].get("GH_TOKEN").is_none());
    assert_eq!(steps[0]["env"]["RUNNER_TRACKING_ID"], "");
    assert_eq!(steps[1]["env"]["GH_TOKEN"], "${{ github.token }}");

    // Run the steps as the runner would, with a fake gh.
    let work = env.root.parent().unwrap().join("runner");
    std::fs::create_dir_all(work.join("temp")).unwrap();
    let bin = fake_gh(&work);
    let event = work.join("event.json");
    std::fs::write(&event, member("@codex spawn \"Fix the build\"").to_string()).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (i, step) in steps.iter().enumerate() {
        let script = step["run"].as_str().unwrap();
        let mut cmd = std::process::Command::new("bash");
        cmd.args(["-c", script])
            .current_dir(&work)
            .env("PATH", &path)
            .env("HOME", &env.home)
            .env("FAKE_AGENT_SCRIPT", &env.script)
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_REPOSITORY", "octo-org/widgets")
            .env("RUNNER_TEMP", work.join("temp"));
        if i == 1 {
            cmd.env("GH_TOKEN", "ghs_faketoken").env("ISSUE", "7");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "step {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = std::fs::read_to_string(work.join("gh.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "args: issue comment 7 --repo octo-org/widgets --body-file {}",
            work.join("temp/car-reply.md").display()
        )
    );
    assert_eq!(lines[1], "token: ghs_faketoken");
    assert!(lines[2].starts_with("body: 🛠️ spawned: cid `t-"), "{log}");
    assert_eq!(task_count(&env), 1);

    // No reply (a bot's comment): nothing is posted.
    std::fs::remove_file(work.join("gh.log")).unwrap();
    let bot = comment(
        "@codex status cid=x",
        "github-actions[bot]",
        "Bot",
        "NONE",
        "created",
    );
    std::fs::write(&event, bot.to_string()).unwrap();
    for (i, step) in steps.iter().enumerate() {
        let out = std::process::Command::new("bash")
            .args(["-c", step["run"].as_str().unwrap()])
            .current_dir(&work)
            .env("PATH", &path)
            .env("HOME", &env.home)
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_REPOSITORY", "octo-org/widgets")
            .env("RUNNER_TEMP", work.join("temp"))
            .env("ISSUE", "7")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "step {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!work.join("gh.log").exists(), "gh was called for a bot");
}
