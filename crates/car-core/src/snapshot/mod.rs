//! `car snapshot`: a briefing of the repository (`SNAPSHOT.md`) that a person
//! pastes into another chat, written by the agent from a bounded seed
//! context. Incremental when a snapshot exists: the agent gets the previous
//! snapshot and what changed since.

mod changes;
mod generate;
mod prompt;
pub(crate) mod redact;
pub(crate) mod seed;
mod state;

pub use generate::{SnapshotError, SnapshotOptions, SnapshotReport};
pub(crate) use generate::{collect_seed, generate};
pub use state::{SnapshotBudget, SnapshotState};
