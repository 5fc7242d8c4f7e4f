//! What a summary reads from a repository's files.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::*;
use crate::config::LoadOptions;
use crate::state::PendingQuestion;

fn repo(root: &Path, todo: &str) -> Repo {
    let car = root.join(".codex-autorunner");
    std::fs::create_dir_all(&car).unwrap();
    std::fs::write(
        car.join("config.yml"),
        "version: 2\nmode: repo\ncodex:\n  binary: /bin/true\n  args: [exec]\n",
    )
    .unwrap();
    std::fs::write(car.join("TODO.md"), todo).unwrap();
    Repo::open_with(root, &LoadOptions::default()).unwrap()
}

fn write_state(repo: &Repo, state: &State) {
    let path = repo.resolved_config().paths.state_file();
    std::fs::write(path, serde_json::to_string(state).unwrap()).unwrap();
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn a_repository_that_never_ran_is_idle_with_its_todo_counts() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path(), "- [x] a\n- [ ] b\n- [ ] c\n");
    let s = summarize("alpha", &r, &SummaryOptions::files_only());
    assert_eq!(s.id, "alpha");
    assert_eq!(s.state, LoopState::Idle);
    assert_eq!(s.stop_reason, None);
    assert_eq!((s.todo_done, s.todo_total), (Some(1), Some(3)));
    assert_eq!(s.run, None);
    assert_eq!(s.question, None);
    assert_eq!(s.git, None, "git is not asked for");
}

#[test]
fn a_waiting_question_shows_with_the_run_and_its_age() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path(), "- [ ] a\n");
    let long = format!("Which database should I use? {}", "Context. ".repeat(40));
    write_state(
        &r,
        &State {
            last_run_id: Some(4),
            status: Status::NeedsInput,
            stop_reason: Some(StopReason::NeedsInput),
            last_run_started_at: Some("2026-01-01T10:00:00Z".into()),
            last_run_finished_at: Some("2026-01-01T10:01:00Z".into()),
            pending_question: Some(PendingQuestion {
                run_id: 4,
                question: long,
                asked_at: "2026-01-01T10:01:00Z".into(),
            }),
            ..State::default()
        },
    );
    let s = summarize_at(
        "alpha",
        &r,
        &SummaryOptions::files_only(),
        at("2026-01-01T10:05:00Z"),
    );
    assert_eq!(s.state, LoopState::WaitingForInput);
    assert_eq!(s.stop_reason, Some(StopReason::NeedsInput));
    let run = s.run.unwrap();
    assert_eq!(
        (run.id, run.age_seconds, run.in_progress),
        (4, Some(300), false)
    );
    let q = s.question.unwrap();
    assert!(
        q.starts_with("Which database should I use? Context."),
        "{q}"
    );
    assert!(q.ends_with('…'), "{q}");
    assert!(q.chars().count() <= QUESTION_MAX_CHARS);
}

#[test]
fn an_answered_question_is_a_stop_and_a_dead_runner_is_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path(), "- [ ] a\n");
    // Answered: the question is gone, the loop waits to be resumed.
    write_state(
        &r,
        &State {
            last_run_id: Some(1),
            status: Status::NeedsInput,
            stop_reason: Some(StopReason::NeedsInput),
            ..State::default()
        },
    );
    let s = summarize("a", &r, &SummaryOptions::files_only());
    assert_eq!(
        (s.state, s.stop_reason, s.question),
        (LoopState::Stopped, Some(StopReason::NeedsInput), None)
    );
    // The state says running, but no runner holds the lock.
    write_state(
        &r,
        &State {
            last_run_id: Some(2),
            status: Status::Running,
            runner_pid: Some(999_999),
            ..State::default()
        },
    );
    let s = summarize("a", &r, &SummaryOptions::files_only());
    assert_eq!(
        (s.state, s.stop_reason),
        (LoopState::Stopped, Some(StopReason::Crashed))
    );
    assert!(!s.run.unwrap().in_progress);
}

#[test]
fn an_unreadable_todo_falls_back_to_the_last_counts_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path(), "");
    std::fs::remove_file(r.doc_path(crate::docs::DocKind::Todo)).unwrap();
    write_state(
        &r,
        &State {
            todo_done: Some(2),
            todo_total: Some(5),
            stop_reason: Some(StopReason::RunLimit),
            ..State::default()
        },
    );
    let s = summarize("a", &r, &SummaryOptions::files_only());
    assert_eq!((s.todo_done, s.todo_total), (Some(2), Some(5)));
    assert_eq!(s.state, LoopState::Stopped);
}

#[test]
fn with_git_the_branch_and_dirtiness_come_along() {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(dir.path())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let r = repo(dir.path(), "- [ ] a\n");
    let s = summarize("a", &r, &SummaryOptions::with_git(None));
    let git = s.git.unwrap();
    assert_eq!(git.branch.as_deref(), Some("main"));
    assert!(git.dirty, "the new .codex-autorunner/ files are untracked");
}
