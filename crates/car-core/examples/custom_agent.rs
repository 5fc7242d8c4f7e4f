//! Runs a car loop from your own program, with a custom agent command,
//! printing the loop's events as they happen.
//!
//! The "agent" here is a shell one-liner that checks off the first open
//! TODO item (and, once all are checked, writes the summary), so the loop
//! finishes offline in a moment:
//!
//! ```sh
//! cargo run -p car-core --example custom_agent
//! ```
//!
//! Run as a program, it also acts as the per-run supervisor of its agents
//! (`car_core::supervisor_main`), as the `car` binary does: whatever the
//! agent starts ends with its run, even if this program is killed.

use car_core::{InitOptions, LoadOptions, LoopEvent, Repo, RunOptions, StopHandle, StopReason};

/// Creates a sample repository, runs its loop to completion (each agent
/// under `supervisor`, when given) and returns why it stopped.
fn run_demo(
    supervisor: Option<std::path::PathBuf>,
) -> Result<StopReason, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("demo");

    // `car init --git-init`, as a library call.
    Repo::init(&InitOptions {
        path: root.clone(),
        git_init: true,
        force: false,
        load: LoadOptions::default(),
    })?;
    std::fs::write(
        root.join(".codex-autorunner/TODO.md"),
        "# TODO\n\n- [ ] first task\n- [ ] second task\n",
    )?;

    // The custom agent: reads the prompt from stdin, checks one item off;
    // the final summary run (nothing left to check) writes SUMMARY.md.
    let agent = r#"cat > /dev/null; if grep -q -- '- \[ \]' .codex-autorunner/TODO.md; then sed -i '0,/- \[ \]/s//- [x]/' .codex-autorunner/TODO.md; echo "checked one item"; else echo "Both tasks are done." > .codex-autorunner/SUMMARY.md; fi"#;
    let opts = LoadOptions {
        env: Vec::new(),
        user_file: None,
        cli: vec![
            ("codex.binary".into(), "sh".into(), "example".into()),
            (
                "codex.args".into(),
                serde_json::to_string(&["-c", agent])?,
                "example".into(),
            ),
            ("runner.sleep_seconds".into(), "0".into(), "example".into()),
        ],
    };
    let repo = Repo::open_with(&root, &opts)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stop = StopHandle::new();
    let run_opts = RunOptions {
        supervisor,
        ..RunOptions::default()
    };
    let summary = runtime.block_on(repo.run(run_opts, &stop, |e| match &e.event {
        LoopEvent::RunStarted {
            todo: Some(todo), ..
        } => println!(
            "run {} starts: TODO {}/{}",
            e.run_id.unwrap_or_default(),
            todo.done,
            todo.total
        ),
        LoopEvent::RunFinished(run) => println!(
            "run {} ended {} after {} ms",
            e.run_id.unwrap_or_default(),
            run.outcome.as_str(),
            run.duration_ms
        ),
        LoopEvent::Stopped { reason, .. } => println!("stopped: {reason}"),
        _ => {}
    }))?;
    println!(
        "{} runs; TODO: {}",
        summary.runs,
        std::fs::read_to_string(root.join(".codex-autorunner/TODO.md"))?.trim()
    );
    Ok(summary.reason)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First thing: this program is also its agents' supervisor.
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(car_core::SUPERVISOR_SUBCOMMAND.as_ref()) {
        std::process::exit(car_core::supervisor_main(args));
    }
    run_demo(Some(std::env::current_exe()?)).map(|_| ())
}

#[test]
fn the_example_loop_completes() {
    // The test harness cannot act as a supervisor: agents run as children.
    assert_eq!(
        run_demo(None).expect("the example runs"),
        StopReason::Completed
    );
}
