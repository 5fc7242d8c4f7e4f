//! What reaches the agent and what comes back: a big prompt on stdin, a
//! flood of output on both pipes, bytes that are not UTF-8.

use std::time::Duration;

use crate::common::TestEnv;

#[test]
fn a_300_kib_spec_reaches_the_agent_byte_for_byte() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let mut spec = String::from("# Spec\n\n");
    let mut i = 0u64;
    while spec.len() < 300 * 1024 {
        spec.push_str(&format!(
            "- requirement {i}: ünïcødé {{{{ braces }}}} `code` <tag> {}\n",
            i * 7919 % 1000
        ));
        i += 1;
    }
    env.write(".codex-autorunner/SPEC.md", &spec);
    env.script("check-todo\n");
    env.run(&["once"]).expect_code(0);
    let received = env.agent_prompt(1);
    let recorded = std::fs::read(env.path(".codex-autorunner/runs/1/prompt.md")).unwrap();
    assert_eq!(
        received, recorded,
        "the agent got exactly the recorded prompt"
    );
    let text = String::from_utf8(received).unwrap();
    assert!(
        text.contains(&format!("<SPEC>\n{spec}\n</SPEC>")),
        "SPEC not intact in the prompt"
    );
    // Not one argv string: the prompt is not in the agent's arguments.
    let argv = std::fs::read_to_string(format!("{}.argv", env.script.display())).unwrap();
    assert!(argv.len() < 1000, "prompt leaked into argv");
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_100_mb_flood_on_both_pipes_neither_deadlocks_nor_grows_memory() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    // 100 MB in 100-byte lines, alternating stdout and stderr.
    env.script("flood 100000000 100\ncheck-todo\n");
    let mut child = env
        .car(&["once"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "deadlock: car did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        peak > 0 && peak < 40 * 1024,
        "car's peak RSS was {peak} KiB"
    );
    let log = std::fs::File::open(env.path(".codex-autorunner/runs/1/output.log")).unwrap();
    let (mut out, mut err) = (0u64, 0u64);
    for line in std::io::BufRead::split(std::io::BufReader::new(log), b'\n') {
        let line = line.unwrap();
        if line.windows(11).any(|w| w == b"] stdout: o") {
            out += 1;
        } else if line.windows(11).any(|w| w == b"] stderr: e") {
            err += 1;
        }
    }
    assert_eq!((out, err), (500_000, 500_000));
    let rec = env.run_record(1);
    assert_eq!(
        rec["stdout_bytes"].as_u64().unwrap() + rec["stderr_bytes"].as_u64().unwrap(),
        100_000_000
    );
    assert_eq!(env.state()["todo_done"], 1);
}

#[test]
fn non_utf8_output_and_long_lines_are_kept() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.script("out before\nraw-out ff fe 41 42\nlong-line 1048576\nout after\ncheck-todo\n");
    env.run(&["once"]).expect_code(0);
    let log = std::fs::read(env.path(".codex-autorunner/runs/1/output.log")).unwrap();
    let text = String::from_utf8(log).expect("the log is valid UTF-8");
    assert!(text.contains("stdout: before\n"));
    assert!(
        text.contains("stdout: \u{FFFD}\u{FFFD}AB\n"),
        "invalid bytes are replaced, the rest kept"
    );
    assert!(
        text.contains(&format!("stdout: {}\n", "x".repeat(1_048_576))),
        "the 1 MiB line is intact"
    );
    assert!(text.contains("stdout: after\n"));
}
