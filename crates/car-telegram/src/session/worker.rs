//! A chat's worker: takes the chat's turns one after the other (the turn
//! in flight first, then the messages waiting, in order) until none is
//! left, then ends.

use std::sync::Arc;

use car_core::{Repo, TaskError, TaskRecord, TaskRequest};

use super::sessions::{Shared, error_chain};
use super::state::{InFlight, Pending};
use super::turn::{self, Followed};
use super::{ChatKey, MessageId};

/// What the worker does next.
enum Job {
    /// Follow the turn in flight to its end.
    Follow(InFlight),
    /// Start a turn for the message.
    Start(Pending),
}

/// Marks the chat's worker gone when it ends, however it ends (a panic
/// included), so a later message starts another.
/// (A worker that started after it, its number `.2` another, stays.)
struct Gone<'a>(&'a Shared, ChatKey, u64);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        if inner.busy.get(&self.1).is_some_and(|b| b.worker == self.2) {
            inner.busy.remove(&self.1);
        }
    }
}

/// The worker of `chat`, number `worker`.
pub(super) fn run(sh: &Arc<Shared>, chat: ChatKey, worker: u64) {
    let _gone = Gone(sh, chat, worker);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(%chat, "sessions: cannot start a runtime: {e}");
            return;
        }
    };
    while !sh.stopping() {
        let Some(job) = next_job(sh, chat) else {
            return;
        };
        let in_flight = match job {
            Job::Follow(f) => Some(f),
            Job::Start(p) => start(sh, chat, p, &rt),
        };
        if let Some(f) = in_flight
            && turn::follow(sh, chat, &f, &rt) == Followed::Detached
        {
            break;
        }
        let mut inner = sh.lock();
        inner.state.chat_mut(chat).in_flight = None;
        if let Some(b) = inner.busy.get_mut(&chat) {
            b.turn_active = false;
            b.interrupt = false;
        }
        sh.persist(&inner);
    }
}

/// The chat's next job, taken off its queue; None (and the worker marked
/// gone) when there is none.
fn next_job(sh: &Shared, chat: ChatKey) -> Option<Job> {
    let mut inner = sh.lock();
    let c = inner.state.chat_mut(chat);
    let job = if let Some(f) = c.in_flight.clone() {
        Job::Follow(f)
    } else if c.pending.is_empty() {
        // Decided under the lock a new message takes: a message that comes
        // after this starts a new worker.
        inner.busy.remove(&chat);
        return None;
    } else {
        Job::Start(c.pending.remove(0))
    };
    if let Some(b) = inner.busy.get_mut(&chat) {
        b.turn_active = true;
    }
    sh.persist(&inner);
    Some(job)
}

/// Starts the turn for message `p`: a reply to the chat's conversation
/// when it has one in that repository, else a new task. Sends the
/// progress message and records the turn in flight. None when no turn
/// could start (the chat is told why).
fn start(
    sh: &Arc<Shared>,
    chat: ChatKey,
    p: Pending,
    rt: &tokio::runtime::Runtime,
) -> Option<InFlight> {
    let repo = match Repo::open(&p.repo) {
        Ok(r) => r,
        Err(e) => {
            sh.say(
                chat,
                &format!(
                    "Cannot open the repository {}: {}",
                    p.repo.display(),
                    error_chain(&e)
                ),
            );
            return None;
        }
    };
    let tasks = repo.tasks(Shared::requester(chat));
    let conversation = {
        let inner = sh.lock();
        inner
            .state
            .chat(chat)
            .filter(|c| c.repo.as_deref() == Some(p.repo.as_path()))
            .and_then(|c| c.task_id.clone())
    };
    let replied = match conversation {
        Some(id) => {
            // A turn asked for elsewhere (the web UI) ends first.
            turn::wait_idle(&tasks, &id, sh, rt);
            if sh.stopping() {
                // Not started: it waits for the next start, first in line.
                let mut inner = sh.lock();
                inner.state.chat_mut(chat).pending.insert(0, p);
                sh.persist(&inner);
                return None;
            }
            Some(tasks.reply(&sh.program, &id, &p.text))
        }
        None => None,
    };
    let started: Result<TaskRecord, car_core::Error> = match replied {
        // No conversation to continue (the agent never started one, or
        // the task was removed): a new task.
        None
        | Some(Err(car_core::Error::Task(
            TaskError::NoThread { .. } | TaskError::NotFound { .. },
        ))) => tasks.spawn(
            &sh.program,
            TaskRequest {
                prompt: p.text.clone(),
                ..TaskRequest::default()
            },
        ),
        Some(other) => other,
    };
    let rec = match started {
        Ok(r) => r,
        Err(e) => {
            sh.say(
                chat,
                &format!("Cannot start a Codex task: {}", error_chain(&e)),
            );
            return None;
        }
    };
    let n = rec.current_turn().map_or(1, |t| t.n);
    let progress_message = send_progress(sh, chat, &turn::working(&rec.id, n));
    let f = InFlight {
        repo: p.repo.clone(),
        task_id: rec.id.clone(),
        turn: n,
        progress_message,
    };
    let mut inner = sh.lock();
    let c = inner.state.chat_mut(chat);
    c.repo = Some(p.repo);
    c.task_id = Some(rec.id.clone());
    c.in_flight = Some(f.clone());
    let interrupted = inner.busy.get(&chat).is_some_and(|b| b.interrupt);
    sh.persist(&inner);
    drop(inner);
    if interrupted {
        sh.abort_later(chat, f.repo.clone(), f.task_id.clone());
    }
    Some(f)
}

/// Sends the progress message; None when it cannot be sent (the turn goes
/// on, its answer is still posted).
fn send_progress(sh: &Shared, chat: ChatKey, text: &str) -> Option<MessageId> {
    match sh.io.send(chat, text) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(%chat, "sessions: cannot send the progress message: {e}");
            None
        }
    }
}
