//! Interactive Codex sessions in a chat.
//!
//! Plain text in a chat bound to a repository, with no question open (the
//! bot decides: it hands such text to [`Sessions::on_text`]), becomes a
//! turn of a Codex task in that repository (car's tasks, each
//! turn a process of its own: `car __task`): the first message spawns the
//! task, later ones reply to it (`codex exec resume <thread>`), so the
//! conversation goes on. [`Sessions::reset`] forgets it, so the next
//! message starts a new task.
//!
//! While a turn runs, one message shows its progress (the last few
//! commands and files the agent touched, from Codex's `--json` events),
//! edited at most once a second. When it ends, the final answer is posted
//! as a new message, or as a document when it is longer than a message can
//! be (4096 characters). [`Sessions::interrupt`] cancels the turn at work
//! (its agent and everything it started end).
//!
//! Each chat (each forum topic) has one queue: a message that comes while
//! a turn runs waits for it, and they run in order, never two at once;
//! chats run independently of each other. The queue, the conversation and
//! the turn being followed are kept in a state file ([`SessionState`]),
//! written atomically on every change: a bot restarted with the same file
//! follows the turn it left (turns outlive the bot) and runs what waited.
//!
//! The bot gives the sessions a [`ChatIo`] (send, edit, send a document)
//! and calls [`Sessions::on_text`], [`Sessions::interrupt`],
//! [`Sessions::reset`] and [`Sessions::shutdown`]; these never block on
//! the chat or the agent: the work is done on threads of the sessions' own.

mod chat;
mod error;
mod progress;
mod sessions;
mod state;
mod turn;
mod worker;

pub use chat::{ChatError, ChatIo, ChatKey, MAX_MESSAGE_LEN, MessageId};
pub use error::SessionError;
pub use sessions::Sessions;
pub use state::{ChatSession, InFlight, Pending, SessionState};
