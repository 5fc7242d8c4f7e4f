//! `car serve`: the HTTP API for this repository (crate car-server).
//!
//! The first line on stdout is exactly `car: listening on
//! http://HOST:PORT/` (or `http://HOST:PORT/BASE/` with a base path;
//! an IPv6 address in brackets), once the port is bound, so scripts can
//! read the port `--port 0` picked. SIGINT or SIGTERM shuts the server
//! down (open streams end; a second signal exits at once); loops it
//! started go on. With a token, a one-time link for a browser follows on
//! stderr (see `serve_link.rs`). `--revoke-sessions` revokes every
//! browser session and exits.
//!
//! At a hub root (the current directory or `--repo`), it serves the hub:
//! every repository and worktree of the manifest under its id, as the
//! manifest changes; the `server` settings and the sessions file are the
//! hub root's.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use car_core::{Hub, Repo, StopHandle, StopLevel};
use car_server::{AppState, RepoEntry, StateOptions};

use crate::cli::{Global, ServeArgs};

/// How long open connections get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub(crate) fn run(g: &Global, mut args: ServeArgs) -> Result<u8> {
    if let Some(cmd) = args.command.take() {
        return super::serve_users::run(g, cmd);
    }
    let (repo, hub) = open(g)?;
    let users_file = car_core::users::Users::file_of(repo.root());
    let sessions_file = car_server::SessionStore::file_of(repo.root());
    if args.revoke_sessions {
        let n = car_server::SessionStore::new(sessions_file).revoke_all()?;
        outln!(
            "car: revoked {n} browser session{}",
            if n == 1 { "" } else { "s" }
        );
        return Ok(crate::EXIT_OK);
    }
    let cfg = repo.config().server.clone();
    let host = args.host.unwrap_or(cfg.host);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = args.port.unwrap_or(cfg.port);
    let base = normalize_base(args.base_path.as_deref().unwrap_or(&cfg.base_path));
    let token = Some(cfg.auth_token_env.as_str())
        .filter(|name| !name.is_empty())
        .and_then(std::env::var_os)
        .map(|t| t.to_string_lossy().into_owned())
        .filter(|t| !t.is_empty());
    car_server::check_bind(&host, token.as_deref(), &cfg.auth_token_env)?;
    car_server::check_users(token.as_deref(), &cfg.auth_token_env, &users_file)?;
    let program = crate::supervisor_program().context("cannot find the path of this program")?;
    let mut allowed_hosts = cfg.allowed_hosts;
    allowed_hosts.push(host.clone());
    let stop = StopHandle::new();
    let _routed = crate::signals::route_to_shutdown(stop.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port}"))?;
        let addr = listener.local_addr()?;
        // No Nagle delay: a small write (a terminal's echo, an output line)
        // would otherwise wait up to 40 ms for the peer's delayed ACK.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let url = car_server::listening_url(addr, &base);
        outln!("car: listening on {url}");
        if token.is_none() {
            errln!(
                "car: warning: no token (server.auth_token_env): any local program can drive this server"
            );
        }
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let state = AppState::new(
            StateOptions {
                repos: if hub.is_some() {
                    Vec::new()
                } else {
                    vec![RepoEntry {
                        id: car_server::repo_id(repo.root()),
                        repo,
                    }]
                },
                hub,
                token,
                allowed_hosts,
                allowed_origins: cfg.allowed_origins,
                program,
                allowed_roots: cfg.allowed_roots,
                rate_limit_per_minute: cfg.rate_limit_per_minute,
                sessions_file: Some(sessions_file),
                users_file: Some(users_file),
            },
            shutdown_rx,
        );
        let link_base = public_base(cfg.public_url.as_deref()).unwrap_or(url);
        if let Some(link) = state.login_link(&link_base)? {
            super::serve_link::print_link(&link, !args.no_qr);
        }
        let sockets = state.clone();
        let app = car_server::app(state, &base);
        let mut signalled = stop.subscribe();
        let requested = async move {
            let _ = signalled.wait_for(|r| r.level != StopLevel::None).await;
        };
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            requested.await;
            errln!("car: shutting down");
            let _ = shutdown_tx.send(true);
            let _ = go_tx.send(());
        });
        tokio::select! {
            r = async {
                let r = server.await;
                // WebSockets are not connections the server waits for.
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, sockets.sockets_closed()).await;
                r
            } => r.context("the server failed")?,
            () = async {
                if go_rx.await.is_ok() {
                    tokio::time::sleep(SHUTDOWN_GRACE).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {}
        }
        Ok(crate::EXIT_OK)
    })
}

/// The repository served, or at a hub root the hub with its root's
/// configuration read as a repository's (for its `server` settings).
pub(crate) fn open(g: &Global) -> Result<(Repo, Option<Hub>)> {
    let err = match super::load(g, &[]) {
        Ok(repo) => return Ok((repo, None)),
        Err(e) => e,
    };
    let at_hub_root = matches!(
        err.downcast_ref::<car_core::Error>(),
        Some(car_core::Error::Config(
            car_core::ConfigError::HubMode { .. }
        ))
    );
    if !at_hub_root {
        return Err(err);
    }
    let opts = super::load_options(g, &[])?;
    let hub = Hub::open_with(super::start_dir(g), &opts)?;
    let mut root_opts = opts;
    root_opts.cli.push((
        "mode".into(),
        "repo".into(),
        "car serve (at a hub root)".into(),
    ));
    let root = Repo::open_with(hub.root(), &root_opts)?;
    for w in &root.resolved_config().warnings {
        eprintln!("car: warning: {w}");
    }
    Ok((root, Some(hub)))
}

/// `server.public_url` ending with `/`, when set: where people reach the
/// server (through a proxy, a forwarded port), for the one-time link.
fn public_base(public_url: Option<&str>) -> Option<String> {
    let u = public_url?.trim().trim_end_matches('/');
    (!u.is_empty()).then(|| format!("{u}/"))
}

/// `""` or `/x` (no trailing slash), like server.base_path.
fn normalize_base(p: &str) -> String {
    let t = p.trim().trim_matches('/');
    if t.is_empty() {
        String::new()
    } else {
        format!("/{t}")
    }
}
