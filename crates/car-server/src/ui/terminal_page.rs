//! `GET /repos/{id}/terminal`: a repository's terminal sessions (age, last
//! activity, who is attached; Attach, Stop, New session) and, with
//! `?session=<id>`, that session drawn by xterm.js over
//! `GET /api/v1/repos/{id}/terminals/{tid}/ws`. Rendered here with the
//! sessions for a first paint; its script (`terminal.js`) refreshes the
//! list from `GET /ui/fragments/repos/{id}/terminals` (the same template).
//! This page alone allows styles made at run time (see `TERMINAL_CSP`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::access::{Fragment, Page, UiQuery};
use super::pages::ctx;
use super::render::{TERMINAL_CSP, page_with};
use crate::routes::terminals::{TerminalItem, list};
use crate::state::AppState;

/// `?session=<id>`: the session to attach to.
#[derive(Debug, Deserialize)]
pub(crate) struct Attach {
    session: Option<String>,
}

/// A session as the list shows it.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    status: String,
    end_reason: Option<String>,
    clients: usize,
    exit_code: Option<i32>,
    signal: Option<String>,
    /// Seconds since it started.
    age: u64,
    /// Seconds since its last input, attach or detach.
    idle: u64,
}

/// Seconds from RFC 3339 `at` until now (0 when unreadable or ahead).
fn since(at: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(at).map_or(0, |t| {
        u64::try_from((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0)
    })
}

fn row(t: TerminalItem) -> Row {
    Row {
        age: since(&t.started_at),
        idle: since(&t.last_activity),
        id: t.id,
        status: t.status,
        end_reason: t.end_reason,
        clients: t.clients,
        exit_code: t.exit_code,
        signal: t.signal,
    }
}

async fn rows(state: &AppState, id: &str) -> Result<Vec<Row>, crate::ApiError> {
    let listed = list(State(state.clone()), Path(id.to_string())).await?.0;
    Ok(listed.terminals.into_iter().map(row).collect())
}

/// The page.
pub(crate) async fn terminal(
    ui: Page,
    Path(id): Path<String>,
    UiQuery(q): UiQuery<Attach>,
) -> Result<Response, Response> {
    let head = ui.head(&id).await?;
    let sessions = rows(&ui.state, &id).await.map_err(|e| ui.fail(e))?;
    // Only a running session can be attached to.
    let attach = q
        .session
        .filter(|s| sessions.iter().any(|r| &r.id == s && r.status == "running"));
    let repo = ui.state.repo(&id).map_err(|e| ui.fail(e))?;
    let cfg = repo.config();
    let mut argv = vec![cfg.codex.binary.clone()];
    argv.extend(cfg.codex.terminal_args.iter().cloned());
    let extra = context! {
        sessions => Value::from_serialize(&sessions),
        attach => attach,
        command => argv.join(" "),
        idle => cfg.server.terminal_idle_timeout_seconds,
        cap => cfg.server.terminal_max_sessions_per_repo,
        name => head.title.clone(),
        ..head.ctx
    };
    Ok(page_with(
        StatusCode::OK,
        "terminal.html",
        ctx(&ui.base, &format!("{} · terminal", head.title), extra),
        TERMINAL_CSP,
    ))
}

/// The list of sessions alone, for the page's script.
pub(crate) async fn fragment(
    ui: Fragment,
    Path(id): Path<String>,
    UiQuery(q): UiQuery<Attach>,
) -> Result<Response, Response> {
    let sessions = rows(&ui.state, &id).await.map_err(|e| ui.fail(e))?;
    Ok(ui.render(
        "terminal_list.html",
        "",
        context! { sessions => Value::from_serialize(&sessions), attach => q.session },
    ))
}

#[cfg(test)]
mod tests {
    use super::since;

    #[test]
    fn ages_count_from_rfc3339_times() {
        let ten_ago = (chrono::Utc::now() - chrono::Duration::seconds(10)).to_rfc3339();
        assert!((9..=11).contains(&since(&ten_ago)), "{}", since(&ten_ago));
        assert_eq!(since("not a time"), 0);
    }
}
