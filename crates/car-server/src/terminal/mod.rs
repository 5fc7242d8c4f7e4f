//! Terminal sessions: a PTY running the agent (`codex.binary` with
//! `codex.terminal_args`) in a repository, owned by this server process
//! (a PTY dies with its master: a server restart ends them), driven over a
//! WebSocket (`routes/terminal_ws.rs`) and recorded on disk by the
//! library (`car_core::Terminals`) so `car sessions` sees them.

mod output;
mod registry;
mod session;

pub(crate) use registry::{Registry, api_error};
pub(crate) use session::{Exit, Session};
