//! [`Bot`]: long polling with `getUpdates`, the offset stored after every
//! batch, each update routed: `/ids` for anyone, the rest only for the
//! allow-list; commands, answers to questions, and plain text.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use crate::allow::ids_answer;
use crate::api::{Api, CallbackQuery, Dest, Message, Update};
use crate::error::TelegramError;
use crate::instance_lock::InstanceLock;
use crate::session::Sessions;
use crate::settings::Settings;
use crate::store::Store;
use crate::workspace::{Workspace, chat_key};
use crate::{commands, questions, session_hook};

/// The wait after a failed `getUpdates` before the next.
const POLL_BACKOFF: Duration = Duration::from_secs(2);

/// The bot's shared parts.
#[derive(Debug)]
pub struct Bot {
    pub(crate) api: Arc<Api>,
    pub(crate) settings: Settings,
    pub(crate) ws: Workspace,
    store: Mutex<Store>,
    /// The `car` binary, to start runners.
    pub(crate) program: PathBuf,
    pub(crate) rebind: tokio::sync::Notify,
    /// The chats' interactive Codex sessions.
    pub(crate) sessions: Sessions,
    stop: AtomicBool,
    /// Held while a batch of updates is handled (a stop waits for it).
    batch: Mutex<()>,
}

/// A started bot; see [`Running::shutdown`].
#[derive(Debug)]
pub struct Running {
    bot: Arc<Bot>,
    ended: mpsc::Receiver<Result<(), TelegramError>>,
    watcher: Option<std::thread::JoinHandle<()>>,
    _lock: InstanceLock,
}

impl Bot {
    /// Starts the bot: takes the lock for its token (under `home`), reads
    /// its state, registers its commands, then polls on a thread of its
    /// own and watches the bound repositories for questions on another.
    /// `program` is the `car` binary (to resume loops).
    pub fn start(
        settings: Settings,
        ws: Workspace,
        home: &std::path::Path,
        program: PathBuf,
    ) -> Result<Running, TelegramError> {
        let lock = InstanceLock::acquire(&InstanceLock::path_for(home, &settings.token))?;
        let store = Store::open(&settings.state_file)?;
        let api = Arc::new(Api::new(
            &settings.api_base,
            &settings.token,
            settings.poll_timeout,
        ));
        api.set_commands(commands::MENU)?;
        let sessions = Sessions::start(
            api.clone(),
            program.clone(),
            sessions_file(&settings.state_file),
        )?;
        let bot = Arc::new(Self {
            api,
            settings,
            ws,
            store: Mutex::new(store),
            program,
            rebind: tokio::sync::Notify::new(),
            sessions,
            stop: AtomicBool::new(false),
            batch: Mutex::new(()),
        });
        let (tx, ended) = mpsc::channel();
        let poller = bot.clone();
        std::thread::Builder::new()
            .name("car-telegram-poll".into())
            .spawn(move || {
                let _ = tx.send(poller.poll());
            })
            .map_err(|source| TelegramError::File {
                what: "cannot start a thread for",
                path: PathBuf::from("telegram polling"),
                source,
            })?;
        let watcher = bot.clone();
        let watcher = std::thread::Builder::new()
            .name("car-telegram-questions".into())
            .spawn(move || questions::watch(&watcher))
            .ok();
        Ok(Running {
            bot,
            ended,
            watcher,
            _lock: lock,
        })
    }

    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn poll(&self) -> Result<(), TelegramError> {
        while !self.stopping() {
            let offset = self.lock_store().state().offset;
            let updates = match self.api.get_updates(offset, self.settings.poll_timeout) {
                Ok(u) => u,
                // A wrong token, or another consumer of this bot's updates.
                Err(
                    e @ TelegramError::Api {
                        status: 401 | 404 | 409,
                        ..
                    },
                ) => return Err(e),
                Err(e) => {
                    tracing::warn!("telegram: {e}; trying again");
                    std::thread::sleep(POLL_BACKOFF);
                    continue;
                }
            };
            if updates.is_empty() {
                continue;
            }
            let _batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
            if self.stopping() {
                // Not handled: the next start asks for them again.
                return Ok(());
            }
            let mut next = offset;
            for u in &updates {
                if u.update_id < offset {
                    continue; // already handled
                }
                self.handle(u);
                next = next.max(u.update_id + 1);
            }
            self.lock_store().update(|s| s.offset = next)?;
        }
        Ok(())
    }

