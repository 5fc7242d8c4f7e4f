//! The task API without a task process: what spawn, reply, abort, status
//! and list decide from the records on disk.

use std::path::Path;

use super::record::{self, TaskRecord, TaskState};
use super::{TaskError, TaskRequest};
use crate::error::{Error, ErrorKind};
use crate::repo::Repo;
use crate::stop::{RequestedBy, Requester};

fn repo(root: &Path) -> Repo {
    std::fs::create_dir_all(root.join(".codex-autorunner")).unwrap();
    std::fs::write(
        root.join(".codex-autorunner/config.yml"),
        "version: 2\nmode: repo\ncodex:\n  binary: /bin/true\n  args: [exec]\n",
    )
    .unwrap();
    Repo::open(root).unwrap()
}

fn api() -> Requester {
    Requester::new(RequestedBy::Api, "test")
}

fn task_error(e: Error) -> TaskError {
    match e {
        Error::Task(t) => t,
        other => panic!("not a task error: {other:?}"),
    }
}

/// Spawns with a program that cannot start: the task is recorded, then failed.
fn failed_task(repo: &Repo, prompt: &str) -> TaskRecord {
    let tasks = repo.tasks(api());
    let e = tasks
        .spawn(
            "/nonexistent/car",
            TaskRequest {
                prompt: prompt.into(),
                ..TaskRequest::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(matches!(task_error(e), TaskError::Launch(_)));
    let page = tasks.list(0, usize::MAX);
    page.tasks.into_iter().find(|t| t.prompt == prompt).unwrap()
}

#[test]
fn a_task_whose_process_cannot_start_is_recorded_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let rec = failed_task(&repo, "hello");
    assert_eq!(rec.state, TaskState::Failed);
    assert_eq!(rec.prompt, "hello");
    assert_eq!(rec.requested_by, api());
    assert_eq!(rec.cwd, std::fs::canonicalize(dir.path()).unwrap());
    let turn = rec.current_turn().unwrap();
    assert!(
        turn.error.as_deref().unwrap().contains("cannot start"),
        "{turn:?}"
    );
    let prompt = record::turn_dir(&dir.path().join(".codex-autorunner/jobs").join(&rec.id), 1)
        .join("prompt.md");
    assert_eq!(std::fs::read_to_string(prompt).unwrap(), "hello");
}

#[test]
fn the_working_directory_must_be_in_the_repository_or_an_allowed_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let other = dir.path().join("other");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(&other, root.join("escape")).unwrap();
    let repo = repo(&root);
    let spawn = |tasks: &super::Tasks<'_>, cwd: &Path| {
        tasks.spawn(
            "/nonexistent/car",
            TaskRequest {
                prompt: "p".into(),
                cwd: Some(cwd.to_path_buf()),
                model: None,
            },
        )
    };
    let tasks = repo.tasks(api());
    for outside in [other.clone(), root.join("escape"), root.join("sub/../..")] {
        let e = task_error(spawn(&tasks, &outside).unwrap_err());
        assert!(
            matches!(e, TaskError::CwdNotAllowed { .. }),
            "{outside:?}: {e}"
        );
        assert_eq!(e.kind(), ErrorKind::User);
        // The message names the path as asked, and where it leads.
        let text = e.to_string();
        assert!(text.contains(&outside.display().to_string()), "{text}");
        assert!(text.contains("server.allowed_roots"), "{text}");
        if outside != other {
            assert!(text.contains("(resolved: "), "{text}");
        }
    }
    let e = task_error(spawn(&tasks, &root.join("missing")).unwrap_err());
    assert!(matches!(e, TaskError::CwdMissing { .. }), "{e}");
    // Inside the repository (relative to it), or under an allowed root, it
    // gets as far as starting the process.
    for inside in [Path::new("sub"), &root.join("sub")] {
        let e = task_error(spawn(&tasks, inside).unwrap_err());
        assert!(matches!(e, TaskError::Launch(_)), "{inside:?}: {e}");
    }
    let allowed = repo.tasks(api()).allow_root(&other);
    let e = task_error(spawn(&allowed, &root.join("escape")).unwrap_err());
    assert!(matches!(e, TaskError::Launch(_)), "{e}");
    let allowed = repo.tasks(api()).allow_roots([other.clone()]);
    let e = task_error(spawn(&allowed, &other).unwrap_err());
    assert!(matches!(e, TaskError::Launch(_)), "{e}");
    assert!(matches!(
        task_error(
            tasks
                .spawn("/nonexistent/car", TaskRequest::default())
                .unwrap_err()
        ),
        TaskError::EmptyPrompt { what: "prompt" }
    ));
}

