//! `car serve`: the HTTP API of codex-autorunner over one or more
//! repositories, built on `car-core`.
//!
//! The server observes loops only through the library's followers
//! ([`car_core::Repo::follow_events`], [`car_core::Repo::follow_output`])
//! and drives them only through its launch and control API, as the api
//! from `http <peer address>`: a loop started here is a `car run` process
//! of its own, so restarting or stopping the server never stops a loop,
//! and a loop started in a terminal is seen and stopped here alike.
//!
//! Repositories are addressed by id (`/api/v1/repos/{id}/...`, the id
//! from [`repo_id`]); a server started in a repository serves that one.
//! Every route but `GET /health` needs the bearer token (when one is set;
//! a notification's action token is taken for its few routes only, see
//! `action_auth.rs`);
//! the `Host` header must be a loopback name, the bound host or one of
//! `server.allowed_hosts`; a state-changing request from a browser must
//! come from the server's own origin or one of `server.allowed_origins`;
//! bodies are limited to [`MAX_BODY`] bytes; no CORS header is sent.
//! Errors are `{"error": {"kind", "message", "hint"}}`. Every
//! state-changing request that passed the token check is recorded as an
//! `audit` event in the ledger of the repository it concerned.

#![forbid(unsafe_code)]

mod action_auth;
mod app;
mod audit;
mod bind;
mod disabled;
mod error;
mod git_cache;
mod guard;
mod hub_error;
mod hub_state;
mod rate;
mod refusals;
mod routes;
mod scope;
mod sessions;
mod state;
mod terminal;
mod ui;
mod user_auth;
mod voice;

pub use app::{MAX_BODY, app, openapi};
pub use bind::{BindError, check_bind, check_users, is_loopback, listening_url};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use rate::BURST;
pub use sessions::{CODE_TTL, COOKIE, SESSION_DAYS, Session, SessionError, SessionStore};
pub use state::{AppState, RepoEntry, StateOptions, repo_id};

// The bodies of requests and answers (for clients in Rust).
pub use routes::control::{LoopBody, ReplyBody};
pub use routes::doc_chat::{ChatAsk, ChatDiffLine, ChatJob};
pub use routes::docs::{Doc, DocWrite};
pub use routes::events::EventPage;
pub use routes::execs::{ExecStart, ExecStarted};
pub use routes::health::Health;
pub use routes::hub_control::{HubControl, HubLoops, HubOutcome};
pub use routes::notify::{NotifyTestBody, NotifyTestReport, NotifyTestResult};
pub use routes::repo_jobs::{IngestBody, JobStarted, SnapshotBody};
pub use routes::repo_list::RepoSummary;
pub use routes::runs::{OutputSlice, RunDetail, RunItem};
pub use routes::sessions::{LoginLink, SessionItem, SessionList};
pub use routes::tasks::{TaskReply, TaskSpawn, TaskStarted};
pub use routes::terminals::{TerminalItem, TerminalList, TerminalOpen};
pub use routes::voice::Transcript;
pub use routes::worktrees::WorktreeNew;
