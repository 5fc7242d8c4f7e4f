//! [`Sessions`]: the chats' queues and conversations, and what the bot
//! calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use car_core::{RequestedBy, Requester};

use super::chat::{ChatIo, ChatKey};
use super::error::SessionError;
use super::state::{Pending, SessionState};

/// The interactive sessions of every chat (see the module's docs).
pub struct Sessions {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("state_file", &self.shared.state_file)
            .finish_non_exhaustive()
    }
}

/// What the sessions' threads share.
pub(super) struct Shared {
    pub(super) io: Arc<dyn ChatIo>,
    /// The `car` binary, which runs each turn (`car __task`).
    pub(super) program: PathBuf,
    state_file: PathBuf,
    inner: Mutex<Inner>,
    stopping: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The number of the last worker started.
    workers: AtomicU64,
}

/// The state and which chats have a worker.
pub(super) struct Inner {
    pub(super) state: SessionState,
    /// The chats whose worker runs.
    pub(super) busy: HashMap<ChatKey, Busy>,
}

/// A chat whose worker runs.
#[derive(Debug, Default)]
pub(super) struct Busy {
    /// The worker's number (each worker has its own).
    pub(super) worker: u64,
    /// The worker is at a turn (starting it, following it, posting it).
    pub(super) turn_active: bool,
    /// An interrupt came before the turn's task was known.
    pub(super) interrupt: bool,
}

impl Sessions {
    /// Starts the sessions: `program` is the `car` binary (it runs each
    /// turn), `state_file` where the state is kept (created on the first
    /// message; its directory must exist). Turns in flight and messages
    /// waiting in the state are taken up at once.
    pub fn start(
        io: Arc<dyn ChatIo>,
        program: impl Into<PathBuf>,
        state_file: impl Into<PathBuf>,
    ) -> Result<Self, SessionError> {
        let state_file = state_file.into();
        let state = SessionState::load(&state_file)?;
        let waiting: Vec<ChatKey> = state
            .chats
            .iter()
            .filter(|c| c.in_flight.is_some() || !c.pending.is_empty())
            .map(|c| c.chat)
            .collect();
        let shared = Arc::new(Shared {
            io,
            program: program.into(),
            state_file,
            inner: Mutex::new(Inner {
                state,
                busy: HashMap::new(),
            }),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            workers: AtomicU64::new(0),
        });
        {
            let mut inner = shared.lock();
            for chat in waiting {
                shared.start_worker(&mut inner, chat);
            }
        }
        Ok(Self { shared })
    }

    /// A message `text` from `chat`, bound to the repository at `repo`:
    /// queued, and run as soon as the chat's turns before it are done.
    /// Returns how many turns run before it (0: it starts now); when
    /// some do, the chat is told it waits.
    pub fn on_text(&self, chat: ChatKey, repo: &Path, text: &str) -> usize {
        let sh = &self.shared;
        let mut inner = sh.lock();
        let active = inner.busy.get(&chat).is_some_and(|b| b.turn_active);
        let c = inner.state.chat_mut(chat);
        c.pending.push(Pending {
            repo: repo.to_path_buf(),
            text: text.to_string(),
        });
        let ahead = c.pending.len() - 1 + usize::from(active);
        sh.persist(&inner);
        if !sh.stopping() {
            sh.start_worker(&mut inner, chat);
        }
        drop(inner);
        if ahead > 0 {
            sh.say_later(
                chat,
                format!(
                    "Queued: it runs after the {ahead} turn{} before it (/interrupt stops the one at work).",
                    if ahead == 1 { "" } else { "s" }
                ),
            );
        }
        ahead
    }

    /// Cancels `chat`'s turn at work: its task is aborted (the agent and
    /// everything it started end) and its progress message says so;
    /// messages waiting run after it. Returns false, and tells the chat,
    /// when no turn is at work.
    pub fn interrupt(&self, chat: ChatKey) -> bool {
        let sh = &self.shared;
        let mut inner = sh.lock();
        let in_flight = inner.state.chat(chat).and_then(|c| c.in_flight.clone());
        match inner.busy.get_mut(&chat) {
            Some(b) if b.turn_active => {
                match in_flight {
                    Some(f) => sh.abort_later(chat, f.repo, f.task_id),
                    // The worker aborts the task once it is spawned.
                    None => b.interrupt = true,
                }
                true
            }
            _ => {
                drop(inner);
                sh.say_later(chat, "Nothing is running in this chat.".to_string());
                false
            }
        }
    }

