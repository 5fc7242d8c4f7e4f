//! Following one turn: its progress message edited (at most once a
//! second) as the agent's events come, then the turn's end said in it and
//! the final answer posted (as a document when it is too long for a
//! message).

use std::time::{Duration, Instant};

use car_core::{Repo, TaskRecord, TaskState, Tasks};

use super::chat::{ChatKey, MAX_MESSAGE_LEN, cut, telegram_len};
use super::progress::Progress;
use super::sessions::{Shared, error_chain};
use super::state::InFlight;

/// The least time between two edits of a progress message (Telegram's
/// edit rate).
pub(super) const EDIT_GAP: Duration = Duration::from_secs(1);
/// How often the follower looks at the events and at a shutdown when no
/// output comes.
const TICK: Duration = Duration::from_millis(200);
/// The longest caption of a document.
const MAX_CAPTION: usize = 1024;

/// How following a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Followed {
    /// The turn is over and said so (or cannot be followed: the chat was
    /// told).
    Finished,
    /// The sessions are shutting down; the turn is still in flight.
    Detached,
}

/// The progress message's first line while turn `n` of task `id` runs.
pub(super) fn working(id: &str, n: u32) -> String {
    format!("⏳ Working… (task {id}, turn {n})")
}

/// Waits while task `id` has a turn at work (one asked for elsewhere).
pub(super) fn wait_idle(tasks: &Tasks<'_>, id: &str, sh: &Shared, rt: &tokio::runtime::Runtime) {
    let busy = tasks.status(id).is_ok_and(|r| !r.state.is_done());
    if !busy {
        return;
    }
    let Ok(mut follow) = tasks.follow_output(id, end_of_output(tasks, id)) else {
        return;
    };
    while !sh.stopping() {
        let next = next_within(rt, &mut follow);
        if matches!(next, Ok(None)) {
            return;
        }
    }
}

/// The follower's next piece of output: `Ok(None)` once the turn is over,
/// `Err` when none came within [`TICK`].
fn next_within(
    rt: &tokio::runtime::Runtime,
    follow: &mut car_core::Follow<car_core::TaskOutput>,
) -> Result<Option<car_core::TaskOutput>, tokio::time::error::Elapsed> {
    rt.block_on(async { tokio::time::timeout(TICK, follow.next()).await })
}

/// Where task `id`'s output log ends now.
fn end_of_output(tasks: &Tasks<'_>, id: &str) -> u64 {
    tasks
        .output_log(id)
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len())
}

/// A progress message, edited no more than once per [`EDIT_GAP`].
struct ProgressMessage<'a> {
    sh: &'a Shared,
    chat: ChatKey,
    id: Option<super::MessageId>,
    shown: String,
    /// When the last send or edit returned.
    last: Instant,
}

impl ProgressMessage<'_> {
    /// Shows `text` if the last edit is long enough ago (`force`: waits
    /// for that).
    fn show(&mut self, text: String, force: bool) {
        let Some(id) = self.id else {
            return;
        };
        if text == self.shown {
            return;
        }
        let since = self.last.elapsed();
        if since < EDIT_GAP {
            if !force {
                return;
            }
            std::thread::sleep(EDIT_GAP - since);
        }
        if let Err(e) = self.sh.io.edit(self.chat, id, &text) {
            tracing::warn!(chat = %self.chat, "sessions: cannot edit the progress message: {e}");
        }
        self.last = Instant::now();
        self.shown = text;
    }
}

