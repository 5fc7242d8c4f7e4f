//! The Telegram bot of codex-autorunner. [`session`]: interactive Codex
//! sessions, plain messages in a chat becoming turns of a Codex task.

pub mod session;
