//! The engine of `car` (codex-autorunner).
//!
//! One loop iteration, in order: take the repo's run lock ([`lock`]), read the
//! work docs ([`docs`]), render the prompt ([`prompt`]), run the agent as the
//! leader of its own process group with its output streamed to disk
//! ([`agent`]), record the run under `.codex-autorunner/runs/<id>/`
//! ([`record`]), update `state.json` atomically ([`state`]) and optionally
//! commit the work tree ([`git`]). [`engine`] repeats that until a stop
//! condition holds and returns why it stopped.
//!
//! This crate parses no command line and prints nothing for people: the `car`
//! binary (crate `car-cli`) does that with the events and values returned here.

#![forbid(unsafe_code)]

pub mod agent;
pub mod codex;
pub mod config;
pub mod control;
pub mod docs;
pub mod engine;
pub mod error;
pub mod fs_util;
pub mod git;
pub mod ledger;
pub mod lock;
pub mod paths;
pub mod process;
pub mod prompt;
pub mod record;
pub mod state;
pub mod stop;
pub mod templates;
pub mod time;

pub use config::{Config, ConfigSource, LoadOptions, ResolvedConfig};
pub use engine::{Engine, EngineError, Event, EventSink, LoopOptions, LoopSummary};
pub use error::Error;
pub use paths::RepoPaths;
pub use state::{State, Status, StopReason};
pub use stop::{StopHandle, StopLevel};
