//! Micro-benchmarks of the two per-run costs that grow with the docs: the
//! TODO parse and the prompt render, on 1 MB docs.
//!
//! `cargo bench -p car-core --bench docs`

use std::fmt::Write as _;

use car_core::{InitOptions, LoadOptions, Repo};

fn main() {
    divan::main();
}

/// A 1 MB TODO: nested lists, code blocks, quotes and prose, like a long-lived one.
fn big_todo() -> String {
    let mut s = String::from("# TODO\n\n");
    let mut i = 0;
    while s.len() < 1_000_000 {
        let _ = writeln!(
            s,
            "- [{}] task {i}: make `module_{i}` handle the {i}th case",
            if i % 3 == 0 { "x" } else { " " }
        );
        let _ = writeln!(
            s,
            "  * [ ] sub-task {i} with **emphasis** and a [link](https://example.com/{i})"
        );
        if i % 50 == 0 {
            let _ = writeln!(
                s,
                "\n```text\n- [ ] not a task {i}\n```\n\n> - [ ] quoted {i}\n"
            );
        }
        i += 1;
    }
    s
}

#[divan::bench]
fn parse_todo_1mb(bencher: divan::Bencher) {
    let todo = big_todo();
    bencher
        .counter(divan::counter::BytesCount::of_str(&todo))
        .bench(|| car_core::parse_todo(divan::black_box(&todo)));
}

#[divan::bench]
fn render_prompt_1mb_docs(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("repo");
    Repo::init(&InitOptions {
        path: root.clone(),
        git_init: true,
        force: false,
        load: LoadOptions::default(),
    })
    .expect("init");
    let docs = root.join(".codex-autorunner");
    std::fs::write(docs.join("TODO.md"), big_todo()).expect("write");
    for name in ["PROGRESS.md", "OPINIONS.md", "SPEC.md", "SUMMARY.md"] {
        std::fs::write(
            docs.join(name),
            "Some prose about the project. ".repeat(1_000_000 / 30),
        )
        .expect("write");
    }
    let repo = Repo::open_with(&root, &LoadOptions::default()).expect("open");
    // Reads the five docs (5 MB) and renders the prompt, as a run does.
    bencher.bench(|| repo.render_prompt().expect("render"));
}
