//! `car attach [ID]`: follow a loop's live output and events in a terminal
//! (a phone over SSH), answer its question from the keyboard, detach with
//! Ctrl-C.
//!
//! What it does:
//! - prints the repository's status line, then the output of the current
//!   run from where it is now (each new run's from its start) and the
//!   ledger's events as they come, one short line each;
//! - when the agent asks (a `needs_input` event, or a question already
//!   waiting when it attaches), shows the question and reads one line from
//!   stdin: the answer is recorded (as `car reply` does) and, once the
//!   runner has let go of the loop, the loop is resumed (as `car resume`
//!   does); then it goes on following;
//! - a line typed when no question waits is ignored (with a word saying
//!   so); the end of stdin only stops reading it: following goes on;
//! - Ctrl-C (or SIGTERM, SIGHUP) detaches: the exit code is 130 and the
//!   loop, a process of its own, keeps running.
//!
//! In a repository the ID may be left out, or be the repository's own id
//! (its directory name). A hub calls [`attach_with`] with a resolver that
//! picks the ID among its repositories.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use car_core::{
    EventEnvelope, LoopEvent, OutputChunk, OutputOf, Repo, ResumeReport, SummaryOptions,
};
use tokio::sync::mpsc;

use super::hub_status::{Width, render_status_lines};
use crate::cli::{AttachArgs, Global};
use crate::report::UsageError;

/// How long an answer waits for the runner that asked to let go of the
/// loop before resuming it.
const RUNNER_EXIT_WAIT: Duration = Duration::from_secs(30);

/// `car attach [ID]` in a repository.
pub(crate) fn run(g: &Global, args: AttachArgs) -> Result<u8> {
    match super::load(g, &[]) {
        Ok(repo) => {
            // In one of a hub's repositories, another id names another of
            // the hub's repositories.
            if let Some(id) = args.id.as_deref()
                && id != repo_id(&repo)
                && let Ok(hub) = super::hub::open(g)
            {
                return attach_with(Some(id), |id| super::hub_watch::resolve(&hub, id));
            }
            attach_with(args.id.as_deref(), |id| resolve_here(repo, id))
        }
        // At a hub's root (no repository of its own): the id picks one.
        Err(e) => match super::hub::open(g) {
            Ok(hub) => attach_with(args.id.as_deref(), |id| super::hub_watch::resolve(&hub, id)),
            Err(_) => Err(e),
        },
    }
}

/// Attaches to the repository `resolve` gives for `id` (the id given on
/// the command line, if any): it returns the repository and the id to show.
pub(crate) fn attach_with(
    id: Option<&str>,
    resolve: impl FnOnce(Option<&str>) -> Result<(String, Repo)>,
) -> Result<u8> {
    let (id, repo) = resolve(id)?;
    attach(&id, &repo)
}

