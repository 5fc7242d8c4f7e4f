//! A blocking client of the `car serve` HTTP API v1.
//!
//! [`Client`] sends the bearer token on every request and turns the
//! server's answers into the library's types (the same ones `car` prints
//! from locally) and its error answers (`{"error": {kind, message, hint}}`)
//! into a typed [`ClientError`]. [`Client::follow`] reads a server-sent
//! event stream and reconnects after a dropped connection with
//! `Last-Event-ID`, so a follower sees every event once;
//! [`Client::exec_follow`] follows a command's log that way, line by line
//! from a byte offset, until the command ends. [`list_machines`] asks
//! every configured machine's server for its repositories at once, for a
//! hub's listing.

mod client;
mod error;
mod exec_follow;
mod execs;
mod follow;
mod loop_api;
mod machines;
mod sse;
mod tasks;
mod types;

pub use client::Client;
pub use error::ClientError;
pub use exec_follow::{ExecEnd, ExecLine};
pub use follow::{Flow, StreamItem};
pub use machines::{MACHINE_TIMEOUT, MachineListing, MachineRepo, list_machines, machine_url};
pub use sse::SseEvent;
pub use types::{
    ExecDetail, ExecList, ExecStarted, LogPiece, OutputSlice, RepoSummary, RunDetail, TaskDetail,
    TaskStarted,
};
