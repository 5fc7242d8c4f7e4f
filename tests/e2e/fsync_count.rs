//! How many times one `car once` syncs to disk (on a slow disk, that is the
//! cost of a run). Counted with `strace`; skipped where it is missing or
//! cannot trace.

use std::process::Command;

use crate::common::{CAR, TestEnv};

/// The syncs (`fsync` + `fdatasync`) of one `car once` with the fake agent:
/// 21 before the state updates of a run were batched, 12 after. A change
/// that needs more must say why here.
const MAX_SYNCS: u64 = 12;

#[test]
fn one_run_syncs_at_most_a_dozen_times() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("SKIPPED: strace is not installed (apt-get install strace)");
        return;
    }
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("check-todo\n");
    let summary = env.path("strace.txt");
    let base = env.car(&[]);
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&summary)
        .arg(CAR)
        .arg("once")
        .current_dir(&env.root)
        .env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().unwrap();
    let Ok(table) = std::fs::read_to_string(&summary) else {
        eprintln!(
            "SKIPPED: strace cannot trace here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.run_record(1)["outcome"], "ok");
    // `% time  seconds  usecs/call  calls  errors syscall` rows.
    let syncs: u64 = table
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = *f.last()?;
            (name == "fsync" || name == "fdatasync")
                .then(|| f.get(3)?.parse::<u64>().ok())
                .flatten()
        })
        .sum();
    assert!(syncs > 0, "no sync counted at all:\n{table}");
    assert!(
        syncs <= MAX_SYNCS,
        "one run synced {syncs} times (at most {MAX_SYNCS}):\n{table}"
    );
}
