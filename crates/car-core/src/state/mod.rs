//! `state.json`: what the runner is doing and why it last stopped.
//!
//! The file keeps the Python program's fields (`last_run_id`, `status`,
//! `last_exit_code`, `last_run_started_at`, `last_run_finished_at`,
//! `runner_pid`, and its `sessions` registry untouched) and adds car's own.
//! Every change is a read-modify-write under `state.json.lock` (flock), and
//! the file is replaced atomically, so readers never see half a file.

mod model;
mod reason;
mod store;

pub use model::{PendingQuestion, State, UserReply};
pub use reason::{Status, StopReason};
pub use store::StateError;
pub(crate) use store::StateStore;
