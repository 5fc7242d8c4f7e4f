//! Running the agent: one child process that leads its own process group,
//! gets the prompt on stdin, and has its stdout and stderr streamed to the
//! run's log as they arrive.
//!
//! Memory stays bounded whatever the agent prints: output is read in chunks,
//! split into lines with a capped line buffer, written straight to disk, and
//! only a capped tail of stdout is kept (it becomes the run's final output).

mod command;
mod error;
mod group;
mod lines;
mod outcome;
mod output_log;
mod run;
#[cfg(test)]
mod tests;

pub(crate) use command::{AgentCommand, apply_model, resolve_binary};
pub use error::AgentError;
pub(crate) use outcome::{AgentOutcome, EndCause, ExitKind, Limits, Started};
pub(crate) use output_log::OutputLog;
pub(crate) use run::run;