/// Follows turn `f` of `chat` to its end, then says how it ended and
/// posts its answer.
pub(super) fn follow(
    sh: &Shared,
    chat: ChatKey,
    f: &InFlight,
    rt: &tokio::runtime::Runtime,
) -> Followed {
    let repo = match Repo::open(&f.repo) {
        Ok(r) => r,
        Err(e) => {
            sh.say(
                chat,
                &format!(
                    "Cannot follow task {}: the repository {} cannot be opened: {}",
                    f.task_id,
                    f.repo.display(),
                    error_chain(&e)
                ),
            );
            return Followed::Finished;
        }
    };
    let tasks = repo.tasks(Shared::requester(chat));
    let id = f.task_id.as_str();
    let followed = match tasks.events_log(id, f.turn) {
        Ok(events) => tasks
            .follow_output(id, end_of_output(&tasks, id))
            .map(|follow| (events, follow)),
        Err(e) => Err(e),
    };
    let (events, mut follow) = match followed {
        Ok(x) => x,
        Err(e) => {
            sh.say(
                chat,
                &format!("Cannot follow task {id}: {}", error_chain(&e)),
            );
            return Followed::Finished;
        }
    };
    let cwd = tasks.status(id).ok().map(|r| r.cwd);
    let mut progress = Progress::new(events, cwd);
    let mut msg = ProgressMessage {
        sh,
        chat,
        id: f.progress_message,
        shown: working(id, f.turn),
        last: Instant::now(),
    };
    let header = working(id, f.turn);
    loop {
        let next = next_within(rt, &mut follow);
        if sh.stopping() {
            return Followed::Detached;
        }
        progress.read();
        msg.show(progress.render(&header), false);
        if matches!(next, Ok(None)) {
            break;
        }
    }
    progress.read();
    match tasks.status(id) {
        Ok(rec) => finish(sh, chat, &tasks, &rec, f.turn, &progress, &mut msg),
        Err(e) => sh.say(chat, &format!("Cannot read task {id}: {}", error_chain(&e))),
    }
    Followed::Finished
}

/// Says in the progress message how the turn ended, and posts its answer
/// (or why there is none).
fn finish(
    sh: &Shared,
    chat: ChatKey,
    tasks: &Tasks<'_>,
    rec: &TaskRecord,
    n: u32,
    progress: &Progress,
    msg: &mut ProgressMessage<'_>,
) {
    let id = rec.id.as_str();
    let error = rec
        .current_turn()
        .and_then(|t| t.error.clone())
        .unwrap_or_else(|| format!("the agent ended with exit code {:?}", rec.exit_code));
    let (header, notice) = match rec.state {
        TaskState::Succeeded => (
            format!("✅ Done (task {id}, turn {n}): {}", progress.summary()),
            None,
        ),
        TaskState::Cancelled => (
            format!("⏹ Interrupted (task {id}, turn {n})"),
            Some(format!("⏹ Interrupted (task {id}, turn {n}).")),
        ),
        TaskState::Failed => (
            format!("❌ Failed (task {id}, turn {n}): {}", cut(&error, 500)),
            Some(format!("❌ The turn failed: {error}")),
        ),
        TaskState::Queued | TaskState::Running => (
            format!("❔ Lost track (task {id}, turn {n}): it is {}", rec.state),
            Some(format!(
                "Task {id} is still {}, but its progress can no longer be followed.",
                rec.state
            )),
        ),
    };
    msg.show(progress.render(&header), true);
    if let Some(notice) = notice {
        sh.say(chat, &notice);
        return;
    }
    let answer = tasks.final_output(id).ok().flatten().unwrap_or_default();
    post_answer(sh, chat, id, n, answer.trim_end());
}

/// Posts the final answer: a message, or a document when it is longer
/// than a message can be.
fn post_answer(sh: &Shared, chat: ChatKey, id: &str, n: u32, answer: &str) {
    if answer.trim().is_empty() {
        sh.say(chat, "(The agent gave no final message.)");
        return;
    }
    if telegram_len(answer) <= MAX_MESSAGE_LEN {
        sh.say(chat, answer);
        return;
    }
    let name = format!("answer-{id}-turn-{n}.md");
    let caption = cut(
        &format!(
            "The answer is {} characters long, so it is attached (task {id}, turn {n}).",
            answer.chars().count()
        ),
        MAX_CAPTION,
    );
    if let Err(e) = sh
        .io
        .send_document(chat, &name, answer.as_bytes(), &caption)
    {
        tracing::warn!(%chat, "sessions: cannot send the answer as a document: {e}");
        sh.say(
            chat,
            &format!("The answer is too long for a message and could not be attached ({e}); `car task status {id}` shows it."),
        );
    }
}