#[test]
fn a_reply_needs_an_ended_turn_and_a_thread() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let tasks = repo.tasks(api());
    let rec = failed_task(&repo, "p");
    let task_dir = dir.path().join(".codex-autorunner/jobs").join(&rec.id);
    let e = task_error(
        tasks
            .reply("/nonexistent/car", &rec.id, "more")
            .unwrap_err(),
    );
    assert!(matches!(e, TaskError::NoThread { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::User);

    // Running, in this (live) process: busy.
    record::update(&task_dir, |r| {
        r.thread_id = Some("th".into());
        r.state = TaskState::Running;
        r.runner_pid = Some(std::process::id());
        r.runner_start = crate::process::start_time(std::process::id());
        Ok(())
    })
    .unwrap();
    let e = task_error(
        tasks
            .reply("/nonexistent/car", &rec.id, "more")
            .unwrap_err(),
    );
    assert!(matches!(e, TaskError::Busy { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Busy);
    assert_eq!(e.hint(), Some(crate::hint::Hint::WaitForTask));
    assert_eq!(tasks.status(&rec.id).unwrap().state, TaskState::Running);

    // Its process gone without a word: it reads as failed, and takes a reply.
    record::update(&task_dir, |r| {
        r.runner_pid = Some(u32::MAX / 2);
        Ok(())
    })
    .unwrap();
    let status = tasks.status(&rec.id).unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert!(status.current_turn().unwrap().error.is_some());
    let e = task_error(
        tasks
            .reply("/nonexistent/car", &rec.id, "more")
            .unwrap_err(),
    );
    assert!(matches!(e, TaskError::Launch(_)), "{e}");
    let rec = tasks.status(&rec.id).unwrap();
    assert_eq!(rec.turns.len(), 2, "the reply is a second turn");
    assert_eq!(
        std::fs::read_to_string(record::turn_dir(&task_dir, 2).join("prompt.md")).unwrap(),
        "more"
    );
}

#[test]
fn unknown_ids_and_paths_are_not_tasks_and_lists_page_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let tasks = repo.tasks(api());
    for id in ["t-nope", "../config.yml", "snapshot", ""] {
        let e = task_error(tasks.status(id).unwrap_err());
        assert!(matches!(e, TaskError::NotFound { .. }), "{id}: {e}");
        assert!(tasks.abort(id).is_err());
    }
    let ids: Vec<String> = (0..3)
        .map(|i| {
            std::thread::sleep(std::time::Duration::from_millis(3));
            failed_task(&repo, &i.to_string()).id
        })
        .collect();
    // A job of another kind shares the directory: not a task.
    std::fs::create_dir_all(dir.path().join(".codex-autorunner/jobs/snapshot")).unwrap();
    let page = tasks.list(1, 5);
    assert_eq!(page.total, 3);
    let got: Vec<&str> = page.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(got, [ids[1].as_str(), ids[0].as_str()]);
    // Aborting a task that is over changes nothing.
    let rec = tasks.abort(&ids[0]).unwrap();
    assert_eq!(rec.state, TaskState::Failed);
}

/// The next item of `f` within 5 s: `Some(None)` when the stream ended,
/// `None` when nothing came.
fn next_within<T>(f: &mut crate::follow::Follow<T>) -> Option<Option<T>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(5), f.next())
            .await
            .ok()
    })
}

