//! Terminal sessions: a PTY running the agent interactively in the
//! repository, owned by the server process that opened it (a PTY dies with
//! its master). This module keeps what any process needs besides the PTY:
//! the command and environment a session starts with, its record under
//! `.codex-autorunner/terminals/<id>.json`, stopping it (its whole process
//! group) from any process, and the sweep that ends the sessions of a
//! server that is gone.

mod error;
mod launch;
mod record;
mod stop;
#[cfg(test)]
mod tests;

pub use error::TerminalError;
pub use launch::TerminalCommand;
pub use record::{TerminalEnd, TerminalRecord, TerminalStatus};
pub use stop::Terminals;
