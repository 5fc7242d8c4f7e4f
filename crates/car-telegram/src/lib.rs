//! The interactive Telegram bot of codex-autorunner (`car telegram start`):
//! a process of its own that watches loops through car-core (their files,
//! followed with change notifications) and drives them through car-core's
//! control API — stop, kill, reply, resume — never through the HTTP server.
//!
//! Deny by default: only chats in `telegram_bot.allowed_chat_ids` and
//! people in `allowed_user_ids` are answered; `/ids` tells anyone else
//! their ids. A chat (or forum topic) is bound to a repository; a question
//! of its loop arrives as a message with buttons, and an answer resumes it.
//! Plain text with no question open is a turn of an interactive Codex
//! session ([`session`]).

pub mod allow;
pub mod api;
mod bot;
mod commands;
mod error;
mod instance_lock;
mod questions;
pub mod session;
mod session_hook;
mod session_io;
mod settings;
pub mod store;
mod views;
mod workspace;

pub use bot::{Bot, Running};
pub use error::TelegramError;
pub use instance_lock::InstanceLock;
pub use settings::Settings;
pub use workspace::{Workspace, chat_key};
