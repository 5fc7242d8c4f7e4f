//! The handlers, one concept per file.

pub(crate) mod control;
pub(crate) mod doc_chat;
pub(crate) mod doc_stream;
pub(crate) mod docs;
pub(crate) mod event_filter;
pub(crate) mod events;
pub(crate) mod exec_stream;
pub(crate) mod execs;
pub(crate) mod health;
pub(crate) mod hub_control;
pub(crate) mod hub_stream;
pub(crate) mod login;
pub(crate) mod machines;
pub(crate) mod notify;
pub(crate) mod repo_jobs;
pub(crate) mod repo_list;
pub(crate) mod repos;
pub(crate) mod runs;
pub(crate) mod sessions;
mod sse;
pub(crate) mod stream;
mod support;
pub(crate) mod task_output;
pub(crate) mod task_stream;
pub(crate) mod tasks;
pub(crate) mod terminal_ws;
pub(crate) mod terminals;
pub(crate) mod voice;
pub(crate) mod worktrees;
pub(crate) mod ws;

pub(crate) use sse::shut_down;
pub(crate) use support::{blocking, requester, requester_of, to_json};
