//! One vocabulary for what happens to a loop: [`LoopEvent`] in an
//! [`EventEnvelope`] is a ledger line, what observers receive, what the
//! notifier reads and what `car events` prints (see `docs/events.md`).

mod envelope;
mod loop_event;
mod render;
#[cfg(test)]
mod schema_doc_tests;

pub use envelope::{EventEnvelope, LEDGER_VERSION, SinceFilter, parse_line};
pub use loop_event::{FinishedAs, LoopEvent, RunFigures, Unrecorded};
pub use render::render;