#[test]
fn following_a_task_reads_from_the_offset_until_its_turn_ends() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let tasks = repo.tasks(api());
    let rec = failed_task(&repo, "p");
    let task_dir = dir.path().join(".codex-autorunner/jobs").join(&rec.id);
    let log = task_dir.join(record::OUTPUT_FILE);
    std::fs::write(&log, "one\ntwo\n").unwrap();
    // Over: what is there from the offset, then the end.
    let mut f = tasks.follow_output(&rec.id, 4).unwrap();
    let chunk = next_within(&mut f).flatten().unwrap();
    assert_eq!((chunk.offset, chunk.bytes.as_slice()), (4, &b"two\n"[..]));
    assert!(matches!(next_within(&mut f), Some(None)), "the stream ends");

    // Running (in this live process): new output arrives, and the stream
    // ends once the turn is recorded as over.
    record::update(&task_dir, |r| {
        r.state = TaskState::Running;
        r.runner_pid = Some(std::process::id());
        r.runner_start = crate::process::start_time(std::process::id());
        Ok(())
    })
    .unwrap();
    let mut f = tasks.follow_output(&rec.id, 8).unwrap();
    let mut out = crate::fs_util::open_append(&log).unwrap();
    std::io::Write::write_all(&mut out, b"three\n").unwrap();
    let chunk = next_within(&mut f).flatten().unwrap();
    assert_eq!((chunk.offset, chunk.bytes.as_slice()), (8, &b"three\n"[..]));
    record::update(&task_dir, |r| {
        r.finish(TaskState::Succeeded, Some(0), None);
        Ok(())
    })
    .unwrap();
    assert!(matches!(next_within(&mut f), Some(None)), "the stream ends");
}

#[test]
fn a_queued_turn_whose_process_died_reads_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let tasks = repo.tasks(api());
    let rec = failed_task(&repo, "p");
    let task_dir = dir.path().join(".codex-autorunner/jobs").join(&rec.id);
    let set = |pid: Option<u32>| {
        record::update(&task_dir, |r| {
            r.state = TaskState::Queued;
            r.runner_pid = pid;
            r.runner_start = None;
            Ok(())
        })
        .unwrap();
    };
    // Not started yet: queued.
    set(None);
    assert_eq!(tasks.status(&rec.id).unwrap().state, TaskState::Queued);
    // Started, alive: queued until it takes the record.
    set(Some(std::process::id()));
    assert_eq!(tasks.status(&rec.id).unwrap().state, TaskState::Queued);
    // Started, gone without taking it: failed.
    set(Some(u32::MAX / 2));
    assert_eq!(tasks.status(&rec.id).unwrap().state, TaskState::Failed);
}

#[test]
fn server_allowed_roots_are_resolved_at_load_and_a_missing_one_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(dir.path().join("other/deep")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("other"), dir.path().join("link")).unwrap();
    let with = |roots: &str| {
        std::fs::create_dir_all(root.join(".codex-autorunner")).unwrap();
        std::fs::write(
            root.join(".codex-autorunner/config.yml"),
            format!("version: 2\nmode: repo\nserver:\n  allowed_roots:\n{roots}"),
        )
        .unwrap();
        Repo::open(&root)
    };
    let repo = with("    - ../link/deep/..\n").unwrap();
    let other = std::fs::canonicalize(dir.path().join("other")).unwrap();
    assert_eq!(
        repo.config().server.allowed_roots,
        std::slice::from_ref(&other)
    );
    let tasks = repo
        .tasks(api())
        .allow_roots(repo.config().server.allowed_roots.clone());
    let req = TaskRequest {
        prompt: "p".into(),
        cwd: Some(other.join("deep")),
        model: None,
    };
    let e = task_error(tasks.spawn("/nonexistent/car", req).unwrap_err());
    assert!(matches!(e, TaskError::Launch(_)), "{e}");

    let e = with("    - ../link\n    - ../missing\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`server.allowed_roots`"), "{e}");
    assert!(e.contains("config.yml:6"), "{e}");
    assert!(e.contains("item 2") && e.contains("../missing"), "{e}");
}