/// The id of a repository on its own: its directory's name.
fn repo_id(repo: &Repo) -> String {
    repo.root().file_name().map_or_else(
        || repo.root().display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The repository `id` names in a repository (not a hub): this one, when
/// `id` is absent or its own id.
fn resolve_here(repo: Repo, id: Option<&str>) -> Result<(String, Repo)> {
    let own = repo_id(&repo);
    match id {
        None => Ok((own, repo)),
        Some(id) if id == own => Ok((own, repo)),
        Some(id) => Err(UsageError(format!(
            "no repository `{id}` here: this is `{own}` ({}); run `car attach` in the \
             repository, or in a hub to pick one of its repositories by id",
            repo.root().display()
        ))
        .into()),
    }
}

/// Follows the loop of `repo` (named `id`) until Ctrl-C; see the module docs.
fn attach(id: &str, repo: &Repo) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(follow(id, repo))
}

async fn follow(id: &str, repo: &Repo) -> Result<u8> {
    let summary = car_core::summarize(id, repo, &SummaryOptions::files_only());
    for line in render_status_lines(std::slice::from_ref(&summary), Width::Narrow) {
        outln!("{line}");
    }
    outln!("car: attached to {id}; Ctrl-C detaches (the loop keeps running)");
    let mut events = repo.follow_events(None);
    let mut output = repo.follow_output(OutputOf::Current, current_output_end(repo));
    let mut lines = stdin_lines();
    let mut stdin_open = true;
    let mut screen = Screen::default();
    // The question waiting for an answer here, if any.
    let mut asked: Option<String> = None;
    let running = summary.state == car_core::LoopState::Running;
    if let Some(q) = repo.state()?.pending_question.filter(|_| !running) {
        screen.ask(&q.question);
        asked = Some(q.question);
    }
    loop {
        tokio::select! {
            Some(chunk) = output.next() => screen.output(&chunk),
            Some(event) = events.next() => {
                if let LoopEvent::NeedsInput { question } = &event.event {
                    screen.ask(question);
                    asked = Some(question.clone());
                } else {
                    screen.event(&event);
                }
            }
            line = lines.recv(), if stdin_open => match line {
                Some(line) => match &asked {
                    Some(question) if line.trim().is_empty() => screen.ask(question),
                    Some(_) => {
                        screen.answered();
                        asked = None;
                        answer(repo, line.trim_end(), &mut screen).await?;
                    }
                    None if line.trim().is_empty() => {}
                    None => screen.note("no question is waiting; Ctrl-C detaches"),
                },
                // The end of stdin: keep following.
                None => stdin_open = false,
            },
            else => anyhow::bail!("cannot follow the loop of {id}: its followers stopped"),
        }
    }
}

/// Records `text` as the answer, waits for the runner that asked to exit,
/// and resumes the loop.
async fn answer(repo: &Repo, text: &str, screen: &mut Screen) -> Result<()> {
    let control = repo.control(crate::origin::requester());
    let report = control.reply(text)?;
    match report.question {
        Some(q) => screen.note(&format!("answered run {}'s question", q.run_id)),
        None => screen.note("answer kept for the next run"),
    }
    let deadline = Instant::now() + RUNNER_EXIT_WAIT;
    while control.is_running() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let program = crate::supervisor_program().context("cannot find the car program")?;
    match control.resume(program)? {
        ResumeReport::Started { pid, .. } => screen.note(&format!("loop resumed (pid {pid})")),
        ResumeReport::AlreadyRunning { pid } => screen.note(&format!(
            "the loop is still running (pid {pid}); the answer goes to its next run"
        )),
    }
    Ok(())
}

/// The end of the latest run's output log: following starts there.
fn current_output_end(repo: &Repo) -> u64 {
    repo.state()
        .ok()
        .and_then(|s| s.last_run_id)
        .and_then(|id| repo.output_log(id))
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len())
}

/// The lines typed on stdin, read on a thread of its own (the channel
/// closes at the end of stdin).
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    let spawned = std::thread::Builder::new()
        .name("car-attach-stdin".into())
        .spawn(move || {
            let mut line = String::new();
            loop {
                line.clear();
                match std::io::stdin().read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if tx.blocking_send(line.clone()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("attach: cannot read stdin: {e}");
    }
    rx
}

/// What was printed last, so that event lines start on a line of their
/// own and the answer prompt stays the last thing on the screen.
#[derive(Default)]
struct Screen {
    mid_line: bool,
    prompting: bool,
}

impl Screen {
    fn output(&mut self, chunk: &OutputChunk) {
        let Some(&last) = chunk.bytes.last() else {
            return;
        };
        if self.prompting && self.mid_line {
            outln!();
        }
        out!("{}", String::from_utf8_lossy(&chunk.bytes));
        self.mid_line = last != b'\n';
        self.prompt_again();
    }

    fn line(&mut self, text: &str) {
        if self.mid_line {
            outln!();
        }
        outln!("{text}");
        self.mid_line = false;
        self.prompt_again();
    }

    fn prompt_again(&mut self) {
        if self.prompting && !self.mid_line {
            out!("answer> ");
            self.mid_line = true;
        }
    }

    fn event(&mut self, e: &EventEnvelope) {
        self.line(&compact(e));
    }

    fn note(&mut self, text: &str) {
        self.line(&format!("car: {text}"));
    }

    fn ask(&mut self, question: &str) {
        self.prompting = false;
        self.line(&format!("? {question}"));
        self.prompting = true;
        self.prompt_again();
    }

    /// A line was typed after the prompt: the cursor is at a line's start.
    fn answered(&mut self) {
        self.prompting = false;
        self.mid_line = false;
    }
}

/// An event on one short line: the time of day, then what `car events`
/// shows after its timestamp.
fn compact(e: &EventEnvelope) -> String {
    let full = car_core::render_event(e);
    let rest = full
        .strip_prefix(e.ts.as_str())
        .unwrap_or(&full)
        .trim_start();
    let time = e.ts.get(11..19).unwrap_or("");
    format!("· {time} {rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_keeps_the_time_of_day_only() {
        let e = car_core::parse_event_line(
            r#"{"v":1,"seq":3,"ts":"2026-01-01T10:02:03.456Z","type":"stopped","run_id":2,"reason":"completed","runs":2}"#,
        )
        .unwrap();
        assert_eq!(
            compact(&e),
            "· 10:02:03 stopped run=2 reason=completed runs=2"
        );
    }
}