    fn handle(&self, u: &Update) {
        let result = if let Some(m) = u.message.as_ref().or(u.edited_message.as_ref()) {
            self.on_message(m)
        } else if let Some(q) = &u.callback_query {
            self.on_callback(q)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(update = u.update_id, "telegram: {e}");
        }
    }

    fn on_message(&self, m: &Message) -> Result<(), TelegramError> {
        let Some(text) = m.text.as_deref() else {
            return Ok(());
        };
        let user = m.from.as_ref().map(|f| f.id);
        let topic = m.topic();
        let dest = Dest {
            chat: m.chat.id,
            topic,
        };
        let command = commands::parse(text);
        let allowed = self
            .settings
            .allow
            .allows(m.chat.id, user, topic, m.chat.kind == "private");
        if !allowed {
            if command.as_ref().is_some_and(|(c, _)| c == "ids") {
                self.api.send_text(
                    dest,
                    &ids_answer(m.chat.id, user, topic),
                    &[],
                    Some(m.message_id),
                )?;
            } else {
                tracing::info!(
                    chat = m.chat.id,
                    user,
                    "telegram: ignored a message from outside the allow-list"
                );
            }
            return Ok(());
        }
        if let Some((name, args)) = command {
            return commands::run(self, dest, &name, &args, m);
        }
        let reply_to = m.reply_to_message.as_ref().map(|r| r.message_id);
        if let Some(q) = questions::open_question_for(self, dest, reply_to) {
            return questions::answer(self, dest, &q, text.trim(), user, m.message_id);
        }
        let bound = self.bound(dest);
        session_hook::plain_text(self, dest, bound.as_deref(), text, m.message_id)
    }

    fn on_callback(&self, q: &CallbackQuery) -> Result<(), TelegramError> {
        let Some(m) = &q.message else {
            return self.api.answer_callback(&q.id, "This button is too old.");
        };
        let dest = Dest {
            chat: m.chat.id,
            topic: m.topic(),
        };
        if !self.settings.allow.allows(
            m.chat.id,
            Some(q.from.id),
            dest.topic,
            m.chat.kind == "private",
        ) {
            return self.api.answer_callback(&q.id, "Not allowed.");
        }
        commands::on_button(self, dest, q, m)
    }

    /// The repository the chat (or topic) is bound to.
    pub(crate) fn bound(&self, dest: Dest) -> Option<String> {
        self.lock_store()
            .state()
            .bindings
            .get(&chat_key(dest.chat, dest.topic))
            .cloned()
    }
}

/// The sessions' state file: beside the bot's, `<name>.sessions.json`.
fn sessions_file(state_file: &std::path::Path) -> PathBuf {
    let mut name = state_file
        .file_stem()
        .map(|s| s.to_os_string())
        .unwrap_or_else(|| "telegram_bot_state".into());
    name.push(".sessions.json");
    state_file.with_file_name(name)
}

impl Running {
    /// Waits up to `timeout` for the bot to end on its own (a fatal error
    /// such as a wrong token); `None` while it runs.
    pub fn wait(&self, timeout: Duration) -> Option<Result<(), TelegramError>> {
        match self.ended.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Ok(())),
        }
    }

    /// Stops the bot: the batch being handled is finished and its offset
    /// stored; a long poll in flight is abandoned (its updates are asked
    /// for again at the next start).
    pub fn shutdown(mut self) {
        self.bot.stop.store(true, Ordering::SeqCst);
        self.bot.rebind.notify_one();
        drop(self.bot.batch.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        // Turns at work go on (they are processes of their own); the
        // state file lets the next start follow them.
        self.bot.sessions.shutdown();
    }

    /// The lock file held.
    pub fn lock_path(&self) -> &std::path::Path {
        self._lock.path()
    }
}
