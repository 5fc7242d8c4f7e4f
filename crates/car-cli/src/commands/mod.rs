//! One module per subcommand: arguments in, core call, output.

mod attach;
mod config;
mod dispatch;
mod docs;
mod events;
pub(crate) mod exec;
mod hub;
mod hub_status;
mod hub_supervise;
mod hub_watch;
mod init;
mod kill;
mod log;
pub(crate) mod machine;
mod notify;
mod open;
mod remote;
mod reply;
mod run;
mod serve;
mod serve_link;
mod serve_users;
mod service;
mod service_env;
mod service_k8s;
mod service_k8s_cli;
mod service_k8s_model;
mod service_units;
mod sessions;
mod status;
mod task;
mod telegram;
mod worktree;

pub(crate) use dispatch::dispatch;
pub(crate) use open::{load, load_options, start_dir};
