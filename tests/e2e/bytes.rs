//! Bytes car did not write stay as they were: SUMMARY's non-UTF-8 bytes,
//! symlinked docs, and output lines split only between characters.

use std::os::unix::fs::symlink;

use crate::common::TestEnv;

const SUMMARY: &str = ".codex-autorunner/SUMMARY.md";

#[test]
fn the_summary_marker_keeps_every_byte_of_a_non_utf8_summary() {
    let env = TestEnv::new();
    env.todo("- [x] done\n");
    // "# Sum\n" + Latin-1 "été" + a stray 0xff + trailing spaces and blank lines.
    let written: &[u8] = b"# Sum\n\xe9t\xe9 \xff  \n\n\n";
    env.script(
        "raw-write .codex-autorunner/SUMMARY.md 23 20 53 75 6d 0a e9 74 e9 20 ff 20 20 0a 0a 0a\n",
    );
    env.run(&["once"]).expect_code(0);
    assert_eq!(env.state()["stop_reason"], "completed");
    let bytes = std::fs::read(env.path(SUMMARY)).unwrap();
    assert!(
        bytes.starts_with(written),
        "the agent's bytes were changed: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let added = String::from_utf8(bytes[written.len()..].to_vec()).unwrap();
    assert!(
        added.starts_with("\n<!-- CAR:SUMMARY_FINALIZED run_id=1 todo="),
        "{added:?}"
    );
    assert!(added.ends_with(" -->\n"), "{added:?}");
}

#[test]
fn writes_go_through_a_symlinked_doc_to_its_target() {
    let env = TestEnv::new();
    let shared = env.path("shared");
    std::fs::create_dir_all(&shared).unwrap();
    // SUMMARY, TODO and PROGRESS live elsewhere, linked in (relative links).
    for (name, text) in [
        ("SUMMARY.md", "# Summary\n"),
        ("TODO.md", "- [x] done\n"),
        ("PROGRESS.md", "my progress\n"),
    ] {
        std::fs::write(shared.join(name), text).unwrap();
        let link = env.path(&format!(".codex-autorunner/{name}"));
        std::fs::remove_file(&link).unwrap();
        symlink(format!("../shared/{name}"), &link).unwrap();
    }
    let is_link = |name: &str| {
        std::fs::symlink_metadata(env.path(&format!(".codex-autorunner/{name}")))
            .unwrap()
            .file_type()
            .is_symlink()
    };

    // The final summary marker (car's atomic write of SUMMARY).
    env.script("append .codex-autorunner/SUMMARY.md all done\n");
    env.run(&["once"]).expect_code(0);
    assert_eq!(env.state()["stop_reason"], "completed");
    assert!(is_link("SUMMARY.md"), "SUMMARY.md was replaced by a file");
    let summary = std::fs::read_to_string(shared.join("SUMMARY.md")).unwrap();
    assert!(summary.starts_with("# Summary\nall done\n"), "{summary}");
    assert!(
        summary.contains("CAR:SUMMARY_FINALIZED run_id=1"),
        "{summary}"
    );

    // `car clear-docs` resets TODO and PROGRESS through their links.
    env.run(&["clear-docs", "--yes"]).expect_code(0);
    assert!(is_link("TODO.md") && is_link("PROGRESS.md"));
    let todo = std::fs::read_to_string(shared.join("TODO.md")).unwrap();
    assert!(todo.contains("Replace this item"), "{todo}");
    assert_eq!(
        env.read(".codex-autorunner/TODO.md.bak"),
        "- [x] done\n",
        "the backup holds the old content"
    );

    // `car init --force` rewrites through the links too.
    std::fs::write(shared.join("PROGRESS.md"), "edited\n").unwrap();
    env.run(&["init", "--force"]).expect_code(0);
    assert!(is_link("PROGRESS.md") && is_link("SUMMARY.md") && is_link("TODO.md"));
    assert_ne!(
        std::fs::read_to_string(shared.join("PROGRESS.md")).unwrap(),
        "edited\n"
    );
}

#[test]
fn long_output_lines_are_split_between_characters() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    // 15 MB of 3-byte characters on one line: cut in about four pieces.
    let n = 5_000_000;
    env.script(&format!("repeat-out {n} €\ncheck-todo\n"));
    env.run(&["once"]).expect_code(0);
    let log = std::fs::read(env.path(".codex-autorunner/runs/1/output.log")).unwrap();
    let log = String::from_utf8(log).expect("the run's log is UTF-8");
    assert!(
        !log.contains('\u{FFFD}'),
        "a character was cut in two at a line split"
    );
    let pieces: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once("] stdout: ").map(|(_, t)| t))
        .collect();
    assert!(pieces.len() >= 4, "{} pieces", pieces.len());
    assert_eq!(
        pieces.iter().map(|p| p.chars().count()).sum::<usize>(),
        n,
        "every character is in the log once"
    );
    assert!(pieces.iter().all(|p| p.chars().all(|c| c == '€')));
}
