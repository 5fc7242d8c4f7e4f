//! The Telegram Bot API: the client, the objects read, message lengths.

mod client;
mod split;
mod types;

pub use client::{Api, Button, Dest, fits};
pub use split::{MAX_MESSAGE, MAX_PARTS, split_text, truncate, units};
pub use types::{CallbackQuery, Chat, Message, Update, User};
