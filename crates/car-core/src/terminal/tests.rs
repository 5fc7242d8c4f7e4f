//! Terminal sessions without a PTY: the command, the records, a stop and
//! the sweep, on processes started here in groups of their own.

use std::os::unix::process::CommandExt;
use std::path::Path;

use super::{TerminalError, TerminalStatus};
use crate::repo::Repo;

fn repo(root: &Path, extra: &str) -> Repo {
    std::fs::create_dir_all(root.join(".codex-autorunner")).unwrap();
    std::fs::write(
        root.join(".codex-autorunner/config.yml"),
        format!("version: 2\nmode: repo\ncodex:\n  binary: /bin/sleep\n{extra}"),
    )
    .unwrap();
    Repo::open(root).unwrap()
}

/// Starts `sleep 60` in a group of its own with the session's environment.
fn start(repo: &Repo) -> (String, std::process::Child) {
    let (id, cmd) = repo.terminals().prepare().unwrap();
    let child = std::process::Command::new("/bin/sleep")
        .arg("60")
        .env_clear()
        .envs(cmd.env)
        .process_group(0)
        .spawn()
        .unwrap();
    repo.terminals()
        .record_started(&id, child.id(), vec!["sleep".into()], (80, 24), "test")
        .unwrap();
    (id, child)
}

/// Makes the record's owner a process that is gone.
fn orphan(repo: &Repo, id: &str) {
    repo.terminals()
        .update(id, |r| {
            r.owner_pid = u32::MAX / 2;
            r.owner_start = Some(1);
        })
        .unwrap();
}

#[test]
fn the_command_has_the_model_the_args_and_the_agent_environment() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(
        dir.path(),
        "  terminal_args: [--yolo, --search]\n  model: gpt-x\n",
    );
    let (id, cmd) = repo.terminals().prepare().unwrap();
    assert!(id.starts_with("p-"), "{id}");
    assert_eq!(cmd.program, Path::new("/bin/sleep"));
    assert_eq!(cmd.args, ["--model", "gpt-x", "--yolo", "--search"]);
    assert_eq!(cmd.cwd, repo.root());
    let get = |k: &str| {
        cmd.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string_lossy().into_owned())
    };
    assert_eq!(get("TERM").as_deref(), Some("xterm-256color"));
    let marker = get(crate::MARKER_VAR).unwrap();
    assert!(marker.contains(&format!(":terminal-{id}:")), "{marker}");
    assert!(
        cmd.env
            .iter()
            .all(|(n, _)| n == crate::MARKER_VAR || !n.to_string_lossy().starts_with("CAR_")),
        "no car variable but the marker reaches the session"
    );
    let (other, _) = repo.terminals().prepare().unwrap();
    assert_ne!(id, other, "each session gets its own id");
}

#[test]
fn a_stop_ends_the_group_and_records_it_when_its_server_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "");
    let (id, mut child) = start(&repo);
    orphan(&repo, &id);
    let rec = repo.terminals().stop(&id, "car stop-session").unwrap();
    assert_eq!(rec.status, TerminalStatus::Ended);
    let end = rec.end.unwrap();
    assert_eq!(end.reason, "stopped");
    assert_eq!(rec.stop_requested_by.as_deref(), Some("car stop-session"));
    let status = child.wait().unwrap();
    assert!(!status.success(), "the process was signalled: {status:?}");
    // Stopping again answers with the same record.
    let again = repo.terminals().stop(&id, "someone").unwrap();
    assert_eq!(again.stop_requested_by.as_deref(), Some("car stop-session"));
}

#[test]
fn the_sweep_ends_the_sessions_of_a_gone_server_and_spares_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "");
    let (gone, mut gone_child) = start(&repo);
    let (live, mut live_child) = start(&repo);
    orphan(&repo, &gone);
    assert_eq!(repo.terminals().sweep(), 1);
    assert!(!gone_child.wait().unwrap().success());
    let list = repo.terminals().list();
    let find = |id: &str| list.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(find(&gone).end.unwrap().reason, "server_gone");
    assert_eq!(find(&live).status, TerminalStatus::Running);
    assert_eq!(live_child.try_wait().unwrap(), None, "its owner lives");
    repo.terminals()
        .record_end(&live, "exited", Some(0), None)
        .unwrap();
    let _ = live_child.kill();
    let _ = live_child.wait();
}

#[test]
fn an_unknown_or_malformed_id_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), "");
    for id in ["p-nope", "../config", "", "p-a/b"] {
        assert!(
            matches!(
                repo.terminals().stop(id, "x"),
                Err(TerminalError::NotFound { .. })
            ),
            "{id}"
        );
    }
}
