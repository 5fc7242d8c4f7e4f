//! The engine of `car` (codex-autorunner), usable as a library.
//!
//! [`Repo`] is the entry point: open a repository, read its configuration,
//! run one iteration or the loop while observing [`LoopEvent`]s, and stop it with
//! a [`StopHandle`]. One iteration, in order: take the run lock, read the
//! work docs, render the prompt, run the agent as the leader of its own
//! process group (under a per-run supervisor process when
//! [`RunOptions::supervisor`] names one, see [`supervisor_main`]) with its
//! output streamed to disk, record the run under
//! `.codex-autorunner/runs/<id>/`, update `state.json` atomically, and
//! optionally commit the work tree. The loop repeats that until a stop
//! condition holds and returns a [`LoopSummary`] saying why it stopped.
//!
//! ```no_run
//! # async fn demo() -> Result<(), car_core::Error> {
//! use car_core::{LoopEvent, Repo, StopHandle};
//!
//! let repo = Repo::open("/path/to/repo")?;
//! let stop = StopHandle::new();
//! let summary = repo
//!     .run_once(&stop, |event| {
//!         if let LoopEvent::RunFinished(run) = &event.event {
//!             println!("run {:?} ended: {}", event.run_id, run.outcome.as_str());
//!         }
//!     })
//!     .await?;
//! assert_eq!(summary.runs, 1);
//! # Ok(()) }
//! ```
//!
//! This crate parses no command line and prints nothing for people: the
//! `car` binary (crate `car-cli`) does that with the values returned here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod abandon;
mod agent;
mod agent_env;
mod codex;
mod config;
mod control;
mod disk;
mod docs;
mod doctor;
mod engine;
mod error;
mod event;
mod follow;
mod fs_util;
#[cfg(test)]
mod fuzz;
mod git;
mod ingest;
mod job;
mod ledger;
mod lock;
mod marker;
mod notify;
mod paths;
mod process;
pub mod procfs;
mod prompt;
mod record;
mod repo;
mod snapshot;
mod state;
mod stop;
mod summary_marker;
mod supervisor;
mod templates;
mod time;

pub use abandon::Abandoned;
pub use agent::AgentError;
pub use codex::{CodexRun, CommandRun, FileChange, Terminal, TokenUsage, Verdict};
pub use config::{
    CodexConfig, Config, ConfigError, ConfigSource, ConfigWarning, DocsConfig, EventsConfig,
    GitConfig, LoadOptions, PromptConfig, ResolvedConfig, RunnerConfig, ServerConfig,
    SnapshotConfig, parse_override,
};
pub use config::{DiscordConfig, Enabled, NotifyConfig, NtfyConfig, TelegramConfig, WebhookConfig};
pub use control::{
    ClearReport, Control, InitError, InitOptions, InitReport, KillReport, PendingQuestionView,
    ReplyReport, ResumeReport, StatusReport, StopFileContent, StopReport,
};
pub use docs::{DocError, DocKind, TodoStatus, parse_todo};
pub use doctor::{CheckStatus, DoctorCheck, DoctorReport, doctor};
pub use engine::{EngineError, Event, LoopSummary};
pub use error::Error;
pub use event::{EventEnvelope, FinishedAs, LEDGER_VERSION, LoopEvent, RunFigures, Unrecorded};
pub use event::{SinceFilter, parse_line as parse_event_line, render as render_event};
pub use follow::{Follow, OutputChunk, OutputOf};
pub use fs_util::{PathError, write_atomic};
pub use ingest::{IngestChange, IngestError, IngestOptions, IngestReport};
pub use job::JobError;
pub use lock::{LockError, LockInfo, LockStatus};
pub use marker::MARKER_VAR;
pub use notify::NotifyClass;
pub use notify::{Notification, Priority};
pub use prompt::PromptError;
pub use record::{DocChange, RunKind, RunOutcome, RunRecord, TodoCount};
pub use repo::{Repo, RunOptions};
pub use snapshot::{SnapshotBudget, SnapshotError, SnapshotOptions, SnapshotReport, SnapshotState};
pub use state::{PendingQuestion, State, StateError, Status, StopReason, UserReply};
pub use stop::{
    PendingStop, RequestedBy, Requester, StopCause, StopHandle, StopKind, StopLevel, StopRequest,
};
pub use supervisor::{SUBCOMMAND as SUPERVISOR_SUBCOMMAND, supervisor_main};
