//! A full disk: the loop stops as `disk_full`, naming the file that could
//! not be written, records the stop, leaves the docs as they were, and
//! `car resume` goes on once there is space again.
//!
//! Two real kernel errors: `ENOSPC` on a small tmpfs (needs the right to
//! mount, e.g. root; skipped with a message elsewhere), and `EFBIG` from the
//! file size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored), which needs
//! nothing but `prlimit`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{CAR, Run, TestEnv, files_under};

/// A tmpfs mounted for one test; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Self, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The bytes of every doc and config file car must not touch.
fn docs(env: &TestEnv) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = files_under(&env.path(".codex-autorunner"))
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "md" || e == "yml" || e == "txt")
                && !p.starts_with(env.path(".codex-autorunner/runs"))
        })
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// Checks what a `disk_full` stop leaves: the message names the run log,
/// the state and the ledger record the stop, the docs are unchanged.
fn assert_disk_full_stop(env: &TestEnv, r: &Run, before: &[(PathBuf, Vec<u8>)], errno: &str) {
    r.expect_code(1);
    let out = r.stdout();
    assert!(out.contains("car: stopped: disk_full: "), "{out}");
    assert!(
        out.contains(&format!(
            "cannot write {}: {errno}",
            env.path(".codex-autorunner/runs/1/output.log").display()
        )),
        "the first error, naming the run log, is reported: {out}"
    );
    assert!(!out.contains("state.json"), "{out}");
    assert!(out.contains("then `car resume`"), "{out}");
    let s = env.state();
    assert_eq!(s["stop_reason"], "disk_full", "{s}");
    assert_eq!(s["status"], "error");
    assert_eq!(s["runner_pid"], serde_json::Value::Null);
    assert!(
        s["stop_detail"]
            .as_str()
            .unwrap()
            .contains("runs/1/output.log")
    );
    let ledger = env.read(".codex-autorunner/events.jsonl");
    let events: Vec<serde_json::Value> = ledger
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "run_finished" && e["run_id"] == 1 && e["outcome"] == "error"),
        "{ledger}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "stopped" && e["reason"] == "disk_full"),
        "{ledger}"
    );
    assert_eq!(docs(env), before, "the docs changed");
    assert!(!env.path(".codex-autorunner/disk-reserve.tmp").exists());
    // Not a crash: the stop was recorded.
    let status = env.run(&["status"]);
    status.expect_code(0);
    assert!(!status.stdout().contains("crashed"), "{}", status.stdout());
}

/// `car resume` once there is space: the last stop is reported as
/// `last_stop`, and run 2 goes well.
fn resume_after_freeing(env: &TestEnv, last_stop: &str) {
    env.script("check-todo\n");
    let r = env.run(&["resume", "--once"]);
    r.expect_code(0);
    assert!(
        r.stdout().contains(&format!("last stop: {last_stop}")),
        "{}",
        r.stdout()
    );
    assert_eq!(env.state()["stop_reason"], "run_limit");
    assert_eq!(env.run_record(2)["outcome"], "ok");
    assert!(env.read(".codex-autorunner/TODO.md").contains("- [x] a"));
}

/// A repo on a 16 MiB tmpfs, or `None` (with a message) where mounting one
/// is not allowed.
fn on_tmpfs() -> Option<(TestEnv, Tmpfs)> {
    let env = TestEnv::bare();
    let mnt = match Tmpfs::mount(&env.root, "16m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs to fill ({why}); needs root or CAP_SYS_ADMIN. \
                 disk_full_from_the_file_size_limit covers the same path with EFBIG"
            );
            return None;
        }
    };
    env.init();
    env.todo("- [ ] a\n- [ ] b\n");
    Some((env, mnt))
}

/// Fills the file system but for `left` bytes; returns the filler file.
fn fill(env: &TestEnv, left: u64) -> PathBuf {
    let filler = env.path(".git/filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![b'f'; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(left)).unwrap();
    filler
}

#[test]
fn a_full_file_system_stops_the_loop_as_disk_full_and_resume_works_after() {
    let Some((env, mnt)) = on_tmpfs() else {
        return;
    };
    let before = docs(&env);
    // Enough to start a run (and hold car's reserve), far too little for
    // its output.
    let filler = fill(&env, 512 * 1024);
    env.script("flood 8000000 100\n");
    let r = env.run(&["once"]);
    assert_disk_full_stop(&env, &r, &before, "No space left on device");
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_dir_all(env.path(".codex-autorunner/runs/1")).unwrap();
    resume_after_freeing(&env, "disk_full");
    drop(mnt);
}

#[test]
fn disk_full_from_the_file_size_limit() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    let before = docs(&env);
    env.script("flood 8000000 100\n");
    // `SIGXFSZ` ignored (kept across exec), so the write fails with EFBIG
    // instead of killing car.
    let base = env.car(&[]);
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"trap '' XFSZ; exec prlimit --fsize=2000000 -- "$0" once"#,
        CAR,
    ])
    .current_dir(&env.root)
    .env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let r = Run(cmd.output().unwrap());
    assert_disk_full_stop(&env, &r, &before, "File too large");
    resume_after_freeing(&env, "disk_full");
}

/// A plain `ulimit -f`, with `SIGXFSZ` at its default action (which kills
/// the process): car still gets `EFBIG` and stops as `disk_full`.
#[test]
fn disk_full_from_the_file_size_limit_without_ignoring_sigxfsz() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    let before = docs(&env);
    env.script("flood 8000000 100\n");
    let base = env.car(&[]);
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"trap - XFSZ; exec prlimit --fsize=2000000 -- "$0" once"#,
        CAR,
    ])
    .current_dir(&env.root)
    .env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let r = Run(cmd.output().unwrap());
    assert_disk_full_stop(&env, &r, &before, "File too large");
    resume_after_freeing(&env, "disk_full");
}

#[test]
fn a_stop_that_cannot_be_recorded_for_space_is_said_on_stderr() {
    let Some((env, mnt)) = on_tmpfs() else {
        return;
    };
    let before = docs(&env);
    // Too little room for car's reserve: nothing is left to record with.
    let filler = fill(&env, 64 * 1024);
    env.script("flood 8000000 100\n");
    let r = env.run(&["once"]);
    r.expect_code(1);
    let err = r.stderr();
    let log = env.path(".codex-autorunner/runs/1/output.log");
    assert!(
        err.contains(&format!(
            "car: error: cannot write {}: No space left on device",
            log.display()
        )),
        "the first error comes first: {err}"
    );
    assert!(
        err.contains("the loop stopped (disk_full), but the stop could not be recorded"),
        "{err}"
    );
    assert_eq!(docs(&env), before, "the docs changed");
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_dir_all(env.path(".codex-autorunner/runs/1")).unwrap();
    // Unrecorded, the stop reads as a crash; resuming works all the same.
    resume_after_freeing(&env, "crashed");
    drop(mnt);
}
