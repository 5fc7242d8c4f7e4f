use std::fs::File;
use std::time::{Duration, Instant};

use fs2::FileExt;

use super::*;
use crate::paths::RepoPaths;
use crate::process;

#[test]
fn second_acquire_fails_naming_holder_and_keeps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RepoPaths::new(dir.path());
    let first = RunLock::acquire(&paths, "run").unwrap();
    let err = RunLock::acquire(&paths, "once").unwrap_err();
    match &err {
        LockError::Held {
            holder: Some(h), ..
        } => assert_eq!(h.pid, std::process::id()),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id()))
    );
    assert!(
        paths.run_lock_file().exists(),
        "the loser must not delete the lock"
    );
    assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
    agrees(&paths);
    drop(first);
    assert!(!paths.run_lock_file().exists());
    assert_eq!(probe(&paths), LockStatus::Free);
    agrees(&paths);
    RunLock::acquire(&paths, "run").unwrap();
}

#[test]
fn deleting_every_file_neither_frees_the_lock_nor_hides_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RepoPaths::new(dir.path());
    let lock = RunLock::acquire(&paths, "run").unwrap();
    // What `git clean -fdX` does to the ignored files.
    std::fs::remove_file(paths.run_lock_file()).unwrap();
    let me = std::process::id();
    match probe(&paths) {
        LockStatus::Held(Some(h)) if cfg!(target_os = "linux") => assert_eq!(h.pid, me),
        LockStatus::Held(_) => {}
        other => panic!("the live holder is hidden: {other:?}"),
    }
    match RunLock::acquire(&paths, "run") {
        Err(LockError::Held { .. }) => {}
        other => panic!("a second runner got the lock: {other:?}"),
    }
    let start = Instant::now();
    while !paths.run_lock_file().exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the holder did not write its lock file again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    match probe(&paths) {
        LockStatus::Held(Some(h)) => {
            assert_eq!((h.pid, h.command.as_deref()), (me, Some("run")));
        }
        other => panic!("unexpected {other:?}"),
    }
    drop(lock);
    assert!(!paths.run_lock_file().exists());
    assert_eq!(probe(&paths), LockStatus::Free);
    agrees(&paths);
}

#[test]
fn a_runner_of_an_older_car_holding_the_file_lock_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RepoPaths::new(dir.path());
    std::fs::create_dir_all(&paths.car_dir).unwrap();
    let content = format!(
        r#"{{"pid": {}, "host": "{}", "command": "run"}}"#,
        std::process::id(),
        process::hostname()
    );
    std::fs::write(paths.run_lock_file(), content).unwrap();
    let old = File::open(paths.run_lock_file()).unwrap();
    FileExt::lock_exclusive(&old).unwrap();
    assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
    agrees(&paths);
    assert!(matches!(
        RunLock::acquire(&paths, "run"),
        Err(LockError::Held {
            holder: Some(_),
            ..
        })
    ));
    assert!(paths.run_lock_file().exists(), "its file is left alone");
    FileExt::unlock(&old).unwrap();
    RunLock::acquire(&paths, "run").unwrap();
}

#[test]
fn without_directory_locks_the_file_lock_still_excludes() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RepoPaths::new(dir.path());
    let first = RunLock::take(&paths, "run", false).unwrap();
    assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
    agrees(&paths);
    for lock_dir in [false, true] {
        match RunLock::take(&paths, "run", lock_dir) {
            Err(LockError::Held {
                holder: Some(h), ..
            }) => assert_eq!(h.pid, std::process::id()),
            other => panic!("a second runner got the lock: {other:?}"),
        }
    }
    drop(first);
    assert_eq!(probe(&paths), LockStatus::Free);
    agrees(&paths);
    RunLock::take(&paths, "run", false).unwrap();
}

#[test]
fn a_live_python_runner_is_respected_and_a_stray_pid_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RepoPaths::new(dir.path());
    std::fs::create_dir_all(&paths.car_dir).unwrap();
    let me = std::process::id();
    // The Python 0.1.0 lock: no flock, no `command`.
    let python = format!(
        r#"{{"pid": {me}, "started_at": "2026-11-21T11:01:56Z", "host": "{}"}}"#,
        process::hostname()
    );
    std::fs::write(paths.run_lock_file(), &python).unwrap();
    // Not trusted while the state does not name that runner.
    assert!(matches!(probe(&paths), LockStatus::Stale(Some(_))));
    agrees(&paths);
    crate::state::StateStore::new(&paths)
        .update(|s| {
            s.status = crate::state::Status::Running;
            s.runner_pid = Some(me);
        })
        .unwrap();
    assert!(matches!(probe(&paths), LockStatus::Held(Some(_))));
    agrees(&paths);
    match RunLock::acquire(&paths, "run") {
        Err(LockError::Held {
            holder: Some(h), ..
        }) => assert_eq!(h.pid, me),
        other => panic!("took the lock of a live Python runner: {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(paths.run_lock_file()).unwrap(),
        python
    );
}

#[test]
fn stale_file_of_dead_runner_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let paths = RepoPaths::new(dir.path());
    std::fs::create_dir_all(&paths.car_dir).unwrap();
    let stale = r#"{"pid": 999999, "started_at": "2026-01-01T00:00:00Z", "host": "elsewhere", "command": "run"}"#;
    std::fs::write(paths.run_lock_file(), stale).unwrap();
    assert!(matches!(probe(&paths), LockStatus::Stale(Some(_))));
    agrees(&paths);
    let lock = RunLock::acquire(&paths, "run").unwrap();
    assert_eq!(lock.info().pid, std::process::id());
}

/// [`is_held`] says what [`probe`] says, without naming the holder.
fn agrees(paths: &RepoPaths) {
    assert_eq!(
        is_held(paths),
        matches!(probe(paths), LockStatus::Held(_)),
        "{}",
        paths.root.display()
    );
}
