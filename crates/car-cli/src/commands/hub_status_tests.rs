//! The exact status lines, and the narrow width bound.

use std::path::PathBuf;

use car_core::{GitSummary, LoopState, RepoSummary, RunSummary, StopReason};

use super::*;

fn summary(id: &str, state: LoopState) -> RepoSummary {
    RepoSummary {
        id: id.into(),
        root: PathBuf::from("/hub").join(id),
        state,
        status: car_core::Status::Idle,
        stop_reason: None,
        todo_done: Some(3),
        todo_total: Some(7),
        run: None,
        question: None,
        git: None,
    }
}

fn run(id: u64, age: u64, in_progress: bool) -> Option<RunSummary> {
    Some(RunSummary {
        id,
        started_at: Some("2026-01-01T10:00:00Z".into()),
        age_seconds: Some(age),
        in_progress,
    })
}

fn sample() -> Vec<RepoSummary> {
    let mut running = summary("api--job-a", LoopState::Running);
    running.run = run(4, 185, true);
    running.git = Some(GitSummary {
        branch: Some("job/a".into()),
        compared_with: Some("main".into()),
        ahead: Some(2),
        behind: Some(0),
        dirty: true,
    });
    let mut asking = summary("web", LoopState::WaitingForInput);
    asking.stop_reason = Some(StopReason::NeedsInput);
    asking.todo_done = Some(1);
    asking.todo_total = Some(12);
    asking.run = run(12, 7300, false);
    asking.question = Some("Which database should the queue use, PostgreSQL or SQLite?".into());
    let mut done = summary("a-very-long-repository-name--feature", LoopState::Stopped);
    done.stop_reason = Some(StopReason::Completed);
    done.todo_done = Some(7);
    done.run = run(9, 90_000, false);
    done.git = Some(GitSummary {
        branch: None,
        dirty: false,
        ..GitSummary::default()
    });
    let mut idle = summary("docs", LoopState::Idle);
    idle.todo_done = None;
    idle.todo_total = None;
    vec![running, asking, done, idle]
}

#[test]
fn narrow_lines_are_pinned() {
    assert_eq!(
        render_status_lines(&sample(), Width::Narrow),
        [
            "api--job-a          running   3/7  #4 3m",
            "web                 asking   1/12  #12    ? Which database…",
            "a-very-long-repos…  done      7/7  #9",
            "docs                idle        -  -",
        ]
    );
}

#[test]
fn wide_lines_add_the_git_position_and_the_whole_question() {
    assert_eq!(
        render_status_lines(&sample(), Width::Wide),
        [
            "api--job-a                            running   3/7  #4 3m  job/a +2/-0 dirty",
            "web                                   asking   1/12  #12    -                  ? Which database should the queue use, PostgreSQL or SQLite?",
            "a-very-long-repository-name--feature  done      7/7  #9     (detached) clean",
            "docs                                  idle        -  -      -",
        ]
    );
}

#[test]
fn narrow_lines_never_pass_sixty_columns() {
    let mut all = sample();
    let mut worst = summary(&"x".repeat(100), LoopState::WaitingForInput);
    worst.todo_done = Some(123_456);
    worst.todo_total = Some(999_999);
    worst.run = run(1_000_000, 3_000_000, true);
    worst.question = Some("q ".repeat(200));
    all.push(worst);
    for reason in [
        StopReason::DiskFull,
        StopReason::TodoInvalid,
        StopReason::NeedsInput,
    ] {
        let mut s = summary("r", LoopState::Stopped);
        s.stop_reason = Some(reason);
        all.push(s);
    }
    for line in render_status_lines(&all, Width::Narrow) {
        assert!(line.chars().count() <= NARROW_COLUMNS, "{line:?}");
    }
}

#[test]
fn ages_take_one_unit() {
    assert_eq!(
        [0, 59, 60, 3599, 3600, 47 * 3600, 48 * 3600].map(age_word),
        ["0s", "59s", "1m", "59m", "1h", "47h", "2d"]
    );
}
