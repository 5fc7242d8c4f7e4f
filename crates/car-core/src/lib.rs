//! The engine of `car` (codex-autorunner), usable as a library.
//!
//! A loop is one runner process, and everything about it is on disk under
//! `<repo>/.codex-autorunner/`: `state.json`, the event ledger
//! (`events.jsonl`, each event numbered by `seq`), and one directory per run
//! (`runs/<id>/`). Any program observes a loop through those files and
//! drives it through the same file and signal protocol, so a loop started
//! in a terminal can be followed and stopped from a server or a bot, and
//! the reverse (`docs/architecture.md` describes the protocol). What an
//! embedder does, in a few types:
//!
//! - **Open a repository**: [`Repo::open`] (or [`Repo::init`] to create one)
//!   loads its configuration ([`Repo::config`]).
//! - **Start a loop process**: [`Repo::launch`] starts `car run`, `car once`
//!   or `car resume` ([`LoopCommand`]) as a process in a session of its own
//!   and returns its pid; the loop then lives on its own, so a server
//!   restart never stops it. [`Repo::run`] runs the loop in this process
//!   instead, calling back with each [`Event`] and cancelled through a
//!   [`StopHandle`].
//! - **Follow**: [`Repo::follow_events`] streams the ledger's events from a
//!   `seq` on or from now on, and [`Repo::follow_output`] a run's output
//!   log ([`OutputOf`]), as they are written, across rotation and
//!   truncation; both return a [`Follow`] stream.
//! - **Watch many**: [`summarize`] gives a [`RepoSummary`] of a loop (state,
//!   TODO progress, current run, waiting question, optionally git), and
//!   [`follow_many`] one stream of the events of many repositories,
//!   resumable from a [`ResumeToken`].
//! - **Control**: [`Repo::control`] gives a [`Control`] for a [`Requester`]:
//!   stop after the run, stop now, kill, reply to the agent's question,
//!   resume, from any process, recording who asked.
//! - **Run Codex tasks**: [`Repo::tasks`] gives [`Tasks`]: spawn a one-shot
//!   `codex exec` in a process of its own, reply to it in the same
//!   conversation, abort it with its whole process tree, read its record
//!   ([`TaskRecord`]) and follow its output, from any process.
//! - **Run commands**: [`Repo::execs`] gives [`Execs`]: start `sh -c CMD`
//!   in a process of its own, cancel it with its whole process tree, read
//!   its record ([`ExecRecord`]), its stdout and stderr (apart, bytes
//!   unchanged, the last lines too) and follow them, from any process.
//! - **Hub**: [`Hub::open`] finds the hub (a directory of repositories and
//!   worktrees) at or above a path and reads its manifest
//!   ([`Hub::repos`], [`Hub::repo`]); [`Hub::scan`], [`Hub::add`],
//!   [`Hub::new_worktree`] and [`Hub::remove_worktree`] change it (the
//!   [`hub`] module).
//! - **Read**: [`Repo::state`] (`state.json` as a [`State`]),
//!   [`Repo::status`], [`Repo::run_ids`] and [`Repo::run_record`]
//!   ([`RunRecord`]), [`Repo::output_log`], [`Repo::events`] and the work
//!   docs ([`Repo::doc_path`], [`DocKind`], [`parse_todo`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use car_core::{LaunchReport, LoopCommand, OutputOf, Repo, RequestedBy, Requester};
//!
//! let repo = Repo::open("/path/to/repo")?;
//! // Follow from now on (`Some(seq)` replays the ledger from that event).
//! let mut events = repo.follow_events(None);
//! let mut output = repo.follow_output(OutputOf::Current, 0);
//! // `car` is searched in PATH; a path works too.
//! if let LaunchReport::Started { pid } = repo.launch("car", LoopCommand::Run { max_runs: None })? {
//!     println!("runner {pid} started");
//! }
//! while let Some(event) = events.next().await {
//!     println!("{event:?}");
//!     # break;
//! }
//! if let Some(chunk) = output.next().await {
//!     print!("{}", String::from_utf8_lossy(&chunk.bytes));
//! }
//! repo.control(Requester::new(RequestedBy::Api, "web ui")).stop_after_run()?;
//! # Ok(()) }
//! ```
//!
//! `examples/follow.rs` is a complete follower of a loop another process
//! runs. This crate parses no command line and prints nothing for people:
//! the `car` binary (crate `car-cli`) does that with the values returned
//! here; the items hidden from these docs are there for it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod abandon;
pub mod action_token;
mod agent;
mod agent_env;
pub mod bridge;
mod codex;
mod config;
mod control;
mod disk;
mod doc_chat;
mod docs;
mod doctor;
mod engine;
mod error;
mod error_kinds;
mod event;
mod exec;
mod follow;
mod fs_util;
#[cfg(test)]
mod fuzz;
mod git;
mod hint;
pub mod hub;
mod ingest;
mod job;
mod launch;
mod ledger;
pub mod ledger_publish;
mod lock;
pub mod machine;
mod marker;
mod notify;
mod paths;
mod process;
#[doc(hidden)]
pub mod procfs;
mod prompt;
mod record;
mod repo;
mod snapshot;
mod state;
mod stop;
mod summary;
mod summary_marker;
mod supervisor;
mod task;
mod templates;
mod terminal;
mod time;
pub mod users;

