//! Remote commands ("execs"): `sh -c CMD` run as a job of its own beside
//! Codex tasks, with its record, `stdout.log` and `stderr.log` under
//! `.codex-autorunner/jobs/<id>/`, cancelled with its whole process tree,
//! followed from any process. The job files, working-directory rules,
//! process ending and log following are the tasks' (`crate::task`).

mod error;
mod execs;
mod record;
mod runner;
#[cfg(test)]
mod tests;

pub use error::ExecError;
pub use execs::{ExecPage, ExecRequest, Execs};
pub use record::{ExecRecord, ExecStream};
pub use runner::SUBCOMMAND;
