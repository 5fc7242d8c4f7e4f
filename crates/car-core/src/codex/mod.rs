//! Understanding and running `codex exec`: its `--json` event stream, what
//! its errors mean, whether the agent asked a person something, which
//! version is installed, and one invocation with its outcome, shared by
//! loop runs and one-off jobs.

mod classify;
mod events;
mod invoke;
mod outcome;
mod verdict;
mod version;

#[cfg(test)]
pub(crate) use classify::parse_reset;
pub(crate) use classify::{ErrorClass, classify};
pub(crate) use events::Parsed;
pub use events::{CodexRun, CommandRun, FileChange, Terminal, TokenUsage};
pub(crate) use invoke::{Invocation, InvokeError, Invoked, runs_exec};
#[cfg(test)]
pub(crate) use outcome::FinalOutput;
pub(crate) use outcome::{class_name, error_class, question, run_error};
pub use verdict::Verdict;
pub(crate) use verdict::{VERDICT_SCHEMA, need_input_question, parse_verdict};
pub(crate) use version::{OLDEST_TESTED_VERSION, parse_version};
