//! Codex tasks: one-shot `codex exec --json` conversations run as processes
//! of their own, with their records under `.codex-autorunner/jobs/<id>/`,
//! continued with replies, aborted with their whole process tree, followed
//! from any process.

mod error;
mod follow;
mod process;
mod record;
mod runner;
mod tasks;
#[cfg(test)]
mod tests;

pub use error::TaskError;
pub use follow::TaskOutput;
pub use record::{TaskRecord, TaskState, TurnRecord};
pub use runner::SUBCOMMAND;
pub use tasks::{TaskPage, TaskRequest, Tasks};

pub(crate) use follow::follow_log;
pub(crate) use process::{JobRecord, launch as launch_job};
pub(crate) use record::{create_dir, jobs_dir, ledger, load_json, save_json, update_json};
pub(crate) use tasks::{allowed_cwd, end_job_process};
