//! The loop: take the lock, then run the agent over the work docs until a
//! stop condition holds, recording every run and keeping the state current.

mod blocking;
mod conclude;
mod decide;
mod driver;
mod error;
mod event;
mod lifecycle;
mod prompt;
mod recipe;
mod report;
mod summary;
mod version;
mod wait;

pub use blocking::Cancelled;
pub(crate) use blocking::unblock;
pub(crate) use driver::{Engine, LoopOptions};
pub(crate) use error::error_chain;
pub use event::{Event, LoopSummary};
