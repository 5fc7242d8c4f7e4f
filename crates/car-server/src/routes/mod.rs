//! The handlers, one concept per file.

pub(crate) mod control;
pub(crate) mod docs;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod repo_jobs;
pub(crate) mod repos;
pub(crate) mod runs;
mod sse;
pub(crate) mod stream;
mod support;
pub(crate) mod task_stream;
pub(crate) mod tasks;

pub(crate) use support::{blocking, requester, to_json};