// What an embedder does (see the crate docs).
pub use control::{Control, KillReport, ReplyReport, ResumeReport, StatusReport, StopReport};
pub use error::Error;
pub use follow::{
    ChatStatus, DocVersion, Follow, OutputChunk, OutputOf, ResumeToken, ResumeTokenError,
    follow_many,
};
pub use launch::{LaunchReport, LoopCommand};
pub use repo::{Repo, RunOptions};
pub use stop::{RequestedBy, Requester, StopHandle};

// The values the API above takes and returns.
pub use abandon::Abandoned;
pub use agent::AgentError;
pub use codex::{CodexRun, CommandRun, FileChange, Terminal, TokenUsage, Verdict};
pub use config::{
    CodexConfig, Config, ConfigError, ConfigSource, ConfigWarning, DiscordConfig, DocsConfig,
    Enabled, EventsConfig, GitConfig, GithubBridgeConfig, LoadOptions, NotifyConfig, NtfyConfig,
    PromptConfig, ResolvedConfig, RunnerConfig, ServerConfig, SnapshotConfig, TelegramBotConfig,
    TelegramConfig, VoiceConfig, WebhookConfig,
};
pub use control::{
    ClearReport, InitError, InitOptions, InitReport, PendingQuestionView, StopFileContent,
};
pub use doc_chat::{ChatRecord, ChatState, DiffLine, DocChatError, doc_etag, line_diff};
pub use docs::{DocError, DocKind, TodoStatus, parse_todo};
pub use doctor::{CheckStatus, DoctorCheck, DoctorReport, doctor};
pub use engine::{Cancelled, Event, LoopSummary};
pub use error::ErrorKind;
pub use event::{EventEnvelope, FinishedAs, LEDGER_VERSION, LoopEvent, RunFigures, Unrecorded};
pub use event::{SinceFilter, parse_line as parse_event_line};
pub use exec::SUBCOMMAND as EXEC_SUBCOMMAND;
pub use exec::{ExecError, ExecPage, ExecRecord, ExecRequest, ExecStream, Execs};
pub use fs_util::PathError;
pub use hint::Hint;
pub use hub::{Hub, HubError};
pub use ingest::{IngestChange, IngestError, IngestOptions, IngestReport};
pub use job::JobError;
pub use lock::{LockError, LockInfo, LockStatus};
pub use marker::MARKER_VAR;
pub use notify::NotifyClass;
pub use notify::{ActionsHeaderError, NTFY_MAX_ACTIONS, NotifyAction, ntfy_actions_header};
pub use notify::{Notification, Priority};
pub use prompt::PromptError;
pub use record::{DocChange, RunKind, RunOutcome, RunRecord, TodoCount};
pub use snapshot::{SnapshotBudget, SnapshotError, SnapshotOptions, SnapshotReport, SnapshotState};
pub use state::{PendingQuestion, State, StateError, Status, StopReason, UserReply};
pub use stop::{PendingStop, StopCause, StopKind, StopLevel, StopRequest};
pub use summary::{
    GitSummary, LoopState, QUESTION_MAX_CHARS, RepoSummary, RunSummary, SummaryOptions, summarize,
};
pub use supervisor::{SUBCOMMAND as SUPERVISOR_SUBCOMMAND, supervisor_main};
pub use task::{SUBCOMMAND as TASK_SUBCOMMAND, TaskError, TaskOutput, TaskPage, TaskRecord};
pub use task::{TaskRequest, TaskState, Tasks, TurnRecord};
pub use terminal::{
    TerminalCommand, TerminalEnd, TerminalError, TerminalRecord, TerminalStatus, Terminals,
};

// Plumbing the `car` binary shares with the engine.
#[doc(hidden)]
pub use config::parse_override;
#[doc(hidden)]
pub use event::render as render_event;
#[doc(hidden)]
pub use fs_util::write_atomic;
