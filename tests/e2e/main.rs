//! End-to-end tests: the real `car` binary (as `car-dup`) on sample
//! repositories, with the scripted `fake-agent` in place of `codex`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on setup failures by design"
)]
mod common;

mod agent_env;
mod attach;
mod bridge_github;
mod browser;
mod browser_machines;
mod browser_runs;
mod browser_voice;
mod bytes;
mod codex_driver;
mod config;
mod config_limits;
mod control;
mod disk_full;
mod doc_tools;
mod embed;
mod exec;
mod fake_http;
mod fake_telegram;
mod follow;
mod fsync_count;
mod hub_common;
mod hub_jobs;
mod hub_machines;
mod hub_registry;
mod hub_supervisor;
mod hub_watch;
mod init;
mod ledger_publish;
mod ledger_publish_guard;
mod liveness;
mod lock_clean;
mod lock_kill;
mod log;
mod loop_semantics;
mod model_server;
mod netns;
mod notify;
mod ntfy_actions;
mod ntfy_buttons;
mod output;
mod processes;
mod python_compat;
mod real_codex;
mod remote_exec;
mod remote_exec_tunnel;
mod remote_local;
mod remote_machines;
mod remote_tunnel;
mod serve;
mod serve_audit;
mod serve_auth;
mod serve_auth_routes;
mod serve_client;
mod serve_control;
mod serve_doc_chat;
mod serve_docs;
mod serve_execs;
mod serve_hub;
mod serve_jobs;
mod serve_remote_cli;
mod serve_sessions;
mod serve_stream;
mod serve_tasks;
mod serve_ui;
mod serve_ui_docs;
mod serve_ui_runs;
mod serve_ui_term;
mod serve_users;
mod serve_users_events;
mod serve_users_tasks;
mod serve_voice;
mod serve_ws;
mod service;
mod service_k8s;
mod service_status;
mod service_what;
mod service_wrapper;
mod signals;
mod stop_conditions;
mod task;
mod task_real_codex;
mod tcp_proxy;
mod telegram_bot;
mod telegram_buttons;
mod telegram_chat;
mod telegram_questions;
mod telegram_session;
mod terminal;
mod worktree;

/// Every file in e2e/ must be a module above, so no test is forgotten.
#[test]
fn no_test_file_is_forgotten() {
    let main = include_str!("main.rs");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rs")
            && stem != "main"
        {
            assert!(
                main.contains(&format!("mod {stem};")),
                "e2e/{name} is not declared in main.rs"
            );
        }
    }
}