    /// Forgets `chat`'s conversation: its next message starts a new task
    /// (a turn at work goes on). Returns whether there was one.
    pub fn reset(&self, chat: ChatKey) -> bool {
        let sh = &self.shared;
        let mut inner = sh.lock();
        let c = inner.state.chat_mut(chat);
        let had = c.task_id.take().is_some();
        c.repo = None;
        sh.persist(&inner);
        had
    }

    /// The state as it is now (what the state file holds).
    pub fn state(&self) -> SessionState {
        self.shared.lock().state.clone()
    }

    /// Stops following turns and waits for the sessions' threads to end
    /// (within a second or so; an interrupt being carried out is waited
    /// for). Turns at work go on as processes of their own; the state
    /// keeps them and the messages waiting, for the next start.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        loop {
            let threads = std::mem::take(&mut *self.shared.threads());
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn threads(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Writes the state file (a failure is logged: the sessions go on).
    pub(super) fn persist(&self, inner: &Inner) {
        if let Err(e) = inner.state.save(&self.state_file) {
            tracing::warn!(error = %e, "sessions: {e}");
        }
    }

    /// Who the sessions' tasks are recorded as asked by.
    pub(super) fn requester(chat: ChatKey) -> Requester {
        Requester::new(RequestedBy::Bot, format!("telegram chat {chat}"))
    }

    /// Runs `work` on a thread of the sessions' own (joined at shutdown);
    /// false when no thread could be started.
    fn spawn(self: &Arc<Self>, name: &str, work: impl FnOnce(Arc<Self>) + Send + 'static) -> bool {
        let me = Arc::clone(self);
        match std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(me))
        {
            Ok(t) => {
                let mut threads = self.threads();
                threads.retain(|t| !t.is_finished());
                threads.push(t);
                true
            }
            Err(e) => {
                tracing::warn!("sessions: cannot start a thread: {e}");
                false
            }
        }
    }

    /// Starts `chat`'s worker unless it runs.
    pub(super) fn start_worker(self: &Arc<Self>, inner: &mut Inner, chat: ChatKey) {
        if inner.busy.contains_key(&chat) {
            return;
        }
        let worker = self.workers.fetch_add(1, Ordering::SeqCst) + 1;
        inner.busy.insert(
            chat,
            Busy {
                worker,
                ..Busy::default()
            },
        );
        let started = self.spawn("car-tg-session", move |sh| {
            super::worker::run(&sh, chat, worker);
        });
        if !started {
            // The next message tries again; what waits stays in the state.
            inner.busy.remove(&chat);
        }
    }

    /// Sends `text` to `chat` from a thread of its own.
    pub(super) fn say_later(self: &Arc<Self>, chat: ChatKey, text: String) {
        let _ = self.spawn("car-tg-say", move |sh| sh.say(chat, &text));
    }

    /// Sends `text` to `chat` (a failure is logged).
    pub(super) fn say(&self, chat: ChatKey, text: &str) {
        let text = super::chat::cut(text, super::chat::MAX_MESSAGE_LEN);
        if let Err(e) = self.io.send(chat, &text) {
            tracing::warn!(%chat, "sessions: cannot send a message: {e}");
        }
    }

    /// Aborts task `task_id` of the repository at `repo` from a thread of
    /// its own; tells `chat` when it cannot.
    pub(super) fn abort_later(self: &Arc<Self>, chat: ChatKey, repo: PathBuf, task_id: String) {
        self.spawn("car-tg-abort", move |sh| {
            let done = match car_core::Repo::open(&repo) {
                Ok(r) => r.tasks(Self::requester(chat)).abort(&task_id).map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                sh.say(
                    chat,
                    &format!("Cannot interrupt task {task_id}: {}", error_chain(&e)),
                );
            }
        });
    }
}

/// An error with its sources: `a: b: c`.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    /// The bot shares the sessions between its threads (or async tasks).
    #[test]
    fn sessions_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<super::Sessions>();
    }
}
